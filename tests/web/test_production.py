"""Production behaviour: safe defaults, outages as 503s, JSON 404s, websockets refused cleanly, metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.cache import caches
from django.db import OperationalError
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_token
from ageweb.asgi import application
from ageweb.celery import app as celery_app
from estimator.models import Prediction
from estimator.predictions.services import prediction_create, prediction_run
from harness import photos
from tests.web.conftest import CONNECT_S, upload
from tests.web.test_settings import PRODUCTION_ENV, django_setup

ROOT = Path(__file__).resolve().parents[2]
NOBODY = "127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_passes_check_deploy_with_only_the_documented_environment() -> None:
    code = (
        "from django.core.management import call_command; call_command('check', '--deploy', '--fail-level', 'WARNING')"
    )
    result = django_setup("ageweb.settings.production", PRODUCTION_ENV, code)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_prefixed_by_default() -> None:
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SECURE_SSL_REDIRECT)"
    )
    result = django_setup("ageweb.settings.production", PRODUCTION_ENV, code)
    assert result.stdout.split() == ["__Secure-sessionid", "__Secure-csrftoken", "True"]


@pytest.mark.parametrize("module", ["ageweb.wsgi", "ageweb.asgi", "ageweb.celery"])
def test_an_entry_point_without_settings_runs_production_and_refuses_without_secrets(module: str) -> None:
    env = {"PATH": os.environ.get("PATH", "")}  # no DJANGO_SETTINGS_MODULE, no SECRET_KEY
    code = f"import {module}; from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "The environment variable SECRET_KEY must be set." in result.stderr


@pytest.mark.parametrize(("debug", "shown"), [(None, "False"), ("1", "True")])
def test_an_entry_point_runs_local_settings_when_asked_without_debug_pages_unless_asked(
    debug: str | None, shown: str
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "ageweb.settings.local"}
    if debug is not None:
        env["DEBUG"] = debug
    code = "import ageweb.wsgi; from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == shown, result.stderr


@pytest.mark.django_db
def test_a_token_post_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": f"Token {user_token(user=user).key}"}
    response = client.post("/api/v1/no-such-thing/", {"a": 1}, **headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_websocket_path_is_closed_cleanly() -> None:
    async def scenario() -> None:
        ws = WebsocketCommunicator(application, "/ws/nothing-here/", headers=[(b"origin", b"http://localhost")])
        connected, _ = await ws.connect(timeout=CONNECT_S)
        assert not connected  # a refused handshake (403), not a server error

    async_to_sync(scenario)()


@pytest.mark.django_db
def test_an_api_upload_while_redis_is_down_is_a_503_in_the_error_shape(api: APIClient, settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://{NOBODY}/0"}
    }
    response = api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "30"
    assert not Prediction.objects.exists()


DATABASE_DOWN = """
import django; django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
page = client.post("/accounts/login/", {"username": "a", "password": "b"})
api = client.get("/api/v1/predictions/", HTTP_AUTHORIZATION="Token abc")
print(page.status_code, api.status_code, api["Content-Type"], api.json()["error"]["code"])
print(page.content.decode())
"""


def test_pages_and_api_answer_503_while_postgresql_is_down() -> None:
    env = {"DATABASE_URL": f"postgres://postgres@{NOBODY}/ageweb", "ALLOWED_HOSTS": "testserver"}
    result = django_setup("ageweb.settings.test", env, DATABASE_DOWN.replace("import django; django.setup()", ""))
    first, *page = result.stdout.splitlines()
    assert first.split() == ["503", "503", "application/json", "unavailable"], result.stderr[-3000:]
    assert "briefly unavailable" in "\n".join(page)


@pytest.mark.django_db
def test_metrics_count_requests_and_predictions_by_outcome_and_version(
    user: User, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    before = _sample(client, 'ageweb_predictions_total{outcome="done",version="fake-1"}')
    with django_capture_on_commit_callbacks(execute=True):  # counted once the result is committed
        prediction_run(prediction_id=prediction.id)
    text = client.get("/metrics").content.decode()
    assert _sample(client, 'ageweb_predictions_total{outcome="done",version="fake-1"}') == before + 1
    assert "ageweb_prediction_latency_seconds_bucket" in text
    assert "django_http_requests_total_by_method_total" in text
    assert "ageweb_live_frames_total" in text or "ageweb_live_frames" in text
    assert 'ageweb_model_active{version="fake-1"} 1.0' in text


WORKER_METRICS = """
import django, urllib.request
django.setup()
from celery.signals import worker_init
import ageweb.celery  # connects the worker_init handler
from ageweb.metrics import PREDICTIONS
worker_init.send(sender=None)  # as a starting worker sends it
PREDICTIONS.labels(outcome="done", version="v1").inc()  # as a pool process counts a photo
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics", timeout=10).read().decode())
"""


def test_a_worker_serves_its_pool_s_metrics_on_its_own_port_when_asked(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ageweb.settings.test", "AGEWEB_WORKER_METRICS_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}  # fmt: skip
    result = python(WORKER_METRICS % port, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ageweb_predictions_total{outcome="done",version="v1"} 1.0' in result.stdout  # from the multiprocess folder
    assert "ageweb_queue_depth" not in result.stdout  # the web server's to report
    del env["AGEWEB_WORKER_METRICS_PORT"]
    assert "Connection refused" in python(WORKER_METRICS % port, env).stderr  # off unless a port is set


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_metrics_are_refused_to_other_addresses_and_need_the_token_when_one_is_set(
    client: Client, settings: Any
) -> None:
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code == 403
    settings.AGEWEB_METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics").status_code == 403  # even from loopback, once a token is set
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", REMOTE_ADDR="198.51.100.7").status_code == 200
    )


@pytest.fixture
def fresh_readiness() -> Iterator[None]:
    caches["local"].clear()  # the last answer is kept for a few seconds
    yield
    caches["local"].clear()


@pytest.mark.django_db
def test_readiness_says_which_service_is_down(client: Client, settings: Any, fresh_readiness: None) -> None:
    settings.REDIS_URL = f"redis://{NOBODY}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["redis"] == {"ok": False, "error": "unreachable"} and checks["workers"]["ok"] is False
    assert NOBODY not in response.content.decode()


@pytest.mark.django_db
def test_readiness_names_no_host_or_user_of_a_service_that_is_down(client: Client, fresh_readiness: None) -> None:
    refused = OperationalError('connection to server at "db.internal.example" (10.1.2.3), port 5432 failed: '
                               'FATAL: password authentication failed for user "ageweb_prod"')  # fmt: skip
    with mock.patch("ageweb.views.connection.cursor", side_effect=refused):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "unreachable"}
    body = response.content.decode()
    assert "db.internal.example" not in body and "10.1.2.3" not in body and "ageweb_prod" not in body


def inspect_counting(answer: dict[str, Any]) -> mock.MagicMock:
    """A stand-in for Celery's ``app.control.inspect``: counts the broadcasts to the workers."""
    inspect = mock.MagicMock()
    inspect.return_value.active_queues.return_value = answer
    return inspect


WORKERS = {"w1": [{"name": "inference"}, {"name": "default"}], "w2": [{"name": "live"}]}


@pytest.mark.django_db
def test_readiness_asks_the_workers_once_within_a_few_seconds(
    client: Client, settings: Any, fresh_readiness: None
) -> None:
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = False
    settings.AGEWEB_READYZ_CACHE_SECONDS = 5
    with mock.patch.object(celery_app.control, "inspect", inspect_counting(WORKERS)) as inspect:
        answers = [client.get("/readyz") for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["checks"]["workers"]["queues"] == {"inference": 1, "default": 1, "live": 1}
    assert inspect.call_count == 1


@pytest.mark.django_db
def test_readiness_asks_every_time_when_its_cache_is_off(client: Client, settings: Any, fresh_readiness: None) -> None:
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = False
    settings.AGEWEB_READYZ_CACHE_SECONDS = 0
    with mock.patch.object(celery_app.control, "inspect", inspect_counting(WORKERS)) as inspect:
        for _ in range(2):
            client.get("/readyz")
    assert inspect.call_count == 2


def _sample(client: Client, name: str) -> float:
    for line in client.get("/metrics").content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
