"""Staff pages of model versions: promote one, or roll back, each after a confirmation page.

The dashboard (``feedback.views.dashboard``) shows the versions side by side; these pages
only ask "are you sure?" (GET) and then do it (POST), as the ``model`` command does."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ageweb.http import found_or_404

from ..feedback.views import staff_only
from ..models import ModelVersion
from .selectors import model_version_active, model_version_get, version_comparison
from .services import model_version_promote, model_version_rollback


def _done(request: HttpRequest, version: ModelVersion) -> HttpResponse:
    messages.success(
        request,
        f"{version.version} is now the active version: new uploads and live frames use it within "
        f"{settings.AGEWEB_MODEL_VERSION_TTL} seconds.",
    )
    return redirect("feedback:dashboard")


def _refused(request: HttpRequest, error: ValidationError) -> HttpResponse:
    messages.error(request, " ".join(error.messages))
    return redirect("feedback:dashboard")


@staff_only
def promote(request: HttpRequest, version: str) -> HttpResponse:
    row = found_or_404(model_version_get(version=version), "No such model version.")
    if request.method == "POST":
        try:
            return _done(request, model_version_promote(version=version))
        except ValidationError as error:
            return _refused(request, error)
    context = {"version": row, "active": model_version_active(), "comparison": version_comparison(version=version)}
    return _confirm(request, "promote", context)


@staff_only
def rollback(request: HttpRequest) -> HttpResponse:
    active = model_version_active()
    previous = found_or_404(active and active.previous, "There is no earlier active version to return to.")
    if request.method == "POST":
        try:
            return _done(request, model_version_rollback())
        except ValidationError as error:
            return _refused(request, error)
    return _confirm(request, "rollback", {"version": previous, "active": active})


def _confirm(request: HttpRequest, action: str, context: dict[str, Any]) -> HttpResponse:
    ttl = settings.AGEWEB_MODEL_VERSION_TTL
    return render(request, "versions/confirm.html", {**context, "action": action, "ttl": ttl})
