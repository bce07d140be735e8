"""Consent has a history: every consent given or withdrawn is a record that is never changed,
shown on My data and included in the download."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from estimator.feedback.consent import feedback_withdraw_all
from estimator.models import ConsentRecord, Feedback
from tests.web.feedback_helpers import answer, done_prediction, downloaded, feedback_url

pytestmark = pytest.mark.django_db


def history(feedback: Feedback) -> list[tuple[str, str]]:
    return [(r.action, r.consent_version) for r in ConsentRecord.objects.filter(face=feedback.face_id)]


def test_giving_withdrawing_and_giving_again_leaves_three_records_in_order(
    logged_in: Client, api: APIClient, user: User, settings: Any
) -> None:
    prediction = done_prediction(user)
    settings.AGEWEB_CONSENT_VERSION = "v1"
    answer(api, prediction, correct=True, consent_to_train=True)
    feedback = Feedback.objects.get()
    logged_in.post(f"/my-data/withdraw/{feedback.pk}/")
    settings.AGEWEB_CONSENT_VERSION = "v2"
    body = answer(api, prediction, correct=True, consent_to_train=True).json()
    assert history(feedback) == [("given", "v1"), ("withdrawn", "v1"), ("given", "v2")]
    records = list(ConsentRecord.objects.all())
    assert all(r.owner == user for r in records)
    assert records[0].at <= records[1].at <= records[2].at
    # the answer's own fields stay, in step with the last record
    assert body["consent_to_train"] is True and body["consent_version"] == "v2"
    assert body["consented_at"] == records[2].at.isoformat().replace("+00:00", "Z") and body["withdrawn_at"] is None


def test_answering_again_with_consent_already_given_adds_no_record(api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    answer(api, prediction, correct=False, true_age=50, consent_to_train=True)
    assert history(Feedback.objects.get()) == [("given", Feedback.objects.get().consent_version)]


def test_every_way_of_taking_consent_back_is_recorded(api: APIClient, user: User) -> None:
    by_answer, by_all, by_deleting = (done_prediction(user) for _ in range(3))
    for prediction in (by_answer, by_all, by_deleting):
        answer(api, prediction, correct=True, consent_to_train=True)
    answer(api, by_answer, correct=True, consent_to_train=False)  # answering again without it
    feedback_withdraw_all(owner=user)
    api.delete(feedback_url(by_deleting))  # the answer goes; its consent history stays
    actions = {
        prediction.pk: [r.action for r in ConsentRecord.objects.filter(face__prediction=prediction)]
        for prediction in (by_answer, by_all, by_deleting)
    }
    assert set(map(tuple, actions.values())) == {("given", "withdrawn")}
    assert Feedback.objects.count() == 2


def test_my_data_shows_each_faces_consent_history(logged_in: Client, api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    logged_in.post(f"/my-data/withdraw/{Feedback.objects.get().pk}/")
    page = logged_in.get("/my-data/").content.decode()
    given = ConsentRecord.objects.first()
    assert given is not None
    row = page.split('class="consent-history"')[1].split("</ol>")[0]
    assert "Given" in row and "Withdrawn" in row and given.consent_version in row
    assert row.index("Given") < row.index("Withdrawn")


def test_the_download_holds_the_consent_history(logged_in: Client, api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    logged_in.post(f"/my-data/withdraw/{Feedback.objects.get().pk}/")
    archive = downloaded(logged_in)
    face = json.loads(archive.read("data.json"))["predictions"][0]["faces"][0]
    records = list(ConsentRecord.objects.all())
    assert face["consent_history"] == [
        {"action": r.action, "consent_version": r.consent_version, "at": str(r.at)} for r in records
    ]
