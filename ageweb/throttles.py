"""Rate limits for HTML pages, with DRF's throttles and rates, so pages and API share budgets.

``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` holds every rate. A scope is counted per user
when the request is authenticated and per client address otherwise, exactly as DRF's
``ScopedRateThrottle`` counts the API: the upload page and the upload API draw from one
budget per user.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from rest_framework.throttling import SimpleRateThrottle

from .client import client_ip

View = Callable[..., HttpResponseBase]


class PageThrottle(SimpleRateThrottle):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = request.user
        ident = str(user.pk) if user.is_authenticated else client_ip(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def too_many_requests(*, wait: float | None, message: str = "") -> HttpResponse:
    seconds = math.ceil(wait) if wait else None
    text = message or "Too many attempts from here; please wait a little and try again."
    body = render_to_string("429.html", {"message": text, "wait": seconds})
    response = HttpResponse(body, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def rate_limited(scope: str, *, methods: tuple[str, ...] = ("POST",), message: str = "") -> Callable[[View], View]:
    """Count the view's requests made with ``methods`` (POSTs unless told) against ``scope``;
    beyond the rate, answer 429 with Retry-After and ``message`` (a general one unless told)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method in methods:
                throttle = PageThrottle(scope)
                page: Any = request  # DRF's throttles need only META, user and the cache
                if not throttle.allow_request(page, None):  # type: ignore[arg-type]
                    return too_many_requests(wait=throttle.wait(), message=message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
