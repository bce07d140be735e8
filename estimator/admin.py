from django.contrib import admin

from .models import Face, Prediction

FACE_FIELDS = ("index", "age", "age_low", "age_high", "x", "y", "width", "height", "detection_score")


class FaceInline(admin.TabularInline[Face, Prediction]):
    model = Face
    extra = 0
    fields = FACE_FIELDS
    readonly_fields = FACE_FIELDS


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    list_display = ["id", "owner", "status", "model_version", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["owner", "image", "width", "height", "attempts", "created_at", "started_at", "finished_at"]
    inlines = [FaceInline]
