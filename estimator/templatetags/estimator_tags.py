"""Small template filters for the estimator's pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from ..models import photo_name

register = template.Library()


@register.filter
def ago(moment: datetime) -> str:
    """How long ago, as "5 minutes ago"; "just now" in the first minute, where timesince says "0 minutes"."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


register.filter("photo_name", photo_name)  # "Photo 3f2b8c1e"
