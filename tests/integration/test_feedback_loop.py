"""The whole feedback loop on the real stack: answer with consent, review, export, evaluate,
withdraw, delete, retention; PostgreSQL, Redis, a Celery worker and the trained models."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import requests

from harness import photos
from harness.stack import ROOT, SiteClient, Stack
from ml import ages, faces
from ml.inference import Estimator

pytestmark = [pytest.mark.integration, pytest.mark.real_estimator]
PASSWORD = "correct horse battery 9"


def person(stack: Stack, staff: bool = False) -> SiteClient:
    client = SiteClient(stack.base_url)
    name = f"fb_{uuid.uuid4().hex[:8]}"
    client.sign_up(name, PASSWORD)
    if staff:
        with psycopg.connect(stack.database_url) as conn:
            conn.execute("UPDATE accounts_user SET is_staff = true WHERE username = %s", (name,))
    return client


def api(client: SiteClient, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Token {client.token}"}
    return requests.request(method, f"{client.base_url}/api/v1/{path}", headers=headers, timeout=60, **kwargs)


def finished_face(client: SiteClient, width: int = 640, height: int = 480) -> dict[str, Any]:
    """Upload a photo of one face and wait (on the websocket) for the worker's result."""
    prediction_id = client.upload(photos.face_photo(width, height)).json()["id"]
    result = client.watch(prediction_id)[-1]
    assert result["status"] == "done" and len(result["faces"]) == 1, result
    return result


def answer(client: SiteClient, prediction: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = api(client, "POST", f"predictions/{prediction['id']}/faces/0/feedback/", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def review_items(staff: SiteClient, **params: str) -> list[dict[str, Any]]:
    response = api(staff, "GET", "review/feedback/", params=params)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def answer_id(stack: Stack, prediction: dict[str, Any]) -> int:
    """The id of the answer about face 0 of ``prediction`` (review items do not name the
    photo a face came from, so the test finds them by the answer's id)."""
    [(found,)] = stack.sql(
        "SELECT fb.id FROM estimator_feedback fb JOIN estimator_face f ON f.id = fb.face_id"
        " WHERE f.prediction_id = %s", prediction["id"],
    )  # fmt: skip
    return int(found)


def item_for(stack: Stack, staff: SiteClient, prediction: dict[str, Any]) -> dict[str, Any]:
    [item] = [i for i in review_items(staff) if i["id"] == answer_id(stack, prediction)]
    return item


def manage(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def export(stack: Stack, out: Path) -> list[dict[str, Any]]:
    manage(stack, "export_dataset", str(out))
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def stored_crop(stack: Stack, feedback_id: int) -> str:
    """The kept crop's name in the stack's storage (the object store)."""
    [(name,)] = stack.sql("SELECT crop FROM estimator_feedback WHERE id = %s", feedback_id)
    return str(name)


def test_answers_with_consent_are_reviewed_exported_and_evaluated(real_stack: Stack, tmp_path: Path) -> None:
    alice, bob, staff = person(real_stack), person(real_stack), person(real_stack, staff=True)
    first, second = finished_face(alice, 640, 480), finished_face(alice, 900, 700)
    answer(alice, first, correct=False, true_age=45, consent_to_train=True)
    answer(alice, second, correct=True, true_age=None, consent_to_train=True)
    numbers_only = finished_face(bob)
    answer(bob, numbers_only, correct=False, true_age=30, consent_to_train=False)

    # Staff see the two kept faces, not Bob's numbers-only answer; the others cannot review.
    kept = {answer_id(real_stack, first), answer_id(real_stack, second)}
    assert {i["id"] for i in review_items(staff, state="pending")} >= kept
    assert answer_id(real_stack, numbers_only) not in {i["id"] for i in review_items(staff)}
    item = item_for(real_stack, staff, first)
    assert "prediction" not in item  # a reviewer sees the crop, never which photo it came from
    assert item["true_age"] == 45 and item["estimate"] == pytest.approx(first["faces"][0]["age"])
    crop = requests.get(item["crop_url"], headers={"Authorization": f"Token {staff.token}"}, timeout=30)
    assert crop.status_code == 200 and crop.content.startswith(b"\xff\xd8")
    assert api(alice, "GET", "review/feedback/").status_code == 403
    assert api(alice, "PATCH", f"review/feedback/{item['id']}/", json={"state": "accepted"}).status_code == 403
    assert (
        requests.get(item["crop_url"], headers={"Authorization": f"Token {bob.token}"}, timeout=30).status_code == 403
    )

    assert api(staff, "PATCH", f"review/feedback/{item['id']}/", json={"state": "accepted"}).status_code == 200
    other = item_for(real_stack, staff, second)
    body = {"state": "accepted", "corrected_age": 41}
    assert api(staff, "PATCH", f"review/feedback/{other['id']}/", json=body).status_code == 200

    out = tmp_path / "export"
    manifest = export(real_stack, out)
    mine = [m for m in manifest if m["id"] in {item["id"], other["id"]}]
    assert [(m["file"], m["age"]) for m in mine] == [(f"45_{item['id']}.jpg", 45), (f"41_{other['id']}.jpg", 41)]
    assert all(m["model_version"] == first["model_version"] for m in mine)
    assert all((out / m["file"]).exists() for m in manifest)
    assert answer_id(real_stack, numbers_only) not in {m["id"] for m in manifest}  # no consent: never exported

    # The release in the database names exactly these items and the manifest's hash.
    [(items, content_hash)] = real_stack.sql(
        "SELECT items, content_hash FROM estimator_datasetrelease ORDER BY id DESC LIMIT 1"
    )
    release = json.loads((out / "release.json").read_text())
    assert items == [m["id"] for m in manifest] and content_hash == release["hash"]

    # The evaluation command (python -m ml.evaluate) on the export: the estimates people were
    # shown score exactly the MAE computed from the stored estimates in PostgreSQL, and the
    # model's own score on the crops.
    [(stored_mae,)] = real_stack.sql(
        "SELECT avg(abs(f.age - coalesce(fb.corrected_age, fb.true_age))) FROM estimator_feedback fb"
        " JOIN estimator_face f ON f.id = fb.face_id WHERE fb.id = ANY(%s)",
        [m["id"] for m in manifest],
    )
    done = subprocess.run(
        [sys.executable, "-m", "ml.evaluate", "--data", str(out), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["aligned"] is True and result["n"] == result["stored"]["n"] == len(manifest)
    assert result["stored"]["mae"] == round(float(stored_mae), 3)
    assert result["release"] == release["release"]
    # The model's own score: each exported crop scored whole by the shipped model, against the
    # manifest's age (the shared review queue also holds other tests' answers, an 87 among them).
    crops = np.stack([faces.decode(out / m["file"]) for m in manifest])
    own = ages.expected_age(Estimator().age_model(crops))
    assert result["mae"] == pytest.approx(float(np.abs(own - [m["age"] for m in manifest]).mean()), abs=2e-3)


def test_withdrawal_and_account_deletion_remove_crops_and_later_exports_leave_them_out(
    real_stack: Stack, tmp_path: Path
) -> None:
    carol, dave, staff = person(real_stack), person(real_stack), person(real_stack, staff=True)
    withdrawn, deleted = finished_face(carol), finished_face(dave)
    answer(carol, withdrawn, correct=False, true_age=39, consent_to_train=True)
    answer(dave, deleted, correct=False, true_age=43, consent_to_train=True)
    ids = []
    for prediction in (withdrawn, deleted):
        item = item_for(real_stack, staff, prediction)
        assert api(staff, "PATCH", f"review/feedback/{item['id']}/", json={"state": "accepted"}).status_code == 200
        ids.append(item["id"])
    crops = {stored_crop(real_stack, i) for i in ids}
    assert crops <= real_stack.stored_names("faces/")
    assert set(ids) <= {m["id"] for m in export(real_stack, tmp_path / "first")}

    # Carol withdraws from the API (consent false); Dave deletes his account on its page.
    body = {"correct": False, "true_age": 39, "consent_to_train": False}
    assert answer(carol, withdrawn, **body)["kept"] is False
    page = dave.session.get(f"{real_stack.base_url}/accounts/delete/", timeout=30)
    assert page.status_code == 200
    form = {"csrfmiddlewaretoken": dave.session.cookies["csrftoken"], "password": PASSWORD}
    assert dave.session.post(f"{real_stack.base_url}/accounts/delete/", data=form, timeout=30).status_code == 200
    assert crops.isdisjoint(real_stack.stored_names("faces/"))
    assert {i["id"] for i in review_items(staff, state="accepted")}.isdisjoint(ids)
    later = export(real_stack, tmp_path / "second")
    assert {m["id"] for m in later}.isdisjoint(ids)
    assert not any(p.name.endswith((f"_{ids[0]}.jpg", f"_{ids[1]}.jpg")) for p in (tmp_path / "second").iterdir())


def wait_until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_retention_job_on_the_worker_deletes_old_photos_and_keeps_results_and_kept_crops(
    real_stack: Stack,
) -> None:
    erin = person(real_stack)
    old, recent = finished_face(erin), finished_face(erin)
    answer(erin, old, correct=False, true_age=40, consent_to_train=True)
    with psycopg.connect(real_stack.database_url) as conn:
        conn.execute(
            "UPDATE estimator_prediction SET created_at = now() - interval '31 days' WHERE id = %s", (old["id"],)
        )
    photos = real_stack.stored_names("predictions/")
    old_photo, recent_photo = (next(n for n in photos if n.endswith(f"/{p['id']}.jpg")) for p in (old, recent))
    [(feedback_id,)] = real_stack.sql(
        "SELECT fb.id FROM estimator_feedback fb JOIN estimator_face f ON f.id = fb.face_id"
        " WHERE f.prediction_id = %s", old["id"],
    )  # fmt: skip
    crop = stored_crop(real_stack, feedback_id)
    # What Celery beat sends every hour, sent now: the worker deletes the expired photo.
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "ageweb", "call", "estimator.tasks.delete_expired_photos",
         "--queue", "inference"],
        cwd=ROOT, env=real_stack.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    wait_until(lambda: old_photo not in real_stack.stored_names("predictions/"))
    assert recent_photo in real_stack.stored_names("predictions/") and crop in real_stack.stored_names("faces/")
    assert "Deleted 1 photo(s)" in real_stack.log("worker")
    after = erin.get(old["id"])
    assert after["image_url"] is None and after["status"] == "done"
    assert after["faces"][0]["age"] == old["faces"][0]["age"]
    assert api(erin, "GET", f"predictions/{old['id']}/image/").status_code == 404
    assert api(erin, "GET", f"predictions/{old['id']}/faces/0/feedback/").json()["kept"] is True
    # The command for the embedded mode finds nothing more to do.
    assert "Deleted 0 photo(s) older than 30 days." in manage(real_stack, "delete_expired_photos")
