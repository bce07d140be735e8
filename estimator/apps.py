from django.apps import AppConfig


class EstimatorConfig(AppConfig):
    name = "estimator"
    verbose_name = "Age estimator"

    def ready(self) -> None:
        # signals: a prediction's photo goes with its row. tasks: the Celery tasks are
        # registered in every process (the web's too), so that the embedded mode can run
        # them in-process by the names they are queued by.
        from . import signals  # noqa: F401
        from . import tasks as storage_tasks  # noqa: F401
        from .live import tasks as live_tasks  # noqa: F401
        from .predictions import tasks as prediction_tasks  # noqa: F401
        from .versions import tasks as version_tasks  # noqa: F401
