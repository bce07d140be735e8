"""Model versions: the command, the registry and its files, how a change reaches a process, the
shadow, the staff API and the dashboard. The estimators are the fakes of tests/fakes.py, which
take their version (and the age they give) from the registered folder's meta.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.models import User
from estimator.live.frames import frame_estimate
from estimator.loader import load_estimator
from estimator.models import Face, Feedback, ModelVersion, Prediction, ShadowFace
from estimator.predictions import services as prediction_services
from estimator.predictions.services import prediction_create, prediction_run
from estimator.versions import tasks
from estimator.versions.comparison import Pair, Paired, paired, paired_by_band
from estimator.versions.files import ModelFilesDamaged, version_folder
from estimator.versions.services import model_serving, model_version_promote, model_version_shadow
from harness import photos
from tests.fakes import CountingEstimator
from tests.web.conftest import upload
from tests.web.feedback_helpers import make_staff, token_client

pytestmark = pytest.mark.django_db
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "fake-1"
LIST = "/api/v1/models/"


def model_folder(tmp_path: Path, version: str, **meta: Any) -> Path:
    """A trained model folder as ml.training.train exports one, with this version (the fakes
    give ``fake_age`` as every face's age)."""
    folder = tmp_path / "exports" / version
    shutil.copytree(SHIPPED, folder)
    described = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**described, "version": version, **meta}))
    return folder


def command(*args: str) -> str:
    out = StringIO()
    call_command("model", *args, stdout=out)
    return out.getvalue()


def add(tmp_path: Path, version: str, **meta: Any) -> str:
    return command("add", str(model_folder(tmp_path, version, **meta))).strip()


def run(prediction: Prediction, capture: Any) -> Prediction:
    """The task's work, with what it leaves for after the commit (broadcast, shadow) done too."""
    with capture(execute=True):
        prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    return prediction


# The command and the registry


def test_the_shipped_model_is_the_first_active_version_without_any_command() -> None:
    assert command("list") == "fake-1 active\n"
    shipped = ModelVersion.objects.get()
    assert shipped.registered_by == "shipped" and shipped.meta["version"] == "fake-1"
    with default_storage.open("models/fake-1/model.tflite", "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == shipped.files["model.tflite"]["sha256"]


def test_adding_a_folder_prints_its_version_and_keeps_its_files_releases_and_registrar(tmp_path: Path) -> None:
    releases = [{"release": 3, "hash": "ab" * 32, "path": "/exports/3"}]
    assert add(tmp_path, "fake-2", releases=releases) == "fake-2"
    row = ModelVersion.objects.get(version="fake-2")
    assert row.state == "candidate" and row.releases == releases and row.registered_by
    assert set(row.files) == {"meta.json", "model.tflite"}  # model.keras only where the folder has one
    for name, stored in row.files.items():
        with default_storage.open(stored["name"], "rb") as handle:
            assert stored["name"] == f"models/fake-2/{name}"
            assert hashlib.sha256(handle.read()).hexdigest() == stored["sha256"]


def test_adding_the_same_version_twice_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    add(tmp_path, "fake-2")
    with pytest.raises(CommandError, match=r"fake-2 is already registered \(candidate\); give the new model another"):
        command("add", str(model_folder(tmp_path / "again", "fake-2")))
    assert ModelVersion.objects.filter(version="fake-2").count() == 1


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "fake-2")
    (folder / "model.tflite").unlink()
    with pytest.raises(CommandError, match=r"has no model.tflite"):
        command("add", str(folder))
    with pytest.raises(CommandError, match=r"is not a trained model folder"):
        command("add", str(tmp_path / "nowhere"))


def test_list_prints_a_version_and_its_state_on_each_line(tmp_path: Path) -> None:
    add(tmp_path, "fake-2")
    add(tmp_path, "fake-3")
    command("shadow", "fake-3")
    assert command("list").splitlines() == ["fake-1 active", "fake-2 candidate", "fake-3 shadow"]


def test_shadow_promote_and_rollback_move_the_versions_between_states(tmp_path: Path) -> None:
    add(tmp_path, "fake-2")
    add(tmp_path, "fake-3")
    assert command("shadow", "fake-2") == "fake-2 shadow\n"
    assert command("shadow", "fake-3") == "fake-3 shadow\n"  # one shadow at a time
    assert command("shadow", "--off").startswith("No shadow")
    assert command("promote", "fake-3") == "fake-3 active\n"
    assert command("list").splitlines() == ["fake-1 retired", "fake-2 candidate", "fake-3 active"]
    command("shadow", "fake-1")  # a retired version may be scored again
    assert command("promote", "fake-2") == "fake-2 active\n"
    assert command("rollback") == "fake-3 active\n"
    assert command("rollback") == "fake-1 active\n"  # the version active before fake-3; it leaves the shadow
    assert command("list").splitlines() == ["fake-1 active", "fake-2 retired", "fake-3 retired"]
    with pytest.raises(CommandError, match=r"There is no earlier active version to return to."):
        command("rollback")


def test_the_active_version_cannot_be_its_own_shadow_nor_promoted_again(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"fake-1 is the active version; it cannot also be its shadow."):
        command("shadow", "fake-1")
    with pytest.raises(CommandError, match=r"fake-1 is already the active version."):
        command("promote", "fake-1")
    with pytest.raises(CommandError, match=r"No model version fake-9 is registered."):
        command("promote", "fake-9")


# Files and estimators on a host


def test_a_version_is_fetched_into_the_hosts_cache_once_and_checked(tmp_path: Path, settings: Any) -> None:
    add(tmp_path, "fake-2")
    files = ModelVersion.objects.get(version="fake-2").files
    folder = version_folder(version="fake-2", files=files)
    assert folder == Path(settings.AGEWEB_MODEL_CACHE) / "fake-2" and (folder / "model.tflite").is_file()
    with mock.patch.object(default_storage, "open", side_effect=AssertionError("fetched again")):
        assert version_folder(version="fake-2", files=files) == folder
    assert version_folder(version="fake-1", files=ModelVersion.objects.get(version="fake-1").files) == SHIPPED

    shutil.rmtree(folder)  # a new host, and the stored file damaged meanwhile
    default_storage.delete(files["model.tflite"]["name"])
    default_storage.save(files["model.tflite"]["name"], ContentFile(b"something else"))
    with pytest.raises(ModelFilesDamaged, match=r"does not match the SHA-256 recorded when fake-2 was registered"):
        version_folder(version="fake-2", files=files)
    assert not folder.exists()


def test_a_process_keeps_the_estimators_of_the_active_and_shadow_versions_only(
    tmp_path: Path, use_estimator: Callable[[str], None], django_capture_on_commit_callbacks: Any
) -> None:
    use_estimator("CountingEstimator")
    add(tmp_path, "keep-2")
    add(tmp_path, "keep-3")
    with django_capture_on_commit_callbacks(execute=True):
        model_version_shadow(version="keep-2")
    first = load_estimator()  # fake-1's may have been built by an earlier test of this process
    built = CountingEstimator.built
    shadow = load_estimator(model_serving().shadow)
    assert (first.version, shadow.version, CountingEstimator.built) == ("fake-1", "keep-2", built + 1)
    assert load_estimator() is first and load_estimator(model_serving().shadow) is shadow
    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version="keep-3")
    assert load_estimator().version == "keep-3" and CountingEstimator.built == built + 2
    assert load_estimator(model_serving().shadow) is shadow  # still the shadow: kept
    with django_capture_on_commit_callbacks(execute=True):
        command("rollback")
    assert load_estimator().version == "fake-1" and CountingEstimator.built == built + 3  # it had been let go


def test_a_promotion_reaches_load_estimator_within_the_ttl_without_a_restart(
    tmp_path: Path, settings: Any, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGEWEB_MODEL_VERSION_TTL = 5
    add(tmp_path, "fake-2")
    assert load_estimator().version == "fake-1"  # read now, and cached for 5 s
    model_version_promote(version="fake-2")  # committed elsewhere: this process's cached reading stays
    assert load_estimator().version == "fake-1"
    later = time.time() + 5.1  # the cache's clock only
    with mock.patch("django.core.cache.backends.locmem.time", **{"time.return_value": later}):
        assert load_estimator().version == "fake-2"
        prediction = run(
            prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks
        )
    assert prediction.model_version == "fake-2"


def test_the_process_that_promotes_serves_the_new_version_at_once_and_so_does_the_live_page(
    tmp_path: Path, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGEWEB_MODEL_VERSION_TTL = 5
    add(tmp_path, "fake-2")
    assert frame_estimate(frame=photos.face_photo())["model_version"] == "fake-1"
    with django_capture_on_commit_callbacks(execute=True):  # the change deletes the shared cached reading
        model_version_promote(version="fake-2")
    assert frame_estimate(frame=photos.face_photo())["model_version"] == "fake-2"


# The shadow


@pytest.fixture
def shadowed(tmp_path: Path, django_capture_on_commit_callbacks: Any) -> str:
    """fake-2, which gives every face 45 years, in the shadow of fake-1 (about 38)."""
    add(tmp_path, "fake-2", fake_age=45.0)
    with django_capture_on_commit_callbacks(execute=True):
        model_version_shadow(version="fake-2")
    return "fake-2"


def test_the_shadow_scores_the_faces_after_the_answer_is_saved_and_never_changes_what_the_person_sees(
    shadowed: str, user: User, api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    url = f"/api/v1/predictions/{prediction.id}/"
    events: list[str] = []
    seen: list[dict[str, Any]] = []
    shadow_run = tasks.shadow_run

    def shadow_after(**kwargs: Any) -> int:
        events.append(f"shadow, the prediction {Prediction.objects.get(pk=prediction.id).status}")
        seen.append(api.get(url).json())  # what the person sees when the shadow starts
        return shadow_run(**kwargs)

    with (
        mock.patch.object(prediction_services, "prediction_broadcast", side_effect=lambda **k: events.append("sent")),
        mock.patch.object(tasks, "shadow_run", side_effect=shadow_after),
        django_capture_on_commit_callbacks(execute=True),
    ):
        prediction_run(prediction_id=prediction.id)
    assert events == ["sent", "sent", "shadow, the prediction done"]  # sent: running, then done
    prediction.refresh_from_db()
    face = Face.objects.get(prediction=prediction)
    [shadow] = ShadowFace.objects.filter(face=face)
    assert shadow.model_version == "fake-2" and shadow.age == pytest.approx(45.0, abs=0.5)
    assert face.age == pytest.approx(38.0, abs=0.5) and prediction.finished_at is not None
    assert shadow.created_at >= prediction.finished_at
    assert api.get(url).json() == seen[0]
    assert seen[0]["model_version"] == "fake-1" and "fake-2" not in json.dumps(seen[0])


def test_the_shadow_latency_is_measured(shadowed: str, user: User, django_capture_on_commit_callbacks: Any) -> None:
    before = REGISTRY.get_sample_value("ageweb_shadow_latency_seconds_count") or 0.0
    run(prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks)
    assert REGISTRY.get_sample_value("ageweb_shadow_latency_seconds_count") == before + 1


def test_without_a_shadow_nothing_more_is_queued(user: User, django_capture_on_commit_callbacks: Any) -> None:
    with mock.patch("estimator.versions.shadow.dispatch") as dispatch:
        run(prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks)
    dispatch.assert_not_called()
    assert not ShadowFace.objects.exists()


def test_a_shadow_task_for_a_version_no_longer_in_the_shadow_does_nothing(
    shadowed: str, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    with mock.patch("estimator.versions.shadow.dispatch"):  # queued, not yet run
        prediction = run(
            prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks
        )
    with django_capture_on_commit_callbacks(execute=True):
        model_version_shadow(version=None)
    tasks.shadow_estimate(str(prediction.id), shadowed)
    assert not ShadowFace.objects.exists()


def test_a_failing_shadow_is_logged_and_the_persons_result_stays_as_it_was(
    shadowed: str, user: User, use_estimator: Callable[[str], None], django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    use_estimator("ShadowBreaksEstimator")
    prediction = run(
        prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks
    )
    assert "The shadow version fake-2 failed on prediction" in caplog.text
    assert prediction.status == "done" and prediction.faces.count() == 1 and not ShadowFace.objects.exists()


# The staff API

LABELS = (39, 47, 60)  # true ages: fake-1 says about 38, fake-2 about 45


def reviewed(owner: User, reviewer: User, capture: Any, *, label: int) -> Face:
    """An upload answered, then accepted by staff with the person's true age ``label``."""
    face = run(prediction_create(owner=owner, image=upload(photos.face_photo())), capture).faces.get()
    Feedback.objects.create(
        face=face, correct=False, true_age=label, shown_age=face.age, shown_interval=[face.age_low, face.age_high],
        shown_groups=face.groups, model_version=face.prediction.model_version, consent_to_train=True,
        state=Feedback.State.ACCEPTED, reviewer=reviewer,
    )  # fmt: skip
    return face


def test_the_models_api_gives_each_version_its_error_on_reviewed_faces_and_its_shadow(
    shadowed: str, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    staff = make_staff()
    faces = [reviewed(user, staff, django_capture_on_commit_callbacks, label=age) for age in LABELS]
    run(prediction_create(owner=user, image=upload(photos.face_photo())), django_capture_on_commit_callbacks)
    body = token_client(staff).get(LIST).json()
    assert [(v["version"], v["state"]) for v in body] == [("fake-1", "active"), ("fake-2", "shadow")]
    served, shadow = body
    assert set(served) == {"version", "state", "registered_at", "faces_scored", "reviewed", "shadow"}
    served_errors = [abs(f.age - label) for f, label in zip(faces, LABELS, strict=True)]  # about 1, 9, 22
    shadow_errors = [abs(f.shadows.get().age - label) for f, label in zip(faces, LABELS, strict=True)]  # 6, 2, 15
    assert served["faces_scored"] == 4 and shadow["faces_scored"] == 4  # 3 reviewed faces and one more
    assert served["reviewed"] == {"n": 3, "mae": pytest.approx(sum(served_errors) / 3), "cs5": pytest.approx(1 / 3)}
    assert shadow["reviewed"] == {"n": 3, "mae": pytest.approx(sum(shadow_errors) / 3), "cs5": pytest.approx(1 / 3)}
    assert served["shadow"] is None
    assert shadow["shadow"] == {
        "n": 4,
        "mean_shift": pytest.approx(faces[0].shadows.get().age - faces[0].age),
        "mae_vs_active_on_reviewed": pytest.approx((sum(shadow_errors) - sum(served_errors)) / 3),
    }


def test_the_models_api_is_for_staff_only(api: APIClient) -> None:
    assert api.get(LIST).status_code == 403
    assert APIClient().get(LIST).status_code == 401


def test_the_schema_documents_the_models_api(api: APIClient) -> None:
    schema = api.get("/api/v1/schema/?format=json").json()
    item = schema["components"]["schemas"]["ModelVersion"]
    assert set(item["properties"]) == {"version", "state", "registered_at", "faces_scored", "reviewed", "shadow"}
    assert "/api/v1/models/" in schema["paths"]


# The dashboard


def test_a_paired_bootstrap_on_a_small_fixed_data_set() -> None:
    # Served errors 5, 2, 6, 10; the other version's 1, 1, 3, 2: each face 4, 1, 3, 8 years better.
    pairs = [Pair(30, 35, 31), Pair(40, 38, 41), Pair(50, 44, 47), Pair(60, 50, 58)]
    result = paired(pairs)
    assert (result.n, result.served_mae, result.other_mae, result.difference) == (4, 5.75, 1.75, -4.0)
    assert result.low is not None and result.high is not None
    assert -8.0 <= result.low <= -4.0 <= result.high <= -1.0  # between the best and the worst face's
    assert result.shift == pytest.approx((-4 + 3 + 3 + 8) / 4)
    assert paired(pairs) == result  # a fixed seed: the same faces, the same interval
    bands = dict(paired_by_band(pairs))
    assert list(bands) == ["0-2", "3-6", "7-14", "15-23", "24-34", "35-44", "45-59", "60+"]
    one = Paired(n=1, served_mae=5.0, other_mae=1.0, difference=-4.0, low=-4.0, high=-4.0, shift=-4.0)
    assert bands["24-34"] == one and bands["35-44"].difference == -1.0 and bands["0-2"] == Paired(n=0)


@pytest.fixture
def staff_client(db: Any) -> Client:
    client = Client()
    client.force_login(make_staff())
    return client


def test_the_dashboard_puts_the_versions_side_by_side_on_the_same_reviewed_faces_by_age_band(
    shadowed: str, user: User, staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    staff = User.objects.get(is_staff=True)
    faces = [reviewed(user, staff, django_capture_on_commit_callbacks, label=age) for age in LABELS]
    response = staff_client.get("/review/dashboard/")
    comparison = response.context["comparison"]
    assert comparison.version == "fake-2" and comparison.served == ["fake-1"]
    bands = dict(comparison.bands)
    assert [bands[name].n for name in ("24-34", "35-44", "45-59", "60+")] == [0, 1, 1, 1]
    by_face = [abs(f.shadows.get().age - label) - abs(f.age - label) for f, label in zip(faces, LABELS, strict=True)]
    assert comparison.overall.difference == pytest.approx(sum(by_face) / 3)
    assert comparison.overall.low <= comparison.overall.difference <= comparison.overall.high
    assert bands["45-59"].difference == pytest.approx(by_face[1]) and bands["60+"].difference == pytest.approx(
        by_face[2]
    )
    html = response.content.decode()
    assert 'id="comparison-table"' in html and "Promote…" in html and "fake-2" in html


def test_staff_promote_on_the_dashboard_after_a_confirmation_then_roll_back(
    shadowed: str, staff_client: Client
) -> None:
    confirm = staff_client.get("/review/models/fake-2/promote/")
    assert confirm.status_code == 200 and "Promote fake-2?" in confirm.content.decode()
    assert ModelVersion.objects.get(version="fake-2").state == "shadow"  # asking changes nothing
    done = staff_client.post("/review/models/fake-2/promote/", follow=True)
    assert "fake-2 is now the active version" in done.content.decode()
    assert ModelVersion.objects.get(version="fake-2").state == "active"
    assert "Roll back to fake-1…" in done.content.decode()
    assert "Roll back to fake-1?" in staff_client.get("/review/models/rollback/").content.decode()
    staff_client.post("/review/models/rollback/")
    assert ModelVersion.objects.get(state="active").version == "fake-1"


def test_the_promotion_pages_are_not_found_by_others(shadowed: str, logged_in: Client) -> None:
    assert logged_in.get("/review/models/fake-2/promote/").status_code == 404
    assert logged_in.post("/review/models/fake-2/promote/").status_code == 404
    assert ModelVersion.objects.get(version="fake-2").state == "shadow"


def test_a_cache_that_cannot_be_reached_is_skipped_for_the_database(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AGEWEB_MODEL_VERSION_TTL = 5
    with mock.patch("estimator.versions.services.cache.get", side_effect=ConnectionError("Redis is restarting")):
        assert model_serving().active.version == "fake-1"
    assert "The cache could not be reached for the model versions" in caplog.text
