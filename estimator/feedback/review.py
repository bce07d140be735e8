"""Staff's verdict on a kept face: accepted, with an optional corrected age, or rejected."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..models import MAX_TRUE_AGE, Feedback
from .answers import AGE_RANGE

State = Feedback.State

NOT_KEPT = "This face is not kept for training (no consent, or it was withdrawn), so it cannot be reviewed."


def feedback_review(*, feedback: Feedback, reviewer: User, state: str, corrected_age: int | None) -> Feedback:
    """Staff's verdict on a kept face: accepted (optionally with a corrected age) or rejected."""
    if state not in (State.ACCEPTED, State.REJECTED):
        raise ValidationError("The state must be accepted or rejected.", code="invalid_state")
    if corrected_age is not None and not 0 <= corrected_age <= MAX_TRUE_AGE:
        raise ValidationError(AGE_RANGE, code="age_out_of_range")
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if not feedback.kept:
            raise ValidationError(NOT_KEPT, code="not_kept")
        feedback.state, feedback.corrected_age = state, corrected_age
        feedback.reviewer, feedback.reviewed_at = reviewer, timezone.now()
        feedback.save(update_fields=["state", "corrected_age", "reviewer", "reviewed_at"])
    return feedback
