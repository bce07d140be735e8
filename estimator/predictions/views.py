"""HTML pages: translate forms and URLs to the services and selectors."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ageweb.http import found_or_404, request_user
from ageweb.throttles import rate_limited

from ..feedback.consent import consent_context
from ..feedback.selectors import feedback_list
from ..feedback.serializers import FeedbackSerializer
from ..forms import UploadForm
from ..images import DECODERS_BUSY_RETRY_AFTER, DecodersBusy
from .selectors import NO_SUCH_PREDICTION, prediction_get, prediction_list
from .serializers import PredictionSerializer
from .services import TooManyUnfinished, prediction_create, prediction_delete


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("estimator:upload")
    return render(request, "estimator/home.html")


@login_required
@rate_limited("uploads")  # the API's upload budget: one per user for pages and API together
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            prediction = prediction_create(owner=request_user(request), image=form.cleaned_data["image"])
        except ValidationError as error:
            form.add_error("image", error)
        except TooManyUnfinished as error:
            form.add_error("image", str(error))
            status = 429
        except DecodersBusy as error:
            form.add_error("image", str(error))
            status = 503
        else:
            return redirect("estimator:result", prediction_id=prediction.id)
    if form.errors and status == 200:
        status = 400
    response = render(request, "estimator/upload.html", {"form": form}, status=status)
    if status == 503:
        response["Retry-After"] = str(DECODERS_BUSY_RETRY_AFTER)
    return response


@login_required
def result(request: HttpRequest, prediction_id: UUID) -> HttpResponse:
    prediction = found_or_404(
        prediction_get(owner=request_user(request), prediction_id=prediction_id), NO_SUCH_PREDICTION
    )
    data = PredictionSerializer(prediction).data  # the page starts from this, then listens
    answers = {
        str(feedback.face.index): FeedbackSerializer(feedback).data
        for feedback in feedback_list(owner=request_user(request)).filter(face__prediction=prediction)
    }
    context = {"prediction": prediction, "data": data, "answers": answers, **consent_context()}
    return render(request, "estimator/result.html", context)


@login_required
def live(request: HttpRequest) -> HttpResponse:
    return render(request, "estimator/live.html")


@login_required
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(prediction_list(owner=request_user(request)), 24).get_page(request.GET.get("page"))
    context = {"page": page, "retention_days": settings.AGEWEB_PHOTO_RETENTION_DAYS}
    return render(request, "estimator/history.html", context)


@login_required
@require_POST
def delete(request: HttpRequest, prediction_id: UUID) -> HttpResponse:
    prediction_delete(
        prediction=found_or_404(
            prediction_get(owner=request_user(request), prediction_id=prediction_id), NO_SUCH_PREDICTION
        )
    )
    messages.success(request, "The prediction and its photo were deleted.")
    return redirect("estimator:history")
