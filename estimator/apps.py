from django.apps import AppConfig


class EstimatorConfig(AppConfig):
    name = "estimator"
    verbose_name = "Age estimator"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (removes a prediction's photo with its row)
