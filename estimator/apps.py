from django.apps import AppConfig


class EstimatorConfig(AppConfig):
    name = "estimator"
    verbose_name = "Age estimator"

    def ready(self) -> None:
        # signals: a prediction's photo goes with its row. tasks: the Celery tasks are
        # registered in every process (the web's too), so that services can queue them by
        # name and the embedded mode can run them in-process.
        from . import signals, tasks  # noqa: F401
