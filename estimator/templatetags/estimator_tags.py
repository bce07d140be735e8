"""Small template filters for the estimator's pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment: datetime) -> str:
    """How long ago, as "5 minutes ago"; "just now" in the first minute, where timesince says "0 minutes"."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


@register.filter
def photo_name(prediction_id: object) -> str:
    """What the pages call a photo: "Photo" and the first 8 characters of its id. The upload's
    own file name is never stored (it may say more than its owner meant to share)."""
    return f"Photo {str(prediction_id)[:8]}"
