from __future__ import annotations

from django.contrib import admin
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
    readonly_fields = [
        "photo", "owner", "image", "width", "height", "attempts", "claimed_by", "enqueued_at", "created_at",
        "started_at", "finished_at",
    ]  # fmt: skip
    exclude = ["thumbnail"]
    inlines = [FaceInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # predictions come from uploads only: an empty form cannot make one

    @admin.display(description="Photo")
    def photo(self, prediction: Prediction) -> SafeString:
        url = reverse("admin:estimator_prediction_photo", args=[prediction.pk])
        return format_html('<a href="{0}"><img src="{0}" alt="The stored photo" style="max-width: 480px"></a>', url)

    def get_urls(self) -> list[URLPattern]:
        # Photos are never public: staff see them through the admin's own login and permissions.
        view = self.admin_site.admin_view(self.photo_view)
        return [path("<uuid:prediction_id>/photo/", view, name="estimator_prediction_photo"), *super().get_urls()]

    def photo_view(self, request: HttpRequest, prediction_id: str) -> FileResponse:
        prediction = Prediction.objects.filter(pk=prediction_id).first()
        if prediction is None or not self.has_view_permission(request, prediction):
            raise Http404("No such prediction.")
        return FileResponse(prediction.image.open("rb"), content_type="image/jpeg")
