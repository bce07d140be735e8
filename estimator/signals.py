"""A prediction's photo and a kept face crop go with their rows, however the row is deleted (API, page, account)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .files import files_delete_on_commit
from .models import Feedback, Prediction


@receiver(post_delete, sender=Prediction)
def prediction_image_delete(sender: type[Prediction], instance: Prediction, **kwargs: Any) -> None:
    # Only once the deletion is committed: a rolled-back delete keeps its photo.
    files_delete_on_commit(instance.image, instance.thumbnail)


@receiver(post_delete, sender=Feedback)
def feedback_crop_delete(sender: type[Feedback], instance: Feedback, **kwargs: Any) -> None:
    # A kept face crop goes with its answer (and so with its prediction or account).
    files_delete_on_commit(instance.crop)
