"""Model versions on the real stack: PostgreSQL, Redis, a worker process with the trained
models, the web server and the object store, each process in a folder of its own.

A second version (the shipped age model under another version, its temperature 1.0 instead
of 0.84, so that its ages differ a little) is registered with ``manage.py model add``,
fetched by the worker from the object store, scored in the shadow of the shipped one,
compared on reviewed faces through the staff API, promoted and rolled back while every
process keeps running.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest
import requests

from harness import photos
from harness.stack import ROOT, SiteClient, Stack, running_stack, unreachable_services
from ml.inference import DEFAULT_MODEL, MODELS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.real_estimator]
PROPAGATION = 10.0  # seconds: a promotion or a rollback reaches new uploads within this, without a restart
SHIPPED = json.loads((MODELS_DIR / DEFAULT_MODEL / "meta.json").read_text())["version"]
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = unreachable_services()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("versions")
    with running_stack(
        workdir=workdir, estimator="ml.inference.Estimator", object_store=True, separate_folders=True,
        env={"AGEWEB_MODEL_CACHE": str(workdir / "model-cache")},  # this stack's worker host's cache
    ) as stack:  # fmt: skip
        yield stack


def manage(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def second(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The second version, registered; registering it again is refused."""
    folder = tmp_path_factory.mktemp("candidate") / "export"
    folder.mkdir()
    shutil.copy(MODELS_DIR / DEFAULT_MODEL / "model.tflite", folder)
    meta = json.loads((MODELS_DIR / DEFAULT_MODEL / "meta.json").read_text())
    version = f"age101-it-{uuid.uuid4().hex[:8]}"
    (folder / "meta.json").write_text(json.dumps({**meta, "version": version, "temperature": 1.0}))
    added = manage(stack, "model", "add", str(folder))
    assert (added.returncode, added.stdout) == (0, f"{version}\n"), added.stderr
    again = manage(stack, "model", "add", str(folder))
    assert again.returncode == 1 and f"{version} is already registered (candidate)" in again.stderr
    return version


def person(stack: Stack, *, staff: bool = False) -> SiteClient:
    client = SiteClient(stack.base_url)
    name = f"mv_{uuid.uuid4().hex[:8]}"
    client.sign_up(name)
    if staff:
        with psycopg.connect(stack.database_url) as conn:
            conn.execute("UPDATE accounts_user SET is_staff = true WHERE username = %s", (name,))
    return client


def api(client: SiteClient, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Token {client.token}"}
    response = requests.request(method, f"{client.base_url}/api/v1/{path}", headers=headers, timeout=60, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


def finished(client: SiteClient) -> dict[str, Any]:
    """Upload a photo of one face and wait for its result on the websocket, as the page does;
    one version estimated the whole photo."""
    result = client.watch(client.upload(photos.face_photo()).json()["id"], timeout=120)[-1]
    assert result["status"] == "done" and len(result["faces"]) == 1, result
    assert result["model_versions"][DEFAULT_MODEL] == result["model_version"], result
    return result


def version_row(staff: SiteClient, version: str) -> dict[str, Any]:
    [row] = [row for row in api(staff, "GET", "models/") if row["version"] == version]
    return row


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``check`` (no event announces a shadow's scores) until it gives a value, at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)
    return found


def test_a_shadow_version_scores_every_upload_after_the_answer_and_is_compared_on_reviewed_faces(
    stack: Stack, second: str
) -> None:
    alice, staff = person(stack), person(stack, staff=True)
    shadowed = manage(stack, "model", "shadow", second)
    assert shadowed.stdout == f"{second} shadow\n", shadowed.stderr
    scored = version_row(staff, second)["faces_scored"]

    results = [finished(alice) for _ in range(3)]
    assert {r["model_version"] for r in results} == {SHIPPED}  # the person sees the active version's answer
    for result in results:
        api(alice, "POST", f"predictions/{result['id']}/faces/0/feedback/", json={
            "correct": False, "true_age": 40, "consent_to_train": True,
        })  # fmt: skip
    # Review items do not name the photo a face came from: find them by the answers' ids.
    answers = {
        int(found)
        for result in results
        for (found,) in stack.sql(
            "SELECT fb.id FROM estimator_feedback fb JOIN estimator_face f ON f.id = fb.face_id"
            " WHERE f.prediction_id = %s", result["id"],
        )
    }  # fmt: skip
    items = [i for i in api(staff, "GET", "review/feedback/")["results"] if i["id"] in answers]
    for item in items:
        api(staff, "PATCH", f"review/feedback/{item['id']}/", json={"state": "accepted"})
    assert len(items) == 3

    def all_scored() -> dict[str, Any] | None:
        row = version_row(staff, second)
        return row if row["faces_scored"] >= scored + 3 else None

    row = wait_for(all_scored, timeout=60, what=f"shadow scores of the 3 uploads by {second}")
    assert row["state"] == "shadow" and row["reviewed"]["n"] >= 3 and row["shadow"]["n"] >= 3
    assert row["shadow"]["mae_vs_active_on_reviewed"] is not None
    assert 0 < abs(row["shadow"]["mean_shift"]) < 5  # the same network, another temperature
    assert version_row(staff, SHIPPED)["reviewed"]["n"] >= 3
    assert (stack.workdir / "model-cache" / second / "model.tflite").is_file()  # fetched from the object store

    # The person's result never waits for the shadow: each shadow score was saved after the answer.
    times = stack.sql(
        "SELECT p.finished_at, s.created_at FROM estimator_shadowface s JOIN estimator_face f ON s.face_id = f.id "
        "JOIN estimator_prediction p ON f.prediction_id = p.id WHERE s.model_version = %s", second,
    )  # fmt: skip
    assert len(times) >= 3 and all(answered <= shadow for answered, shadow in times)
    behind = statistics.median((shadow - answered).total_seconds() for answered, shadow in times)
    runs = [float(s) for s in re.findall(r"shadow_estimate\[.*\] succeeded in ([\d.]+)s", stack.log("worker"))]
    print(f"\nshadow saved a median {behind:.3f} s after the answer ({len(times)} faces); its tasks ran {runs} s")


def first_upload_with(client: SiteClient, version: str, *, since: float) -> float:
    """Upload photos one after another until one comes back estimated by ``version``; returns
    how long after ``since`` that upload was sent. Fails past ``PROPAGATION`` seconds."""
    while True:
        sent = time.monotonic()
        result = finished(client)
        if result["model_version"] == version:
            return sent - since
        assert sent - since < PROPAGATION, (
            f"an upload {sent - since:.1f} s after the change got {result['model_version']}"
        )


def test_a_promotion_and_a_rollback_reach_new_uploads_within_10_seconds_without_a_restart(
    stack: Stack, second: str
) -> None:
    bob = person(stack)
    processes = {name: process.pid for name, process in stack.processes.items()}
    assert finished(bob)["model_version"] in {SHIPPED, second}

    promoted = manage(stack, "model", "promote", second)
    assert promoted.stdout == f"{second} active\n", promoted.stderr
    to_second = first_upload_with(bob, second, since=time.monotonic())
    assert all(finished(bob)["model_version"] == second for _ in range(2))  # and it stays

    rolled_back = manage(stack, "model", "rollback")
    assert rolled_back.stdout == f"{SHIPPED} active\n", rolled_back.stderr
    to_shipped = first_upload_with(bob, SHIPPED, since=time.monotonic())
    assert finished(bob)["model_version"] == SHIPPED
    print(f"\nnew uploads carried the promoted version {to_second:.2f} s after, the rolled-back one {to_shipped:.2f} s")

    assert {name: process.pid for name, process in stack.processes.items()} == processes  # no restart
    assert all(process.poll() is None for process in stack.processes.values())
    listed = manage(stack, "model", "list").stdout.splitlines()
    assert f"{SHIPPED} active" in listed and f"{second} retired" in listed
