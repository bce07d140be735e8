"""Operations endpoints: liveness, readiness and Prometheus metrics; and the favicon's old address."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from kombu.exceptions import OperationalError as BrokerError
from prometheus_client import CONTENT_TYPE_LATEST

from .client import client_ip
from .metrics import metrics_text, queue_depths

logger = logging.getLogger(__name__)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico where a page names none (a JSON answer, an image)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Nothing else is checked, so an outage elsewhere never restarts it."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return _unreachable("database", error)
    return {"ok": True}


def _check_redis() -> dict[str, Any]:
    try:
        return {"ok": True, "queues": queue_depths()}
    except redis.RedisError as error:
        return _unreachable("redis", error)


def _check_workers() -> dict[str, Any]:
    if settings.AGEWEB_RUN_TASKS_IN_PROCESS:
        return {"ok": True, "answering": 0, "note": "tasks run in the web process"}
    from .celery import app

    try:
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
    except (BrokerError, redis.RedisError, OSError) as error:
        return {**_unreachable("workers", error), "answering": 0}
    served = {queue: 0 for queue in WORKER_QUEUES}
    for queues in replies.values():
        for queue in queues:
            if queue["name"] in served:
                served[queue["name"]] += 1
    return {"ok": all(served.values()), "answering": len(replies), "queues": served}


def _unreachable(service: str, error: Exception) -> dict[str, Any]:
    # The error's text names hosts, ports and database users: the log gets it, the answer a fixed word.
    logger.warning("Readiness: %s unreachable: %s", service, error)
    return {"ok": False, "error": "unreachable"}


# Every queue needs a worker: uploads ("inference"), beat's jobs ("default"), live frames ("live").
WORKER_QUEUES = ("inference", "default", "live")
READINESS_KEY = "readyz"  # the last answer, in this process's "local" cache


def _readiness() -> dict[str, Any]:
    started = time.monotonic()
    checks = {"database": _check_database(), "redis": _check_redis()}
    checks["workers"] = _check_workers() if checks["redis"]["ok"] else {"ok": False, "answering": 0}
    ready = all(check["ok"] for check in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks, "seconds": time.monotonic() - started}


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and Redis answer, and every queue has a worker answering.

    The answer is kept for ``AGEWEB_READYZ_CACHE_SECONDS`` in this process, so that frequent
    callers cost one round of checks per period (asking the workers takes a second)."""
    body = caches["local"].get(READINESS_KEY)
    if body is None:
        body = _readiness()
        if settings.AGEWEB_READYZ_CACHE_SECONDS:
            caches["local"].set(READINESS_KEY, body, timeout=settings.AGEWEB_READYZ_CACHE_SECONDS)
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.AGEWEB_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return client_ip(request) in settings.AGEWEB_METRICS_ALLOWED_IPS


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus: with AGEWEB_METRICS_TOKEN a bearer token, else only AGEWEB_METRICS_ALLOWED_IPS."""
    if not _may_scrape(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
