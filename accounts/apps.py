from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # signals: access ends with the password. tasks: registered in every process, so
        # that the embedded mode can run them in-process by the names they are queued by.
        from . import signals, tasks  # noqa: F401
