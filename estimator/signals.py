"""A prediction's photo goes with its row, however the row is deleted (API, page, account)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Prediction


@receiver(post_delete, sender=Prediction)
def prediction_image_delete(sender: type[Prediction], instance: Prediction, **kwargs: Any) -> None:
    for field in (instance.image, instance.thumbnail):
        if field.name:
            # Only once the deletion is committed: a rolled-back delete keeps its photo.
            transaction.on_commit(partial(field.storage.delete, field.name))
