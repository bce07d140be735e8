"""A person's answer about one face ("About right?"), with what was shown when they answered."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from ..models import MAX_TRUE_AGE, Face, Feedback, Prediction
from .consent import consent_drop, consent_give

State = Feedback.State

NOT_FINISHED = "This prediction is not finished yet; answer once the ages are shown."
NO_SUCH_FACE = "This photo has no face number {index}."
AGE_RANGE = f"The real age must be a whole number from 0 to {MAX_TRUE_AGE}."


def prediction_face(*, prediction: Prediction, index: int) -> Face:
    """The face a person answers about; refuses unfinished predictions and unknown faces."""
    if prediction.status != Prediction.Status.DONE:
        raise ValidationError(NOT_FINISHED, code="not_finished")
    face = prediction.faces.filter(index=index).first()
    if face is None:
        raise ValidationError(NO_SUCH_FACE.format(index=index), code="no_such_face")
    return face


def feedback_set(*, face: Face, correct: bool, true_age: int | None, consent_to_train: bool) -> Feedback:
    """Store (or replace) the answer about ``face``, with a snapshot of what was shown.

    Consent given now cuts the face's training crop from the stored photo and keeps it
    apart from the photo; consent kept cuts nothing more; consent taken back deletes the
    crop. A crop cut here is deleted again if its answer is not committed. A changed
    answer goes back to the review queue."""
    if true_age is not None and not 0 <= true_age <= MAX_TRUE_AGE:
        raise ValidationError(AGE_RANGE, code="age_out_of_range")
    prediction = face.prediction
    now = timezone.now()
    cut: list[FieldFile] = []
    try:
        with transaction.atomic():
            # The face's row, not the answer's: a first answer has no row to lock yet, and two
            # at once would both insert one (an IntegrityError on the one-to-one).
            Face.objects.select_for_update().filter(pk=face.pk).first()
            feedback = Feedback.objects.filter(face=face).first()
            if feedback is None:
                feedback = Feedback(face=face, created_at=now)
            elif (feedback.correct, feedback.true_age) != (correct, true_age):
                feedback.state, feedback.reviewer, feedback.reviewed_at, feedback.corrected_age = (
                    State.PENDING,
                    None,
                    None,
                    None,
                )
            feedback.correct, feedback.true_age, feedback.updated_at = correct, true_age, now
            feedback.shown_age = face.age
            feedback.shown_interval = [face.age_low, face.age_high]
            feedback.shown_groups = dict(face.groups)
            feedback.model_version = prediction.model_version
            feedback.model_versions = dict(prediction.model_versions)
            if consent_to_train and not feedback.kept:
                consent_give(feedback=feedback, prediction=prediction, now=now)
                cut.append(feedback.crop)
            elif not consent_to_train and feedback.consent_to_train:
                consent_drop(feedback=feedback, now=now)
            feedback.save()
    except BaseException:  # not saved, or not committed: the crop must not outlive it
        for crop in cut:
            crop.storage.delete(str(crop.name))
        raise
    return feedback


def feedback_delete(*, feedback: Feedback) -> None:
    """Remove an answer; a consent it held is withdrawn (and recorded) and its crop deleted."""
    with transaction.atomic():
        if feedback.consent_to_train:
            consent_drop(feedback=feedback, now=timezone.now())
        feedback.delete()  # any crop left goes too (signals.feedback_crop_delete)
