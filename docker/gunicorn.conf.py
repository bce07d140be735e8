"""gunicorn for ageweb: uvicorn workers (HTTP and websockets) behind nginx.

    gunicorn -c docker/gunicorn.conf.py ageweb.asgi:application

Environment: GUNICORN_BIND (0.0.0.0:8000), WEB_CONCURRENCY (2 workers),
GUNICORN_GRACEFUL_TIMEOUT (30 s: on a stop, what a worker may take to finish its requests;
open websockets keep it that long, then it is killed and the pages reconnect), and
FORWARDED_ALLOW_IPS, the proxy's addresses (gunicorn reads it itself; 127.0.0.1 if unset):
X-Forwarded-For and X-Forwarded-Proto are believed from those addresses only.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
timeout = 120  # a worker silent this long is restarted (uploads are read by nginx first)
accesslog = None  # nginx logs requests


def child_exit(server: object, worker: object) -> None:
    """A gone worker's live Prometheus samples (gauges) must not be added up any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
