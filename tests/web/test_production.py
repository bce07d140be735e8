"""Production behaviour: safe defaults, outages as 503s, JSON 404s, websockets refused cleanly, metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_token
from ageweb.asgi import application
from estimator.models import Prediction
from estimator.predictions.services import prediction_create, prediction_run
from tests import photos
from tests.web.conftest import upload
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


def test_an_entry_point_runs_local_settings_when_asked() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "ageweb.settings.local"}
    code = "import ageweb.wsgi; from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "True", result.stderr


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
        connected, _ = await ws.connect()
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


def test_metrics_are_refused_to_other_addresses_and_need_the_token_when_one_is_set(
    client: Client, settings: Any
) -> None:
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code == 403
    settings.AGEWEB_METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics").status_code == 403  # even from loopback, once a token is set
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", REMOTE_ADDR="198.51.100.7").status_code == 200
    )


@pytest.mark.django_db
def test_readiness_says_which_service_is_down(client: Client, settings: Any) -> None:
    settings.REDIS_URL = f"redis://{NOBODY}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["redis"]["ok"] is False and checks["workers"]["ok"] is False


def _sample(client: Client, name: str) -> float:
    for line in client.get("/metrics").content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
