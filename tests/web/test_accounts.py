"""Accounts: sign up, log in and out, passwords, the API token, deleting everything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts.models import User
from accounts.services import user_token
from ageweb.celery import app as celery_app
from estimator.models import Prediction
from estimator.predictions.services import prediction_create
from harness import photos
from tests.web.conftest import PASSWORD, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    cache.clear()  # sign-ups are rated per address, and every test here signs up from the same one


def test_signing_up_logs_me_in_and_takes_me_to_the_upload_page(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.url == "/upload/"
    assert client.get("/upload/").status_code == 200
    assert User.objects.get(username="carol").email == "carol@example.com"


def page_text(response: Any) -> str:
    """The page, less its CSRF token (new on every page)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def sign_up(username: str, email: str, password: str = PASSWORD) -> Any:
    form = {"username": username, "email": email, "password1": password, "password2": password}
    return Client().post("/accounts/signup/", form, follow=True)


def test_sign_up_refuses_a_weak_password(client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "dave", "email": "dave@example.com", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert "This password is too short." in response.content.decode()
    assert not User.objects.filter(username="dave").exists()


def test_a_weak_password_is_said_under_the_password_and_the_page_opens_there(client: Client) -> None:
    weak = {"username": "dave", "password1": "123", "password2": "123"}
    page = client.post("/accounts/signup/", weak).content.decode()
    password1 = page[page.index('for="id_password1"') : page.index('for="id_password2"')]
    assert "This password is too short." in password1 and "too short" not in page[page.index('for="id_password2"') :]
    assert re.search(r'<input type="password" name="password1"[^>]*autofocus', page)
    assert not re.search(r'<input type="text" name="username"[^>]*autofocus', page)


def test_sign_up_explains_its_fields_in_plain_words(client: Client) -> None:
    page = client.get("/accounts/signup/").content.decode()
    assert "150 characters or fewer" not in page and "Your password can\u2019t be" not in page
    assert "letters, digits and @ . + - _" in page and "Password again" in page


@pytest.mark.parametrize("password", [PASSWORD, "123"])
def test_sign_up_answers_alike_whether_or_not_the_email_has_an_account(user: User, password: str) -> None:
    taken = sign_up("dave", "ALICE@example.com", password)
    free = sign_up("erin", "erin@example.com", password)
    assert taken.status_code == free.status_code
    assert taken.redirect_chain == free.redirect_chain
    assert page_text(taken).replace("dave", "erin").replace("ALICE@example.com", "erin@example.com") == page_text(free)


def test_signing_up_with_a_taken_email_tells_its_owner_by_mail(
    user: User, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the test settings run queued tasks at once
        sign_up("dave", "ALICE@example.com")
        sign_up("erin", "erin@example.com")
    assert User.objects.get(username="dave").email == "ALICE@example.com"  # dave can sign up all the same
    (notice,) = mailoutbox
    assert notice.to == ["ALICE@example.com"]
    assert '"dave"' in notice.body and '"alice"' in notice.body
    assert "http://testserver/accounts/password_reset/" in notice.body


def test_a_password_reset_request_does_no_mail_work_whoever_the_address_belongs_to(
    user: User, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)  # queued, with no worker to run it
    known = Client().post("/accounts/password_reset/", {"email": "alice@example.com"})
    unknown = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert (
        (known.status_code, known.url) == (unknown.status_code, unknown.url) == (302, "/accounts/password_reset/done/")
    )
    assert mailoutbox == []


def test_sign_up_needs_no_email_and_says_what_one_is_for(client: Client) -> None:
    page = client.get("/accounts/signup/").content.decode()
    assert "Optional. Used only to send you a link if you forget your password" in page
    response = client.post(
        "/accounts/signup/", {"username": "erin", "email": "", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.url == "/upload/"
    assert User.objects.get(username="erin").email == ""


def password_values(response: Any) -> dict[str, str | None]:
    """Each password input's value attribute as rendered (None: the field is empty)."""
    page = response.content.decode()
    values: dict[str, str | None] = {}
    for name in ("password1", "password2"):
        tag = re.search(rf'<input type="password" name="{name}"[^>]*>', page)
        assert tag, f"no {name} input"
        value = re.search(r'value="([^"]*)"', tag[0])
        values[name] = value[1] if value else None
    return values


def test_a_taken_username_keeps_the_passwords_typed(client: Client, user: User) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "alice", "email": "", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 400
    assert "A user with that username already exists." in response.content.decode()
    assert password_values(response) == {"password1": PASSWORD, "password2": PASSWORD}


def test_passwords_that_were_the_problem_are_cleared(client: Client) -> None:
    weak = client.post("/accounts/signup/", {"username": "dave", "password1": "123", "password2": "123"})
    unequal = client.post("/accounts/signup/", {"username": "dave", "password1": PASSWORD, "password2": PASSWORD + "x"})
    assert password_values(weak) == password_values(unequal) == {"password1": None, "password2": None}


def test_a_form_error_is_marked_on_its_field(client: Client, user: User) -> None:
    page = client.post(
        "/accounts/signup/", {"username": "alice", "email": "", "password1": PASSWORD, "password2": PASSWORD}
    ).content.decode()
    assert re.search(r'<ul class="errorlist"[^>]*><li>A user with that username already exists.</li></ul>', page)
    assert re.search(r'<input type="text" name="username"[^>]*aria-invalid="true"', page)


def test_a_logged_out_visit_to_a_private_page_says_why_it_asks_to_log_in(client: Client) -> None:
    response = client.get("/predictions/", follow=True)
    assert response.redirect_chain == [("/accounts/login/?next=/predictions/", 302)]
    assert "Please log in to see that page." in response.content.decode()
    assert "Please log in to see that page." not in client.get("/accounts/login/").content.decode()


def test_logging_in_and_out(client: Client, user: User) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.url == "/upload/"
    assert client.post("/accounts/logout/").url == "/"
    assert client.get("/upload/").status_code == 302


def test_a_wrong_password_does_not_log_in(client: Client, user: User) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_changing_my_password(logged_in: Client, user: User) -> None:
    response = logged_in.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long passphrase 7",
            "new_password2": "a new long passphrase 7",
        },
    )
    assert response.url == "/accounts/password_change/done/"
    user.refresh_from_db()
    assert user.check_password("a new long passphrase 7")


def test_resetting_a_forgotten_password_by_email(client: Client, user: User) -> None:
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    form_url = client.get(link[1]).url  # Django swaps the token for a session, then redirects
    response = client.post(
        form_url, {"new_password1": "brand new passphrase 8", "new_password2": "brand new passphrase 8"}
    )
    assert response.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password("brand new passphrase 8")


def test_the_profile_shows_my_api_token_and_a_whole_curl_example(logged_in: Client, user: User) -> None:
    page = logged_in.get("/accounts/profile/").content.decode()
    key = user_token(user=user).key
    assert f'<pre class="token" id="api-token">{key}</pre>' in page
    example = re.search(r'<pre class="code" id="curl-example">(.*?)</pre>', page, re.S)
    assert example, "no curl example"
    assert example[1].splitlines() == [
        f"TOKEN={key}",
        'curl -H "Authorization: Token $TOKEN" \\',
        "     -F image=@photo.jpg \\",
        "     http://testserver/api/v1/predictions/",
    ]


def test_making_a_new_token_retires_the_old_one(logged_in: Client, user: User) -> None:
    old = user_token(user=user).key
    assert logged_in.post("/accounts/token/regenerate/").url == "/accounts/profile/"
    new = Token.objects.get(user=user).key
    assert new != old
    assert Client().get("/api/v1/predictions/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert Client().get("/api/v1/predictions/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200


def test_deleting_my_account_needs_my_password(logged_in: Client, user: User) -> None:
    response = logged_in.post("/accounts/delete/", {"password": "wrong"})
    assert response.status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


def test_deleting_my_account_removes_my_photos_and_predictions(
    logged_in: Client, user: User, other_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    mine = prediction_create(owner=user, image=upload(photos.face_photo()))
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/accounts/delete/", {"password": PASSWORD})
    assert response.url == "/"
    assert not User.objects.filter(pk=user.pk).exists()
    assert list(Prediction.objects.all()) == [theirs]
    assert not Path(mine.image.path).exists() and Path(theirs.image.path).exists()
    assert logged_in.get("/upload/").status_code == 302  # logged out
