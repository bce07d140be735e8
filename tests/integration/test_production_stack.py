"""The stack as compose runs it: nginx -> gunicorn (uvicorn workers) -> worker and beat, private PostgreSQL and Redis.

The short soak here is ``make soak`` in small: the same processes, the same four faults.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness import photos
from harness.soak import passed, report, soak
from harness.stack import SiteClient, Stack, private_services_missing, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def production_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = private_services_missing()
    if reason:
        pytest.skip(reason)
    # Readiness answers afresh each time: the tests stop a worker and ask again at once.
    env = {"AGEWEB_FAKE_DELAY": "0.2", "AGEWEB_TOKEN_RATE": "5/minute", "AGEWEB_READYZ_CACHE_SECONDS": "0"}
    with running_stack(
        workdir=tmp_path_factory.mktemp("prod"), estimator="tests.fakes.SlowFakeEstimator", env=env, production=True
    ) as stack:
        yield stack


def person(stack: Stack) -> SiteClient:
    client = SiteClient(stack.base_url)
    client.sign_up(f"prod_{uuid.uuid4().hex[:8]}")
    return client


def test_a_client_cannot_claim_https_through_nginx(production_stack: Stack) -> None:
    # nginx overwrites X-Forwarded-Proto with its own scheme: the app sees http and sets no secure-only state
    response = requests.get(
        f"{production_stack.base_url}/accounts/login/", headers={"X-Forwarded-Proto": "https"}, timeout=30
    )
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_nginx_serves_static_files_itself(production_stack: Stack) -> None:
    response = requests.get(f"{production_stack.base_url}/static/css/site.css", timeout=30)
    assert response.status_code == 200 and response.headers["Server"].startswith("nginx")
    assert "Expires" in response.headers  # nginx's, never set by WhiteNoise for an unhashed name


def test_an_upload_over_the_limit_is_refused_by_nginx_in_the_error_shape(production_stack: Stack) -> None:
    response = person(production_stack).upload(photos.oversized_file(12))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_the_result_page_websocket_is_upgraded_through_nginx(production_stack: Stack) -> None:
    client = person(production_stack)
    prediction_id = client.upload(photos.face_photo()).json()["id"]
    assert client.watch(prediction_id, timeout=60)[-1]["status"] == "done"


def test_readiness_sees_the_worker_and_metrics_are_scraped_from_the_app_not_through_nginx(
    production_stack: Stack,
) -> None:
    ready = requests.get(f"{production_stack.base_url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    workers = ready.json()["checks"]["workers"]
    assert workers["answering"] == 2  # the uploads' worker and the live one
    assert workers["queues"] == {"inference": 1, "default": 1, "live": 1}
    assert requests.get(f"{production_stack.base_url}/metrics", timeout=30).status_code == 404
    direct = requests.get(f"http://127.0.0.1:{production_stack.port}/metrics", timeout=30).text
    assert 'ageweb_queue_depth{queue="inference"}' in direct
    assert 'ageweb_predictions_total{outcome="done",version="' in direct  # counted by the worker, served by the web


def test_readiness_says_unavailable_while_no_worker_answers(production_stack: Stack) -> None:
    production_stack.stop("worker")
    try:
        response = requests.get(f"{production_stack.base_url}/readyz", timeout=30)
        assert response.status_code == 503
        workers = response.json()["checks"]["workers"]
        assert workers["ok"] is False and workers["queues"] == {"inference": 0, "default": 0, "live": 1}
    finally:
        production_stack.start_worker()


# Last of the tests on this stack: it spends this address's token budget.
def test_a_client_cannot_rotate_x_forwarded_for_through_nginx_past_the_token_throttle(production_stack: Stack) -> None:
    url = f"{production_stack.base_url}/api/v1/auth/token/"
    answers = [
        requests.post(url, json={"username": "x", "password": "y"}, headers={"X-Forwarded-For": f"203.0.113.{i}"},
                      timeout=30).status_code
        for i in range(8)
    ]  # fmt: skip
    assert 429 in answers, answers


def test_a_short_soak_loses_nothing_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    reason = private_services_missing()
    if reason:
        pytest.skip(reason)
    # 300 s from the stack's start to the figures, and a limit on every step inside: with the
    # stack's stop the soak ends well inside pytest's 600 s even when a step hangs, and says which.
    figures = soak(
        workdir=tmp_path, clients=8, uploads=48, estimator="tests.fakes.SlowFakeEstimator", concurrency=2,
        env={"AGEWEB_FAKE_DELAY": "0.2"}, wait_s=180, budget_s=300, worker_restart_s=90,
    )  # fmt: skip
    print(report(figures))
    assert not figures["hung"], report(figures)
    assert [name for name, _ in figures["faults"]] == [
        "kill a worker process (SIGKILL)", "restart the worker", "restart Redis", "restart PostgreSQL",
    ]  # fmt: skip
    assert figures["accepted"] > 30 and figures["done"] + figures["failed"] == figures["accepted"]
    assert (figures["lost"], figures["stuck"], figures["server_errors_outside_windows"]) == (0, 0, 0)
    assert passed(figures), report(figures)
