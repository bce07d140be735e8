"""HTML pages of feedback: My data, privacy, and staff review and dashboard."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.archive import user_data_archive
from ageweb.http import found_or_404, request_user
from ageweb.throttles import rate_limited

from ..files import file_response
from ..models import Feedback, Prediction
from ..predictions.selectors import prediction_list
from ..versions.selectors import comparison_version, model_version_active, model_version_summaries, version_comparison
from .consent import consent_context, feedback_withdraw, feedback_withdraw_all
from .photos import REASON_MAX, REASON_MIN, can_view_photos, photo_view_reason, photo_view_record
from .selectors import (
    dashboard_series,
    dashboard_stats,
    feedback_get_owned,
    feedback_list,
    photo_views_of,
    review_model_versions,
)

View = Callable[..., HttpResponseBase]

DOWNLOADS_LIMITED = "You have downloaded your data several times in the last hour; please try again later."


def staff_only(view: View) -> View:
    """Staff pages are a 404 for everyone else, as if they did not exist."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (request.user.is_authenticated and request.user.is_staff):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


def privacy(request: HttpRequest) -> HttpResponse:
    lockout_minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "feedback/privacy.html", {**consent_context(), "lockout_minutes": lockout_minutes})


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    answers = list(feedback_list(owner=user))
    context = {
        "predictions": prediction_list(owner=user),
        "answers": answers,
        "kept": [feedback for feedback in answers if feedback.kept],
        "photo_views": photo_views_of(owner=user),
        "retention_days": settings.AGEWEB_PHOTO_RETENTION_DAYS,
    }
    return render(request, "feedback/my_data.html", context)


@login_required
@rate_limited("downloads", methods=("GET",), message=DOWNLOADS_LIMITED)
def download(request: HttpRequest) -> FileResponse:
    """Everything held about the person, as a zip streamed from a temporary file."""
    user = request_user(request)
    name = f"ageweb-{user.username}-{timezone.now():%Y%m%d}.zip"
    archive = user_data_archive(owner=user)  # closed by the response once sent
    return FileResponse(archive, as_attachment=True, filename=name, content_type="application/zip")


def _owned_or_404(request: HttpRequest, feedback_id: int) -> Feedback:
    return found_or_404(feedback_get_owned(owner=request_user(request), feedback_id=feedback_id), "No such answer.")


@login_required
@require_POST
def withdraw(request: HttpRequest, feedback_id: int) -> HttpResponse:
    feedback_withdraw(feedback=_owned_or_404(request, feedback_id))
    messages.success(request, "Consent withdrawn: the face crop was deleted and will not be used for training.")
    return redirect("feedback:my-data")


@login_required
@require_POST
def withdraw_all(request: HttpRequest) -> HttpResponse:
    count = feedback_withdraw_all(owner=request_user(request))
    if count:
        messages.success(request, f"Consent withdrawn for {count} face(s): their crops were deleted.")
    else:
        messages.info(request, "No face of yours was kept.")
    return redirect("feedback:my-data")


@login_required
def own_crop(request: HttpRequest, feedback_id: int) -> FileResponse:
    return file_response(_owned_or_404(request, feedback_id).crop, gone="This face is not kept.")


@staff_only
def review(request: HttpRequest) -> HttpResponse:
    context = {"model_versions": review_model_versions(), "states": Feedback.State.choices}
    return render(request, "feedback/review.html", context)


@staff_only
def dashboard(request: HttpRequest) -> HttpResponse:
    versions = model_version_summaries()
    compare = request.GET.get("compare") or comparison_version()
    context = {
        "rows": dashboard_stats(),
        "series": dashboard_series(),
        "versions": versions,
        "active": model_version_active(),
        "comparison": version_comparison(version=compare) if compare in {v.version for v in versions} else None,
    }
    return render(request, "feedback/dashboard.html", context)


def staff_photo(request: HttpRequest, prediction_id: UUID) -> HttpResponseBase:
    """A person's whole photo, for staff with the ``view_photo`` permission who say why
    (``?reason=``; without one, a form asks for it); each view is recorded for the owner.
    A 404 for everyone else, as if the page did not exist."""
    if not can_view_photos(user=request.user):
        raise Http404("No such page.")
    prediction = found_or_404(
        Prediction.objects.filter(pk=prediction_id).exclude(image="").first(),
        "No such photo (it may have been deleted after the retention period).",
    )
    raw = request.GET.get("reason", "")
    try:
        reason = photo_view_reason(raw=raw)
    except ValidationError as error:
        context = {"prediction": prediction, "error": error.messages[0] if raw else "", "reason": raw,
                   "reason_min": REASON_MIN, "reason_max": REASON_MAX}  # fmt: skip
        return render(request, "feedback/photo_reason.html", context, status=400)
    response = file_response(prediction.image, gone="No such photo.")  # a photo the storage lost was not seen
    photo_view_record(viewer=request_user(request), prediction=prediction, reason=reason)
    return response
