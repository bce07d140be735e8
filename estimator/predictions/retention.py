"""Photo retention: uploaded photos are deleted after ``AGEWEB_PHOTO_RETENTION_DAYS``."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..files import files_delete_on_commit
from ..models import Prediction


def photos_delete_expired(*, now: dt.datetime | None = None) -> int:
    """Delete uploaded photos older than the retention period; the results and the crops
    kept with consent stay. Returns how many photos were deleted. Idempotent."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.AGEWEB_PHOTO_RETENTION_DAYS)
    deleted = 0
    for prediction in Prediction.objects.filter(created_at__lt=cutoff).exclude(image=""):
        with transaction.atomic():
            files_delete_on_commit(prediction.image, prediction.thumbnail)  # the thumbnail: a small copy
            Prediction.objects.filter(pk=prediction.pk).update(image="", thumbnail="")
        deleted += 1
    return deleted
