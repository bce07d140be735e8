"""Abuse held off: login lock-out, sign-up and reset rates, one upload budget, a cap on waiting photos."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from estimator.models import Prediction
from harness import photos
from tests.web.conftest import PASSWORD, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


def rate(monkeypatch: pytest.MonkeyPatch, scope: str, value: str) -> None:
    # DRF binds the rates dict to its throttles at import time; change that very dict.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, value)


def login(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_the_account_from_that_address_only(user: User) -> None:
    attacker = Client()
    answers = [login(attacker, "alice", "wrong", address="10.0.1.1").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the fifth failure locks
    locked = login(attacker, "alice", PASSWORD, address="10.0.1.1")  # even the right password
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in attacker.session
    owner = Client()  # nobody can lock alice out from where she is
    assert login(owner, "alice", PASSWORD, address="10.0.2.2").status_code == 302


def test_an_address_is_locked_after_five_wrong_passwords_on_any_accounts(user: User, other_user: User) -> None:
    client = Client()
    for name in ["alice", "bob", "carol", "dave", "erin"]:
        login(client, name, "wrong", address="10.0.3.3")
    assert login(client, "bob", PASSWORD, address="10.0.3.3").status_code == 429
    assert login(Client(), "bob", PASSWORD, address="10.0.3.4").status_code == 302  # elsewhere bob still may


def test_a_successful_login_resets_the_count(user: User) -> None:
    client = Client()
    for _ in range(4):
        login(client, "alice", "wrong")
    assert login(client, "alice", PASSWORD).status_code == 302
    for _ in range(4):
        login(Client(), "alice", "wrong")
    assert login(Client(), "alice", PASSWORD).status_code == 302


def test_the_token_api_is_locked_out_too(user: User) -> None:
    api = APIClient()
    for _ in range(5):
        api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    assert "token" not in response.json()


def test_rotating_x_forwarded_for_does_not_escape_the_token_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    rate(monkeypatch, "token", "3/minute")
    api = APIClient()
    answers = [
        api.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json",
                 HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(4)
    ]  # fmt: skip
    assert answers == [400, 400, 400, 429]


def test_sign_ups_are_limited_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    rate(monkeypatch, "signup", "2/hour")
    answers = []
    for i in range(3):
        form = {"username": f"new{i}", "email": f"new{i}@example.com", "password1": PASSWORD, "password2": PASSWORD}
        answers.append(Client().post("/accounts/signup/", form, REMOTE_ADDR="10.9.9.9").status_code)
    assert answers == [302, 302, 429]
    assert User.objects.filter(username="new2").exists() is False
    assert Client().get("/accounts/signup/", REMOTE_ADDR="10.9.9.9").status_code == 200  # reading is free


def test_password_resets_are_limited_per_address(user: User, monkeypatch: pytest.MonkeyPatch, mailoutbox: Any) -> None:
    rate(monkeypatch, "password_reset", "2/hour")
    answers = [
        Client().post("/accounts/password_reset/", {"email": "alice@example.com"}, REMOTE_ADDR="10.8.8.8")
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert answers[2]["Retry-After"]
    assert len(mailoutbox) == 2


def test_the_upload_page_and_the_api_share_one_upload_budget(
    user: User, api: APIClient, logged_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate(monkeypatch, "uploads", "2/minute")
    assert api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}).status_code == 202
    assert logged_in.post("/upload/", {"image": upload(photos.face_photo())}).status_code == 302
    page = logged_in.post("/upload/", {"image": upload(photos.face_photo())})
    assert page.status_code == 429
    assert api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}).status_code == 429
    assert Prediction.objects.count() == 2


def test_one_user_cannot_queue_more_than_the_cap(user: User, api: APIClient, settings: Any) -> None:
    settings.AGEWEB_MAX_UNFINISHED_PER_USER = 2
    # on_commit never fires inside a test's transaction: these stay queued, as behind a long queue
    for _ in range(2):
        assert api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}).status_code == 202
    refused = api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_unfinished"
    assert "2 photos waiting" in refused.json()["error"]["message"]
    assert Prediction.objects.count() == 2
    Prediction.objects.filter(owner=user).update(status=Prediction.Status.DONE)
    assert api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}).status_code == 202


def test_the_upload_page_says_why_when_the_cap_is_reached(user: User, logged_in: Client, settings: Any) -> None:
    settings.AGEWEB_MAX_UNFINISHED_PER_USER = 1
    assert logged_in.post("/upload/", {"image": upload(photos.face_photo())}).status_code == 302
    page = logged_in.post("/upload/", {"image": upload(photos.face_photo())})
    assert page.status_code == 429
    assert b"1 photos waiting" in page.content
    assert list((settings.MEDIA_ROOT / "predictions").rglob("*.jpg")).__len__() == 2  # one photo, one thumbnail


def test_a_sliver_of_an_image_is_refused_with_a_reason_and_no_retry(api: APIClient) -> None:
    response = api.post("/api/v1/predictions/", {"image": upload(photos.sliver_png(), "sliver.png")})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_aspect_ratio"
    assert "1x60000" in error["message"] and "try again" not in error["message"]
    assert not Prediction.objects.exists()


def change_password(client: Client, old: str) -> Any:
    form = {"old_password": old, "new_password1": "a new long passphrase 7", "new_password2": "a new long passphrase 7"}
    return client.post("/accounts/password_change/", form, REMOTE_ADDR="10.0.4.4")


def test_five_wrong_old_passwords_on_the_password_change_lock_further_attempts(user: User, logged_in: Client) -> None:
    answers = [change_password(logged_in, "wrong").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the form again, then the lock-out page
    assert change_password(logged_in, PASSWORD).status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert login(Client(), "alice", PASSWORD, address="10.0.4.4").status_code == 429  # one count with the log in


def test_five_wrong_passwords_on_account_deletion_lock_further_attempts(user: User, logged_in: Client) -> None:
    answers = [
        logged_in.post("/accounts/delete/", {"password": "wrong"}, REMOTE_ADDR="10.0.5.5").status_code for _ in range(5)
    ]
    assert answers == [400, 400, 400, 400, 429]
    assert logged_in.post("/accounts/delete/", {"password": PASSWORD}, REMOTE_ADDR="10.0.5.5").status_code == 429
    assert User.objects.filter(pk=user.pk).exists()
