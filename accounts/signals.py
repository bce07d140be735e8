"""Access ends with the password: a new password, a deactivation or a deletion revokes the
user's API token and closes their websockets, whichever way it happens (the site's forms,
a reset link, the admin, ``manage.py changepassword``). A deleted user's log-in records go too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, pre_save
from django.dispatch import receiver

from .models import User
from .services import user_access_revoke, user_login_records_delete


def _password_set(user: User) -> bool:
    # set_password() keeps the raw password until the save (Django's own cue for
    # password_changed); a hash merely upgraded at log-in does not, and revokes nothing.
    return getattr(user, "_password", None) is not None


@receiver(pre_save, sender=User)
def user_access_revoke_on_save(sender: type[User], instance: User, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance._state.adding:
        return
    if _password_set(instance) or not instance.is_active:  # revoking twice is harmless
        user_access_revoke(user_id=instance.pk)


@receiver(post_delete, sender=User)
def user_access_revoke_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    user_access_revoke(user_id=instance.pk)
    user_login_records_delete(username=instance.get_username())
