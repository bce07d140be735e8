"""Staff review: the API (list, filters, verdicts), who may use it, and the pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from estimator.feedback.consent import feedback_withdraw
from estimator.models import Feedback, Prediction
from tests.web.feedback_helpers import answer, done_prediction, make_staff, token_client
from tests.web.test_api import assert_error

pytestmark = pytest.mark.django_db
LIST = "/api/v1/review/feedback/"


@pytest.fixture
def staff(db: Any) -> User:
    return make_staff()


@pytest.fixture
def staff_api(staff: User) -> APIClient:
    return token_client(staff)


def kept_answer(api: APIClient, owner: User, **body: Any) -> Feedback:
    prediction = done_prediction(owner)
    response = answer(api, prediction, **{"correct": False, "consent_to_train": True, **body})
    assert response.status_code == 201, response.content
    return Feedback.objects.get(face__prediction=prediction)


def test_staff_list_pending_kept_faces_with_what_they_need(api: APIClient, user: User, staff_api: APIClient) -> None:
    feedback = kept_answer(api, user, true_age=50)
    answer(api, done_prediction(user), correct=False, true_age=20, consent_to_train=False)  # numbers only: not listed
    body = staff_api.get(LIST, {"state": "pending"}).json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == feedback.pk and "prediction" not in item  # the crop, never which photo
    assert item["face_index"] == 0 and item["true_age"] == 50 and item["state"] == "pending"
    assert item["estimate"] == pytest.approx(feedback.shown_age) and item["model_version"] == "fake-1"
    assert item["disagreement"] == pytest.approx(abs(feedback.shown_age - 50))
    assert len(item["distribution"]) == 101
    assert item["crop_url"] == f"http://testserver/api/v1/review/feedback/{feedback.pk}/crop/"
    crop = staff_api.get(item["crop_url"])
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    assert b"".join(crop.streaming_content).startswith(b"\xff\xd8")


def test_staff_accept_with_a_corrected_age_and_reject(api: APIClient, user: User, staff: User) -> None:
    first, second = kept_answer(api, user, true_age=50), kept_answer(api, user, true_age=9)
    staff_api = token_client(staff)
    response = staff_api.patch(f"{LIST}{first.pk}/", {"state": "accepted", "corrected_age": 48}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "accepted" and response.json()["corrected_age"] == 48
    assert response.json()["reviewer"] == staff.username and response.json()["reviewed_at"]
    staff_api.patch(f"{LIST}{second.pk}/", {"state": "rejected"}, format="json")
    assert staff_api.get(LIST, {"state": "pending"}).json()["count"] == 0
    assert [i["id"] for i in staff_api.get(LIST, {"state": "accepted"}).json()["results"]] == [first.pk]
    assert [i["id"] for i in staff_api.get(LIST, {"state": "rejected"}).json()["results"]] == [second.pk]
    first.refresh_from_db()
    assert (first.label_age, first.reviewer) == (48, staff)


def test_the_list_filters_by_model_version_and_disagreement(api: APIClient, user: User, staff_api: APIClient) -> None:
    near, far = kept_answer(api, user, true_age=40), kept_answer(api, user, true_age=70)
    Feedback.objects.filter(pk=far.pk).update(model_version="other-2")
    ids = lambda **params: [i["id"] for i in staff_api.get(LIST, params).json()["results"]]  # noqa: E731
    assert ids() == [near.pk, far.pk]
    assert ids(model_version="other-2") == [far.pk]
    assert ids(min_disagreement=10) == [far.pk]
    assert_error(staff_api.get(LIST, {"min_disagreement": "lots"}), 400, "invalid")
    assert_error(staff_api.get(LIST, {"min_disagreement": "nan"}), 400, "invalid")
    assert_error(staff_api.get(LIST, {"state": "maybe"}), 400, "invalid")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"state": "pending"}, "invalid_choice"),
        ({"state": "accepted", "corrected_age": 200}, "max_value"),
        ({}, "required"),
    ],
    ids=["pending", "age-200", "nothing"],
)
def test_a_bad_verdict_gets_a_clear_error(
    api: APIClient, user: User, staff_api: APIClient, body: dict[str, Any], code: str
) -> None:
    feedback = kept_answer(api, user, true_age=40)
    assert_error(staff_api.patch(f"{LIST}{feedback.pk}/", body, format="json"), 400, code)
    feedback.refresh_from_db()
    assert feedback.state == "pending"


def test_a_withdrawn_face_drops_out_of_review(api: APIClient, user: User, staff_api: APIClient) -> None:
    feedback = kept_answer(api, user, true_age=40)
    feedback_withdraw(feedback=feedback)
    assert staff_api.get(LIST).json()["count"] == 0
    response = staff_api.patch(f"{LIST}{feedback.pk}/", {"state": "accepted"}, format="json")
    assert_error(response, 404, "not_found")
    assert_error(staff_api.get(f"{LIST}{feedback.pk}/crop/"), 404, "not_found")


def test_non_staff_cannot_review(api: APIClient, user: User) -> None:
    feedback = kept_answer(api, user, true_age=40)
    assert_error(api.get(LIST), 403, "permission_denied")
    assert_error(api.patch(f"{LIST}{feedback.pk}/", {"state": "accepted"}, format="json"), 403, "permission_denied")
    assert_error(api.get(f"{LIST}{feedback.pk}/crop/"), 403, "permission_denied")
    assert_error(APIClient().get(LIST), 401, "not_authenticated")
    feedback.refresh_from_db()
    assert feedback.state == "pending"


def test_the_review_and_dashboard_pages_are_for_staff_only(logged_in: Client, staff: User) -> None:
    for path in ("/review/", "/review/dashboard/"):
        assert logged_in.get(path).status_code == 404
        assert Client().get(path).status_code == 404
        staff_client = Client()
        staff_client.force_login(staff)
        assert staff_client.get(path).status_code == 200


def test_the_review_page_offers_one_key_actions_and_filters(staff: User) -> None:
    client = Client()
    client.force_login(staff)
    page = client.get("/review/").content.decode()
    for part in ('id="review-accept"', 'id="review-reject"', 'id="review-correct"', 'id="filter-state"',
                 'id="filter-version"', 'id="filter-disagreement"', "js/review.js", "<kbd>A</kbd>"):  # fmt: skip
        assert part in page


def test_the_dashboard_measures_each_model_version_on_accepted_answers(api: APIClient, user: User, staff: User) -> None:
    staff_api = token_client(staff)
    a, b, c = (kept_answer(api, user, true_age=age) for age in (40, 60, 30))
    d = kept_answer(api, user, true_age=None, correct=True)
    for feedback, verdict in ((a, {"state": "accepted"}), (b, {"state": "accepted", "corrected_age": 48}),
                              (c, {"state": "rejected"}), (d, {"state": "accepted"})):  # fmt: skip
        staff_api.patch(f"{LIST}{feedback.pk}/", verdict, format="json")
    kept_answer(api, user, true_age=10)  # pending
    from estimator.feedback.selectors import dashboard_series, dashboard_stats

    [row] = dashboard_stats()
    shown = a.shown_age
    assert row.model_version == "fake-1"
    assert (row.accepted, row.with_age, row.pending, row.rejected, row.answers) == (3, 2, 1, 1, 5)
    assert row.mae == pytest.approx((abs(shown - 40) + abs(shown - 48)) / 2)
    assert row.within5 == pytest.approx(0.5)  # 38 vs 40 within, 38 vs 48 not
    assert row.share_called_right == pytest.approx(1 / 3)
    [point] = dashboard_series()["fake-1"]
    assert point["n"] == 2 and point["mae"] == pytest.approx(round(row.mae, 2))
    client = Client()
    client.force_login(staff)
    page = client.get("/review/dashboard/").content.decode()
    assert "fake-1" in page and f"{row.mae:.2f}" in page and "50%" in page and "33%" in page


def test_the_dashboard_counts_as_pending_only_faces_waiting_for_review(api: APIClient, user: User) -> None:
    from estimator.feedback.consent import feedback_withdraw
    from estimator.feedback.selectors import dashboard_stats

    kept_answer(api, user, true_age=40)  # waiting in the queue
    feedback_withdraw(feedback=kept_answer(api, user, true_age=50))  # withdrawn: never reviewed
    answer(api, done_prediction(user), correct=False, true_age=20, consent_to_train=False)  # numbers only
    [row] = dashboard_stats()
    assert (row.pending, row.answers) == (1, 3)


def test_the_admin_is_useful_and_read_only_for_staff(api: APIClient, user: User, admin_client: Client) -> None:
    feedback = kept_answer(api, user, true_age=40)
    prediction = feedback.face.prediction
    listing = admin_client.get("/admin/estimator/prediction/", {"q": user.username})
    assert listing.status_code == 200 and str(prediction.id) in listing.content.decode()
    assert f"/review/photos/{prediction.id}/" not in listing.content.decode()  # no photo in the list
    assert admin_client.get("/admin/estimator/prediction/add/").status_code == 403
    change = admin_client.get(f"/admin/estimator/prediction/{prediction.id}/change/")
    assert change.status_code == 200 and 'name="status"' not in change.content.decode()
    assert f'href="/review/photos/{prediction.id}/"' in change.content.decode()  # a superuser may, saying why
    feedbacks = admin_client.get("/admin/estimator/feedback/", {"state__exact": "pending"})
    assert feedbacks.status_code == 200 and f"/api/v1/review/feedback/{feedback.pk}/crop/" in feedbacks.content.decode()
    for model in ("datasetrelease", "consentrecord", "photoview", "pendingdeletion"):
        assert admin_client.get(f"/admin/estimator/{model}/").status_code == 200


def test_only_staff_with_the_photo_permission_see_any_photo(logged_in: Client, other_user: User) -> None:
    theirs: Prediction = done_prediction(other_user)
    assert logged_in.get(f"/review/photos/{theirs.id}/").status_code == 404
