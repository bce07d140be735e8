"""A prediction's photo and a kept face crop go with their rows, however the row is deleted (API, page, account)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Feedback, Prediction


@receiver(post_delete, sender=Prediction)
def prediction_image_delete(sender: type[Prediction], instance: Prediction, **kwargs: Any) -> None:
    for field in (instance.image, instance.thumbnail):
        if field.name:
            # Only once the deletion is committed: a rolled-back delete keeps its photo.
            transaction.on_commit(partial(field.storage.delete, field.name))


@receiver(post_delete, sender=Feedback)
def feedback_crop_delete(sender: type[Feedback], instance: Feedback, **kwargs: Any) -> None:
    # A kept face crop goes with its answer (and so with its prediction or account).
    name, storage = instance.crop.name, instance.crop.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))
