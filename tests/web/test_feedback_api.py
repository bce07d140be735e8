"""The feedback API: one answer per face, its snapshot, consent and the kept crop, errors."""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError, connection
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from estimator.models import Feedback, Prediction
from harness import photos
from ml import faces
from ml.inference import shipped_spec
from tests.web.feedback_helpers import answer, done_prediction, feedback_url, media_files, token_client
from tests.web.test_api import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def prediction(user: User) -> Prediction:
    return done_prediction(user)


def test_an_answer_is_stored_with_a_snapshot_of_what_was_shown(api: APIClient, prediction: Prediction) -> None:
    response = answer(api, prediction, correct=False, true_age=45, consent_to_train=False)
    assert response.status_code == 201, response.content
    body = response.json()
    face = prediction.faces.get()
    assert body["prediction"] == str(prediction.id) and body["face_index"] == 0
    assert (body["correct"], body["true_age"], body["consent_to_train"], body["kept"]) == (False, 45, False, False)
    assert body["shown_age"] == pytest.approx(face.age)
    assert body["shown_interval"] == [face.age_low, face.age_high]
    assert body["shown_groups"] == face.groups
    assert body["model_version"] == "fake-1" and body["state"] == "pending"
    assert api.get(feedback_url(prediction)).json() == body


def test_posting_again_replaces_the_answer(api: APIClient, prediction: Prediction) -> None:
    answer(api, prediction, correct=False, true_age=45)
    response = answer(api, prediction, correct=True, true_age=None)
    assert response.status_code == 201
    assert Feedback.objects.count() == 1
    assert api.get(feedback_url(prediction)).json()["correct"] is True
    assert api.get(feedback_url(prediction)).json()["true_age"] is None


def test_no_without_an_age_is_fine(api: APIClient, prediction: Prediction) -> None:
    response = answer(api, prediction, correct=False)
    assert response.status_code == 201
    assert response.json()["true_age"] is None and response.json()["consent_to_train"] is False


def test_without_consent_only_numbers_are_kept(api: APIClient, prediction: Prediction) -> None:
    answer(api, prediction, correct=False, true_age=30, consent_to_train=False)
    assert Feedback.objects.get().crop.name == ""
    assert media_files("faces") == []


def test_consent_keeps_the_aligned_training_crop_apart_from_the_photo(
    api: APIClient, prediction: Prediction, settings: Any
) -> None:
    settings.AGEWEB_CONSENT_VERSION = "v-test"
    body = answer(api, prediction, correct=False, true_age=41, consent_to_train=True).json()
    assert body["kept"] is True and body["consent_version"] == "v-test" and body["consented_at"]
    feedback = Feedback.objects.get()
    assert feedback.crop.name.startswith("faces/") and feedback.crop.name.endswith(".jpg")
    assert media_files("faces") == [Path(feedback.crop.path)]
    assert len(media_files("predictions")) == 2  # the photo and its thumbnail, untouched
    spec = shipped_spec()
    margin, size = spec.margin, spec.input_size
    with feedback.crop.open("rb") as stored:
        kept = np.asarray(Image.open(io.BytesIO(stored.read())).convert("RGB"), np.float64)
    # The same crop the model's training pipeline cuts from the stored photo, through ml.faces.
    face = prediction.faces.get()
    with prediction.image.open("rb") as photo:
        expected = faces.crop_face(
            faces.decode(photo.read()),
            faces.Detection(box=tuple(map(round, face.crop_box)), landmarks=tuple(map(tuple, face.landmarks)),
                       score=face.detection_score),
            margin=margin,
            size=size,
        )  # fmt: skip
    assert kept.shape == (size, size, 3)
    assert np.abs(kept - expected).mean() < 3  # JPEG's loss only


def test_the_stored_photo_its_thumbnail_and_the_kept_crop_hold_no_metadata(api: APIClient, user: User) -> None:
    prediction = done_prediction(user, photos.with_metadata("JPEG"))
    answer(api, prediction, correct=True, consent_to_train=True)
    for field in (prediction.image, prediction.thumbnail, Feedback.objects.get().crop):
        with field.open("rb") as stored:
            data = stored.read()
        assert [hex(m) for m in photos.jpeg_markers(data) if 0xE1 <= m <= 0xEF or m == 0xFE] == [], field.name
        assert photos.SECRET.encode() not in data


def test_taking_consent_back_deletes_the_crop_and_keeps_the_numbers(
    api: APIClient, prediction: Prediction, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, prediction, correct=False, true_age=41, consent_to_train=True)
    [crop] = media_files("faces")
    with django_capture_on_commit_callbacks(execute=True):
        body = answer(api, prediction, correct=False, true_age=41, consent_to_train=False).json()
    assert body["kept"] is False and body["withdrawn_at"] and body["true_age"] == 41
    assert not crop.exists()


def _crop_writes() -> Any:
    """Counts every file the storage writes (kept crops are the only ones an answer writes)."""
    return mock.patch.object(FileSystemStorage, "_save", autospec=True, side_effect=FileSystemStorage._save)


def test_answering_again_with_consent_kept_cuts_no_new_crop(
    api: APIClient, prediction: Prediction, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, prediction, correct=True, consent_to_train=True)
    [crop] = media_files("faces")
    with _crop_writes() as writes, django_capture_on_commit_callbacks(execute=True):
        for body in ({"correct": True}, {"correct": False, "true_age": 44}, {"correct": False, "true_age": 45}):
            assert answer(api, prediction, consent_to_train=True, **body).status_code == 201
    assert writes.call_count == 0
    assert media_files("faces") == [crop] and Feedback.objects.get().crop.name.endswith(crop.name)


def test_consent_given_again_cuts_one_crop_and_leaves_no_other(
    api: APIClient, prediction: Prediction, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer(api, prediction, correct=True, consent_to_train=True)
        answer(api, prediction, correct=True, consent_to_train=False)
    assert media_files("faces") == []  # withdrawn: deleted
    with _crop_writes() as writes, django_capture_on_commit_callbacks(execute=True):
        answer(api, prediction, correct=True, consent_to_train=True)
        answer(api, prediction, correct=True, consent_to_train=True)
    assert writes.call_count == 1
    assert media_files("faces") == [Path(Feedback.objects.get().crop.path)]


@pytest.mark.django_db(transaction=True)
def test_a_crop_whose_answer_fails_to_commit_is_deleted(api: APIClient, prediction: Prediction) -> None:
    with mock.patch.object(connection, "commit", side_effect=OperationalError("the connection was lost")):
        response = answer(api, prediction, correct=True, consent_to_train=True)
    assert_error(response, 503, "unavailable")
    assert not Feedback.objects.exists()
    assert media_files("faces") == []  # not left behind without its row


@pytest.mark.postgresql
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks: make test runs it on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_first_answers_at_once_are_both_stored_one_after_the_other(user: User, prediction: Prediction) -> None:
    # Each answer waits here, after looking for an earlier one, for the other (one second at
    # most: when the first holds a lock the second waits on, they never meet).
    both_looked = threading.Barrier(2)
    real_save = Feedback.save

    def save_when_both_looked(feedback: Feedback, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait(timeout=1)
        real_save(feedback, *args, **kwargs)

    statuses: list[int] = []

    def post(correct: bool) -> None:
        client = token_client(user)
        client.raise_request_exception = False  # a 500, as a client would see it
        try:
            statuses.append(answer(client, prediction, correct=correct, consent_to_train=True).status_code)
        finally:
            connection.close()

    with mock.patch.object(Feedback, "save", save_when_both_looked):
        threads = [threading.Thread(target=post, args=(correct,)) for correct in (True, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert statuses == [201, 201]
    feedback = Feedback.objects.get()
    assert media_files("faces") == [Path(feedback.crop.path)]  # one crop, cut once


def test_deleting_the_answer_removes_it_and_its_crop(
    api: APIClient, prediction: Prediction, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, prediction, correct=True, consent_to_train=True)
    [crop] = media_files("faces")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(feedback_url(prediction))
    assert response.status_code == 204
    assert not Feedback.objects.exists() and not crop.exists()
    assert_error(api.get(feedback_url(prediction)), 404, "not_found")
    assert_error(api.delete(feedback_url(prediction)), 404, "not_found")


def test_another_users_prediction_is_not_found(api: APIClient, other_user: User) -> None:
    theirs = done_prediction(other_user)
    assert_error(answer(api, theirs, correct=True), 404, "not_found")
    assert_error(api.get(feedback_url(theirs)), 404, "not_found")
    assert_error(api.delete(feedback_url(theirs)), 404, "not_found")
    assert not Feedback.objects.exists()


def test_feedback_needs_an_account(prediction: Prediction) -> None:
    assert_error(answer(APIClient(), prediction, correct=True), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"correct": False, "true_age": 117}, "max_value", "The real age must be a whole number from 0 to 116."),
        ({"correct": False, "true_age": -1}, "min_value", "The real age must be a whole number from 0 to 116."),
        ({"correct": False, "true_age": "forty"}, "invalid", "The real age must be a whole number from 0 to 116."),
        ({"true_age": 40}, "required", "This field is required."),
        ({"correct": "maybe"}, "invalid", "Must be a valid boolean."),
    ],
    ids=["117", "negative", "words", "no-correct", "not-a-boolean"],
)
def test_bad_values_get_a_clear_error(
    api: APIClient, prediction: Prediction, body: dict[str, Any], code: str, message: str
) -> None:
    assert_error(answer(api, prediction, **body), 400, code, message)
    assert not Feedback.objects.exists()


def test_an_unknown_face_gets_a_clear_error(api: APIClient, prediction: Prediction) -> None:
    assert_error(answer(api, prediction, 3, correct=True), 400, "no_such_face", "This photo has no face number 3.")


def test_an_unfinished_prediction_cannot_be_answered_yet(api: APIClient, user: User) -> None:
    from estimator.predictions.services import prediction_create
    from harness import photos
    from tests.web.conftest import upload

    queued = prediction_create(owner=user, image=upload(photos.face_photo()))
    assert_error(answer(api, queued, correct=True), 400, "not_finished")


def test_consent_after_the_photo_was_deleted_is_refused_and_nothing_is_saved(
    api: APIClient, prediction: Prediction
) -> None:
    Prediction.objects.filter(pk=prediction.pk).update(image="")
    assert_error(answer(api, prediction, correct=True, consent_to_train=True), 400, "photo_deleted")
    assert not Feedback.objects.exists()
    assert answer(api, prediction, correct=True, consent_to_train=False).status_code == 201


def test_a_changed_answer_goes_back_to_review(api: APIClient, prediction: Prediction, user: User) -> None:
    answer(api, prediction, correct=False, true_age=50, consent_to_train=True)
    Feedback.objects.update(state="accepted", corrected_age=52, reviewer=user)
    answer(api, prediction, correct=False, true_age=50, consent_to_train=True)  # the same answer: kept as reviewed
    assert Feedback.objects.get().state == "accepted"
    answer(api, prediction, correct=False, true_age=55, consent_to_train=True)
    feedback = Feedback.objects.get()
    assert (feedback.state, feedback.corrected_age, feedback.reviewer) == ("pending", None, None)


def test_the_schema_documents_the_feedback_and_review_paths(api: APIClient) -> None:
    paths = api.get("/api/v1/schema/?format=json").json()["paths"]
    assert set(paths["/api/v1/predictions/{prediction_id}/faces/{index}/feedback/"]) >= {"get", "post", "delete"}
    assert "get" in paths["/api/v1/review/feedback/"]
    assert "patch" in paths["/api/v1/review/feedback/{feedback_id}/"]


def test_a_face_without_landmarks_cannot_be_kept_and_says_so(api: APIClient, prediction: Prediction) -> None:
    prediction.faces.update(landmarks=[])
    assert_error(answer(api, prediction, correct=True, consent_to_train=True), 400, "cannot_keep")
    assert not Feedback.objects.exists() and media_files("faces") == []
