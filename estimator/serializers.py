"""The one JSON shape of a prediction, used by the API and by the websocket alike."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from ml.inference import AGE_GROUPS

from .models import Face, Prediction


def _ordered_groups(groups: dict[str, float] | None) -> list[dict[str, Any]] | None:
    # JSON columns (PostgreSQL jsonb) do not keep key order; the chart needs the age order.
    if groups is None:
        return None
    return [{"label": label, "probability": groups.get(label, 0.0)} for label in AGE_GROUPS]


# The schema of one age group, {"label", "probability"}; made inline because "label" cannot
# be a class attribute of a serializer (Field.label exists).
_AgeGroup: Any = type(
    inline_serializer("AgeGroup", {"label": serializers.CharField(), "probability": serializers.FloatField()})
)


class BoxSerializer(serializers.Serializer[Any]):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class FaceSerializer(serializers.ModelSerializer[Face]):
    box = serializers.SerializerMethodField()
    interval = serializers.SerializerMethodField()
    groups = serializers.SerializerMethodField()
    ensemble_groups = serializers.SerializerMethodField()

    class Meta:
        model = Face
        fields = [
            "index", "box", "age", "interval", "groups", "ensemble_groups", "ensemble_age", "detection_score",
            "distribution",
        ]  # fmt: skip

    @extend_schema_field(BoxSerializer)
    def get_box(self, face: Face) -> dict[str, int]:
        return {"x": face.x, "y": face.y, "width": face.width, "height": face.height}

    @extend_schema_field(serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2))
    def get_interval(self, face: Face) -> list[float]:
        return [face.age_low, face.age_high]

    @extend_schema_field(_AgeGroup(many=True))
    def get_groups(self, face: Face) -> list[dict[str, Any]] | None:
        return _ordered_groups(face.groups)

    @extend_schema_field(_AgeGroup(many=True, allow_null=True))
    def get_ensemble_groups(self, face: Face) -> list[dict[str, Any]] | None:
        return _ordered_groups(face.ensemble_groups)


class PredictionSerializer(serializers.ModelSerializer[Prediction]):
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    faces = FaceSerializer(many=True, read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id", "status", "message", "failure_reason", "width", "height", "model_version", "model_versions", "faces",
            "too_small", "image_url", "thumbnail_url", "page_url", "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def _url(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_image_url(self, prediction: Prediction) -> str | None:
        if not prediction.image:
            return None  # deleted after the retention period; the results stay
        return self._url(reverse("api:prediction-image", args=[prediction.id]))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail_url(self, prediction: Prediction) -> str | None:
        if not prediction.image:
            return None  # deleted with the photo after the retention period
        return self._url(reverse("api:prediction-thumbnail", args=[prediction.id]))

    def get_page_url(self, prediction: Prediction) -> str:
        return self._url(reverse("estimator:result", args=[prediction.id]))


class PredictionCreateSerializer(serializers.Serializer[Any]):
    image = serializers.FileField(help_text="A photo: JPEG, PNG, WebP, GIF (still), BMP or TIFF; at most 10 MB.")
