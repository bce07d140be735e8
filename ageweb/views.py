"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import time
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from prometheus_client import CONTENT_TYPE_LATEST

from .client import client_ip
from .metrics import metrics_text, queue_depths


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Nothing else is checked, so an outage elsewhere never restarts it."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return {"ok": False, "error": str(error).strip()[:200]}
    return {"ok": True}


def _check_redis() -> dict[str, Any]:
    try:
        return {"ok": True, "queues": queue_depths()}
    except redis.RedisError as error:
        return {"ok": False, "error": str(error)[:200]}


def _check_workers() -> dict[str, Any]:
    if settings.AGEWEB_RUN_TASKS_IN_PROCESS:
        return {"ok": True, "answering": 0, "note": "tasks run in the web process"}
    from .celery import app

    try:
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
    except (BrokerError, redis.RedisError, OSError) as error:
        return {"ok": False, "answering": 0, "error": str(error)[:200]}
    served = {queue: 0 for queue in WORKER_QUEUES}
    for queues in replies.values():
        for queue in queues:
            if queue["name"] in served:
                served[queue["name"]] += 1
    return {"ok": all(served.values()), "answering": len(replies), "queues": served}


# Every queue needs a worker: uploads ("inference"), beat's jobs ("default"), live frames ("live").
WORKER_QUEUES = ("inference", "default", "live")


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and Redis answer, and every queue has a worker answering."""
    started = time.monotonic()
    checks = {"database": _check_database(), "redis": _check_redis()}
    checks["workers"] = _check_workers() if checks["redis"]["ok"] else {"ok": False, "answering": 0}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "seconds": time.monotonic() - started}
    return JsonResponse(body, status=200 if ready else 503)


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
