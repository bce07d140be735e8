from django.contrib import admin

from .models import Face, Prediction


class FaceInline(admin.TabularInline[Face, Prediction]):
    model = Face
    extra = 0
    fields = ["index", "age", "age_low", "age_high", "x", "y", "width", "height", "detection_score"]
    readonly_fields = fields


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    list_display = ["id", "owner", "status", "model_version", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["owner", "image", "width", "height", "attempts", "created_at", "started_at", "finished_at"]
    inlines = [FaceInline]
