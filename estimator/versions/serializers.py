"""The JSON shape of a model version in the staff API (read only)."""

from __future__ import annotations

from rest_framework import serializers

from ..models import ModelVersion


class ReviewedSerializer(serializers.Serializer[object]):
    n = serializers.IntegerField(help_text="Reviewed faces with a true age that this version estimated")
    mae = serializers.FloatField(allow_null=True, help_text="Mean absolute error on them, years")
    cs5 = serializers.FloatField(allow_null=True, help_text="Share of them within 5 years of the true age")


class ShadowSerializer(serializers.Serializer[object]):
    n = serializers.IntegerField(help_text="Faces this version scored in the shadow of the version that answered")
    mean_shift = serializers.FloatField(allow_null=True, help_text="Mean of its age minus the answered age, years")
    mae_vs_active_on_reviewed = serializers.FloatField(
        allow_null=True, help_text="Its MAE minus the answering version's MAE on the reviewed ones (below 0: better)"
    )


class ModelVersionSerializer(serializers.Serializer[object]):
    version = serializers.CharField()
    state = serializers.ChoiceField(choices=ModelVersion.State.choices)
    registered_at = serializers.DateTimeField()
    faces_scored = serializers.IntegerField(help_text="Faces it answered, plus faces it scored in the shadow")
    reviewed = ReviewedSerializer(help_text="Its error on reviewed faces (accepted answers with an age)")
    shadow = ShadowSerializer(allow_null=True, help_text="Null unless it was scored in a shadow")
