"""Upload -> Redis -> Celery worker -> PostgreSQL -> websocket, with real processes."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest
import redis
from websockets.exceptions import InvalidStatus

from estimator.predictions.services import WORKER_KEPT_DYING
from harness import photos
from harness.stack import SiteClient, Stack

pytestmark = pytest.mark.integration


def client(stack: Stack) -> SiteClient:
    person = SiteClient(stack.base_url)
    person.sign_up(f"it_{uuid.uuid4().hex[:8]}")
    return person


def wait_for_status(person: SiteClient, prediction_id: str, status: str, timeout: float = 60) -> None:
    """Until the result page's websocket says ``status`` (it sends the state on connect, then each change)."""
    deadline = time.monotonic() + timeout
    with person.socket(prediction_id) as ws:
        while json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))["status"] != status:
            pass


def test_an_upload_is_run_by_the_worker_and_pushed_to_the_page(fake_stack: Stack) -> None:
    person = client(fake_stack)
    response = person.upload(photos.face_photo())
    assert response.status_code == 202
    prediction_id = response.json()["id"]
    messages = person.watch(prediction_id)
    assert [m["status"] for m in messages][-1] == "done"
    assert messages[-1]["faces"][0]["box"] == {"x": 160, "y": 120, "width": 320, "height": 240}
    [(status, attempts, faces)] = fake_stack.sql(
        "SELECT status, attempts, (SELECT count(*) FROM estimator_face f WHERE f.prediction_id = p.id)"
        " FROM estimator_prediction p WHERE id = %s",
        prediction_id,
    )
    assert (status, attempts, faces) == ("done", 1, 1)
    assert [n for n in fake_stack.stored_names("predictions/") if n.endswith(f"/{prediction_id}.jpg")]
    assert not [p for root in fake_stack.media_roots() if root.exists() for p in root.rglob("*.jpg")]  # no disk


def test_the_page_sees_running_before_done(fake_stack: Stack) -> None:
    person = client(fake_stack)
    prediction_id = person.upload(photos.face_photo()).json()["id"]
    statuses = [m["status"] for m in person.watch(prediction_id)]
    assert statuses[-2:] == ["running", "done"]  # the fake takes 0.5 s, so "running" is seen


def test_a_refused_upload_gets_a_clear_error_and_stores_nothing(fake_stack: Stack) -> None:
    # One representative through the real server; every rule is tested in tests/web/test_images.py.
    person = client(fake_stack)
    response = person.upload(photos.truncated_jpeg())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "damaged"
    assert response.json()["error"]["message"]
    assert person.list_all() == []


def test_a_task_waits_in_redis_until_a_worker_starts(fake_stack: Stack) -> None:
    person = client(fake_stack)
    fake_stack.stop("worker")
    try:
        prediction_id = person.upload(photos.face_photo()).json()["id"]
        # Published before the upload's answer: the task is in Redis, and nothing takes it.
        queue = redis.Redis.from_url(fake_stack.redis_url)
        assert queue.llen(f"{fake_stack.env['AGEWEB_REDIS_PREFIX']}inference") == 1
        assert person.get(prediction_id)["status"] == "queued"
    finally:
        fake_stack.start_worker()
    assert person.watch(prediction_id)[-1]["status"] == "done"


def test_a_task_survives_its_worker_process_being_killed(fake_stack: Stack) -> None:
    person = client(fake_stack)
    saved = dict(fake_stack.env)
    # long enough to kill the process mid-task
    fake_stack.relaunch(stop=["worker"], start=["worker"], env={**saved, "AGEWEB_FAKE_DELAY": "3"})
    try:
        prediction_id = person.upload(photos.face_photo()).json()["id"]
        wait_for_status(person, prediction_id, "running")
        [child] = fake_stack.worker_children()
        signal_pid(child)
        result = person.watch(prediction_id, timeout=90)[-1]
        assert result["status"] == "done"  # requeued (acks_late, reject_on_worker_lost) and rerun
        assert fake_stack.sql("SELECT attempts FROM estimator_prediction WHERE id = %s", prediction_id) == [(2,)]
        assert len(result["faces"]) == 1  # rerun replaced, not duplicated
    finally:
        fake_stack.relaunch(stop=["worker"], start=["worker"], env=saved)


def test_a_task_killed_by_the_hard_time_limit_is_failed_by_the_reaper(fake_stack: Stack) -> None:
    person = client(fake_stack)
    fast_limits = {
        "AGEWEB_ESTIMATOR": "tests.fakes.StubbornEstimator", "AGEWEB_TASK_SOFT_TIME_LIMIT": "1",
        "AGEWEB_TASK_HARD_TIME_LIMIT": "2", "AGEWEB_RUNNING_STALE_AFTER": "4", "AGEWEB_REAPER_INTERVAL": "1",
        "AGEWEB_MAX_ATTEMPTS": "1",
    }  # fmt: skip
    saved = dict(fake_stack.env)
    # The server too: Celery stamps the time limits into the message, so the publisher's settings count.
    fake_stack.relaunch(stop=["worker", "server"], start=["server", "worker", "beat"], env={**saved, **fast_limits})
    try:
        prediction_id = person.upload(photos.face_photo()).json()["id"]
        wait_for_status(person, prediction_id, "failed", timeout=90)  # without the reaper: "running" for good
        assert person.get(prediction_id)["failure_reason"] == WORKER_KEPT_DYING
        assert "Hard time limit (2" in fake_stack.log("worker")  # it was the hard limit that stopped it
    finally:
        fake_stack.relaunch(stop=["beat", "worker", "server"], start=["server", "worker"], env=saved)


def test_a_task_lost_with_redis_is_queued_again_by_the_reaper(fake_stack: Stack) -> None:
    person = client(fake_stack)
    fake_stack.stop("worker")
    prediction_id = person.upload(photos.face_photo()).json()["id"]
    queue = f"{fake_stack.env['AGEWEB_REDIS_PREFIX']}inference"
    broker = redis.Redis.from_url(fake_stack.redis_url)
    assert broker.delete(queue) == 1  # what a Redis restart without persistence does to a waiting task
    saved = dict(fake_stack.env)
    marker = len(fake_stack.log("worker"))
    fast_reaper = {**saved, "AGEWEB_REQUEUE_AFTER": "2", "AGEWEB_REAPER_INTERVAL": "1"}
    fake_stack.relaunch(stop=[], start=["worker", "beat"], env=fast_reaper)
    try:
        assert person.watch(prediction_id, timeout=60)[-1]["status"] == "done"
        assert "Reaper: queued 1 predictions again" in fake_stack.log("worker")[marker:]
    finally:
        fake_stack.relaunch(stop=["beat", "worker"], start=["worker"], env=saved)


def signal_pid(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGKILL)


def test_another_users_prediction_is_refused_over_http_and_websocket(fake_stack: Stack) -> None:
    owner, stranger = client(fake_stack), client(fake_stack)
    prediction_id = owner.upload(photos.face_photo()).json()["id"]
    response = stranger.session.get(f"{fake_stack.base_url}/api/v1/predictions/{prediction_id}/", timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    with pytest.raises(InvalidStatus):
        stranger.watch(prediction_id, timeout=10)
