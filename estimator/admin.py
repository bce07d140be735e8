"""Django admin for staff: kept crops visible, results read-only, no forms that cannot work.

A person's whole photo is never shown here: staff with the ``view_photo`` permission get a
link to the page that asks why and records the view (``feedback:staff-photo``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .feedback.photos import can_view_photos
from .models import ConsentRecord, DatasetRelease, Face, Feedback, PendingDeletion, PhotoView, Prediction, photo_name

# The changelists' columns need the width at 1280 px more than the list of models does
# (it stays on the admin's home page).
admin.site.enable_nav_sidebar = False

FACE_FIELDS = ("index", "age", "age_low", "age_high", "x", "y", "width", "height", "detection_score")


class ReadOnlyMixin:
    """Results are made by the model, never typed in: no add, no change, delete allowed."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RecordMixin(ReadOnlyMixin):
    """A record of what happened (consent, photo views, pending deletions): read, never edited or deleted by hand."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FaceInline(ReadOnlyMixin, admin.TabularInline[Face, Prediction]):
    model = Face
    extra = 0
    fields = FACE_FIELDS
    readonly_fields = FACE_FIELDS
    can_delete = False


def _image(url: str, size: int) -> str:
    return format_html('<img src="{}" alt="" style="max-width:{}px;max-height:{}px">', url, size, size)


@admin.display(description="model version", ordering="model_version")
def short_version(obj: Prediction | Feedback) -> str:
    """A version's name, date and commit ("age101-20261129-ef59c9a"); all of it on hover and in the detail."""
    short = "-".join(obj.model_version.split("-")[:3])
    return format_html('<span title="{}" style="white-space: nowrap">{}</span>', obj.model_version, short)


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyMixin, admin.ModelAdmin[Prediction]):
    list_display = ["photo_id", "owner", "status", short_version, "created_at", "finished_at"]
    list_filter = ["status", "source", "model_version", "created_at"]
    search_fields = ["id", "owner__username", "owner__email"]
    readonly_fields = [
        "owner", "source", "width", "height", "status", "failure_reason", "model_version", "model_versions",
        "too_small", "attempts", "claimed_by", "claimed_on", "enqueued_at", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    exclude = ["image", "thumbnail"]
    inlines = [FaceInline]

    @admin.display(description="photo", ordering="id")
    def photo_id(self, prediction: Prediction) -> str:
        return photo_name(prediction.pk)  # the name the owner sees; search takes the whole id

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return ["photo", *fields] if can_view_photos(user=request.user) else fields

    @admin.display(description="photo")
    def photo(self, prediction: Prediction) -> str:
        if not prediction.image:
            return "deleted (retention)"
        url = reverse("feedback:staff-photo", args=[prediction.pk])
        return format_html('<a href="{}">Open the whole photo</a> (asks why; the owner sees who and why)', url)


def _crop(feedback: Feedback, size: int) -> str:
    if not feedback.crop:
        return "not kept"
    return _image(reverse("api:review-crop", args=[feedback.pk]), size)


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyMixin, admin.ModelAdmin[Feedback]):
    """Answers are read here; verdicts are given on the review page (``feedback:review``)."""

    list_display = ["thumbnail", "owner", "answer", "shown", short_version, "kept_face", "review", "reviewer",
                    "created_at"]  # fmt: skip
    list_filter = ["state", "consent_to_train", "correct", "model_version", "created_at"]
    search_fields = ["face__prediction__owner__username", "face__prediction__id", "model_version"]
    FIELDS = (
        "face_crop", "face", "correct", "true_age", "shown_age", "shown_interval", "model_version", "model_versions",
        "consent_to_train", "consent_version", "consented_at", "withdrawn_at", "state", "corrected_age", "reviewer",
        "reviewed_at", "created_at", "updated_at",
    )  # fmt: skip
    fields = readonly_fields = FIELDS

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("face__prediction__owner", "reviewer")

    @admin.display(description="kept", boolean=True, ordering="consent_to_train")
    def kept_face(self, feedback: Feedback) -> bool:
        return feedback.consent_to_train

    @admin.display(description="answer", ordering="true_age")
    def answer(self, feedback: Feedback) -> str:
        if feedback.correct:
            return "About right"
        return "Not right" if feedback.true_age is None else f"Real age {feedback.true_age}"

    @admin.display(description="review", ordering="state")
    def review(self, feedback: Feedback) -> str:
        corrected = f", age {feedback.corrected_age}" if feedback.corrected_age is not None else ""
        return f"{feedback.get_state_display()}{corrected}"

    @admin.display(description="shown age", ordering="shown_age")
    def shown(self, feedback: Feedback) -> str:
        return f"{feedback.shown_age:.0f}"

    @admin.display(description="face")
    def thumbnail(self, feedback: Feedback) -> str:
        return _crop(feedback, 48)

    @admin.display(description="face")
    def face_crop(self, feedback: Feedback) -> str:
        return _crop(feedback, 256)

    @admin.display(description="owner")
    def owner(self, feedback: Feedback) -> str:
        return str(feedback.face.prediction.owner)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(RecordMixin, admin.ModelAdmin[ConsentRecord]):
    """Consent as it was given and withdrawn: read-only, never deleted by hand."""

    list_display = ["at", "action", "consent_version", "face", "owner"]
    list_filter = ["action", "consent_version"]
    search_fields = ["owner__username"]
    readonly_fields = ["face", "owner", "action", "consent_version", "at"]


@admin.register(PhotoView)
class PhotoViewAdmin(RecordMixin, admin.ModelAdmin[PhotoView]):
    """Who opened whose whole photo and why: read-only, never deleted by hand."""

    list_display = ["at", "viewer_name", "owner", "prediction", "reason"]
    search_fields = ["viewer_name", "owner__username"]
    readonly_fields = ["at", "viewer", "viewer_name", "owner", "prediction", "photo_uploaded_at", "reason"]


@admin.register(PendingDeletion)
class PendingDeletionAdmin(RecordMixin, admin.ModelAdmin[PendingDeletion]):
    """Stored files waiting to be deleted (retried by ``estimator.tasks.delete_pending_files``)."""

    list_display = ["name", "storage", "created_at", "attempts", "last_attempt_at", "last_error"]
    readonly_fields = ["name", "storage", "created_at", "attempts", "last_attempt_at", "last_error"]


@admin.register(DatasetRelease)
class DatasetReleaseAdmin(ReadOnlyMixin, admin.ModelAdmin[DatasetRelease]):
    list_display = ["id", "created_at", "count", "content_hash", "created_by"]
    readonly_fields = ["created_at", "created_by", "count", "content_hash", "items"]
