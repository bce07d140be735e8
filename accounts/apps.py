from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Access ends with the password: tokens and websockets are revoked on save and delete.
        from . import signals  # noqa: F401
