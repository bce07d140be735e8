"""The product's own Prometheus metrics; django-prometheus counts the requests.

With several processes (gunicorn workers, Celery pool children) every process writes its
samples under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up; the queue depth
(from Redis) and the active and shadow model versions are read at scrape time. A worker on a
host of its own serves its samples itself (``AGEWEB_WORKER_METRICS_PORT``, :func:`serve_worker_metrics`).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import redis
from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

# version: the model version that answered (empty for a photo that failed before any did).
PREDICTIONS = Counter(
    "ageweb_predictions_total", "Predictions finished, by outcome and model version", ["outcome", "version"]
)
PREDICTION_LATENCY = Histogram(
    "ageweb_prediction_latency_seconds",
    "Upload to result (done or failed), seconds",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800),
)
SHADOW_LATENCY = Histogram(
    "ageweb_shadow_latency_seconds",
    "From the active version's answer saved to the shadow version's estimates saved, seconds",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600),
)
LIVE_FRAMES = Counter("ageweb_live_frames_total", "Live webcam frames answered", ["outcome"])

QUEUES = ("inference", "live")
logger = logging.getLogger(__name__)


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def queue_depths() -> dict[str, int]:
    """Tasks waiting in each Celery queue (Redis lists), or nothing without Redis."""
    if not settings.REDIS_URL:
        return {}
    client = _redis(settings.REDIS_URL)
    return {queue: int(client.llen(f"{settings.REDIS_PREFIX}{queue}")) for queue in QUEUES}


class QueueDepthCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("ageweb_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"])
        try:
            depths = queue_depths()
        except redis.RedisError:
            depths = {}  # Redis is down: the scrape still answers, without this gauge's samples
        for queue, depth in depths.items():
            gauge.add_metric([queue], depth)
        yield gauge


class ModelVersionCollector(Collector):
    """The active (and shadow) model version, as every process serves it now."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from estimator.versions.services import model_serving  # the site's models: not at import time

        active = GaugeMetricFamily("ageweb_model_active", "The model version answering uploads", labels=["version"])
        shadow = GaugeMetricFamily("ageweb_model_shadow", "The model version scoring in the shadow", labels=["version"])
        try:
            serving = model_serving()
        except Exception:  # the database is down: the scrape still answers, without these samples
            logger.warning("Could not read the model versions for /metrics", exc_info=True)
        else:
            active.add_metric([serving.active.version], 1)
            if serving.shadow is not None:
                shadow.add_metric([serving.shadow.version], 1)
        yield from (active, shadow)


def metrics_text() -> bytes:
    """Everything Prometheus scrapes from the web server, in its text format."""
    registry = _samples()
    registry.register(QueueDepthCollector())
    registry.register(ModelVersionCollector())
    return generate_latest(registry)


def serve_worker_metrics(port: int) -> tuple[WSGIServer, threading.Thread]:
    """A Celery worker's own metrics on ``port`` (``/metrics``, a thread of the main process),
    its pool processes' samples included: for a worker on a host where no web server adds
    them up. The queue depth is the web server's to report."""
    return start_http_server(port, registry=_samples())


def _samples() -> CollectorRegistry:
    """This process's samples, or with PROMETHEUS_MULTIPROC_DIR those of every process of this host."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Default())
    return registry


class _Default(Collector):
    """This process's own metrics (one process: no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
