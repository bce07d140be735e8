"""The product's own Prometheus metrics; django-prometheus counts the requests.

With several processes (gunicorn workers, Celery pool children) every process writes its
samples under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up; the queue depth
is read from Redis at scrape time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import redis
from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

PREDICTIONS = Counter("ageweb_predictions_total", "Predictions finished, by outcome", ["outcome"])
PREDICTION_LATENCY = Histogram(
    "ageweb_prediction_latency_seconds",
    "Upload to result (done or failed), seconds",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800),
)
LIVE_FRAMES = Counter("ageweb_live_frames_total", "Live webcam frames answered", ["outcome"])

QUEUES = ("inference", "live")


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


def metrics_text() -> bytes:
    """Everything Prometheus scrapes, in its text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(QueueDepthCollector())
    return generate_latest(registry)


class _Default(Collector):
    """This process's own metrics (one process: no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
