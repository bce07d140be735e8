"""One JSON shape for every API error: ``{"error": {"code", "message", "details"}}``.

DRF's own exceptions, Django's ValidationError raised by services, and the project-wide
404/500 handlers under /api/ all come out in this shape. An outage of PostgreSQL or Redis
or of the object store is a 503 (pages: a friendly page), never a 500: the request can
simply be tried again.
"""

from __future__ import annotations

import sys
from typing import Any

import redis
from botocore import exceptions as s3_errors
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

# What a restarting database, cache, broker or object store (photos, when in S3) raises.
OUTAGES = (
    DatabaseOperationalError, DatabaseInterfaceError, redis.ConnectionError, redis.TimeoutError, BrokerError,
    s3_errors.ConnectionError, s3_errors.HTTPClientError,
)  # fmt: skip
UNAVAILABLE = "The service is briefly unavailable; please try again in a minute. Nothing already accepted is lost."
RETRY_AFTER = "30"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_item(value: Any) -> Any:
    """The first leaf of a nested error structure (dicts and lists of messages or codes)."""
    while isinstance(value, dict | list) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


def _as_drf(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)  # keeps the message a selector gave
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OUTAGES):
        return Response(error_body("unavailable", UNAVAILABLE), status=503, headers={"Retry-After": RETRY_AFTER})
    exc = _as_drf(exc)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # not an API error: Django's handler500 answers (in JSON, below)
    if isinstance(exc, exceptions.ValidationError):
        message = str(_first_item(exc.detail)) or "Invalid input."
        code = str(_first_item(exc.get_codes())) or "invalid"
        response.data = error_body(code, message, exc.detail)
    else:
        response.data = error_body(str(_first_item(exc.get_codes())), str(exc.detail))
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # a token client's POST to a wrong path is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def unavailable(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        response: HttpResponse = JsonResponse(error_body("unavailable", UNAVAILABLE), status=503)
    else:  # rendered without the request: its session and user need the database
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = RETRY_AFTER
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, so it is still the current one.
    if isinstance(sys.exc_info()[1], OUTAGES):
        return unavailable(request)
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return defaults.server_error(request)


class _ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Machine-readable, e.g. not_an_image, too_large, not_found.")
    message = serializers.CharField(help_text="A sentence to show to a person.")
    details = serializers.DictField(help_text="Per-field messages for invalid input; empty otherwise.")


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every API error response (documented in the OpenAPI schema)."""

    error = _ErrorDetailSerializer()
