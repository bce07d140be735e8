"""JSON shapes of feedback: a person's answer, and an item of the staff review queue."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from ..models import MAX_TRUE_AGE, Feedback
from .photos import can_view_photos


def age_field(*, name: str, help_text: str) -> serializers.IntegerField:
    """An optional whole age, 0 to MAX_TRUE_AGE, whose every refusal says the same sentence."""
    message = f"The {name} must be a whole number from 0 to {MAX_TRUE_AGE}."
    return serializers.IntegerField(
        min_value=0,
        max_value=MAX_TRUE_AGE,
        allow_null=True,
        required=False,
        default=None,
        help_text=help_text,
        error_messages={"min_value": message, "max_value": message, "invalid": message},
    )


class FeedbackInputSerializer(serializers.Serializer[Any]):
    correct = serializers.BooleanField(help_text="Was the estimate about right?")
    true_age = age_field(
        name="real age", help_text=f"The age of the person in the photo when it was taken, 0 to {MAX_TRUE_AGE}."
    )
    consent_to_train = serializers.BooleanField(
        required=False, default=False, help_text="Keep this face's crop (not the photo) to help improve the model."
    )


class FeedbackSerializer(serializers.ModelSerializer[Feedback]):
    prediction = serializers.UUIDField(source="face.prediction_id", read_only=True)
    face_index = serializers.IntegerField(source="face.index", read_only=True)
    kept = serializers.BooleanField(read_only=True, help_text="Whether the face crop is held for training.")

    class Meta:
        model = Feedback
        fields = [
            "prediction", "face_index", "correct", "true_age", "consent_to_train", "consent_version",
            "consented_at", "withdrawn_at", "kept", "shown_age", "shown_interval", "shown_groups",
            "model_version", "model_versions", "state", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReviewItemSerializer(serializers.ModelSerializer[Feedback]):
    prediction = serializers.UUIDField(
        source="face.prediction_id",
        read_only=True,
        help_text="The photo the face is from: only for staff who may open whole photos (view_photo).",
    )
    face_index = serializers.IntegerField(source="face.index", read_only=True)
    estimate = serializers.FloatField(source="shown_age", read_only=True)
    interval = serializers.JSONField(source="shown_interval", read_only=True)
    distribution = serializers.JSONField(source="face.distribution", read_only=True)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True, allow_null=True, default=None)
    disagreement = serializers.FloatField(read_only=True, allow_null=True, default=None)
    crop_url = serializers.SerializerMethodField()

    class Meta:
        model = Feedback
        fields = [
            "id", "prediction", "face_index", "correct", "true_age", "corrected_age", "estimate", "interval",
            "distribution", "disagreement", "model_version", "state", "crop_url", "consent_version", "reviewer",
            "reviewed_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and not can_view_photos(user=request.user):
            del fields["prediction"]  # reviewers see the kept crop, never which photo it came from
        return fields

    def get_crop_url(self, feedback: Feedback) -> str:
        path = reverse("api:review-crop", args=[feedback.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ReviewInputSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(
        choices=[Feedback.State.ACCEPTED, Feedback.State.REJECTED],
        error_messages={"invalid_choice": "The state must be accepted or rejected."},
    )
    corrected_age = age_field(name="corrected age", help_text="The age staff found, if the person's is wrong.")
