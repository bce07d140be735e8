"""The one JSON shape of a prediction, used by the API and by the websocket alike."""

from __future__ import annotations

import math
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers

from ml.inference import AGE_GROUPS, MAX_FACES

from ..models import Face, Prediction


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


def _example_prediction() -> dict[str, Any]:
    """A finished prediction with one face, for the API docs (Swagger shows it as the example)."""
    weights = [math.exp(-(((age - 34) / 7) ** 2) / 2) for age in range(101)]
    distribution = [round(w / sum(weights), 6) for w in weights]
    groups = [0.0, 0.0, 0.001, 0.083, 0.421, 0.38, 0.114, 0.001]
    ensemble = [0.0, 0.001, 0.004, 0.102, 0.388, 0.356, 0.146, 0.003]
    face = {
        "index": 0,
        "box": {"x": 212, "y": 148, "width": 236, "height": 236},
        "age": 34.1,
        "interval": [25.0, 43.0],
        "groups": [{"label": label, "probability": p} for label, p in zip(AGE_GROUPS, groups, strict=True)],
        "ensemble_groups": [{"label": label, "probability": p} for label, p in zip(AGE_GROUPS, ensemble, strict=True)],
        "ensemble_age": 35.2,
        "detection_score": 0.9734,
        "distribution": distribution,
    }
    prediction_id = "3f2b8c1e-6a4d-4e7b-9c0a-2d5e8f1a7b63"
    base = "https://ageweb.example.com"
    return {
        "id": prediction_id,
        "status": "done",
        "message": "",
        "failure_reason": "",
        "width": 640,
        "height": 480,
        "model_version": "age101-20261128-3ff1f3d-tta2-t084",
        "model_versions": {
            "age101": "age101-20261128-3ff1f3d-tta2-t084",
            "ens-m0": "ens-m0-20261128-2e6d43a",
            "ens-m5": "ens-m5-20261128-d9158eb",
            "ens-m10": "ens-m10-20261128-d9158eb",
        },
        "faces": [face],
        "too_small": 0,
        "image_url": f"{base}/api/v1/predictions/{prediction_id}/image/",
        "thumbnail_url": f"{base}/api/v1/predictions/{prediction_id}/thumbnail/",
        "page_url": f"{base}/p/{prediction_id}/",
        "created_at": "2026-11-29T09:14:02.113Z",
        "started_at": "2026-11-29T09:14:02.204Z",
        "finished_at": "2026-11-29T09:14:02.871Z",
    }


class BoxSerializer(serializers.Serializer[Any]):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class FaceSerializer(serializers.ModelSerializer[Face]):
    # Declared for the schema: the model's fields would document the database's integer limits.
    index = serializers.IntegerField(
        min_value=0, max_value=MAX_FACES - 1, help_text="The face's number in the photo, from 0."
    )
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


@extend_schema_serializer(examples=[OpenApiExample("A finished prediction", value=_example_prediction())])
class PredictionSerializer(serializers.ModelSerializer[Prediction]):
    # Declared for the schema: the model's fields would document the database's integer limits.
    width = serializers.IntegerField(min_value=1, help_text="The photo's width in pixels, as shown (EXIF-rotated).")
    height = serializers.IntegerField(min_value=1, help_text="The photo's height in pixels, as shown (EXIF-rotated).")
    too_small = serializers.IntegerField(min_value=0, help_text="Faces found but too small to estimate.")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    faces = FaceSerializer(many=True, read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id", "status", "message", "failure_reason", "width", "height", "model_version", "model_versions", "faces",
            "too_small", "image_url", "thumbnail_url", "page_url", "created_at", "started_at", "finished_at", "source",
        ]  # fmt: skip
        read_only_fields = ["source"]

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
    source = serializers.ChoiceField(  # type: ignore[assignment]  # DRF pops declared fields off the class
        choices=Prediction.Source.choices,
        default=Prediction.Source.UPLOAD,
        help_text='"live": a frame the live stream scored, kept; its faces are found as the live stream found them, '
        'so it gets the age the live page showed for it. Default "upload".',
    )
