"""A changed or reset password, a deactivated or deleted account: every token, session and websocket of it ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from accounts.models import User
from accounts.services import user_delete, user_token
from ageweb.asgi import application
from estimator.predictions.services import prediction_create
from harness import photos
from tests.web.conftest import CONNECT_S, PASSWORD, upload
from tests.web.test_consumers import communicator
from tests.web.test_live import closed_with, token_client

NEW_PASSWORD = "a new long passphrase 7"
REVOKED = 4403


def api_status(key: str) -> int:
    status: int = Client().get("/api/v1/predictions/", HTTP_AUTHORIZATION=f"Token {key}").status_code
    return status


def change_password(client: Client) -> None:
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post("/accounts/password_change/", form).url == "/accounts/password_change/done/"


def reset_password(user: User) -> None:
    """Django's reset link, followed as a person would (the mail itself is tested in test_accounts)."""
    client = Client()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    form_url = client.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/").url
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(form_url, form).url == "/accounts/reset/done/"


def deactivate(user: User) -> None:
    user.is_active = False
    user.save()


@pytest.mark.django_db
def test_changing_my_password_revokes_my_api_token(logged_in: Client, user: User) -> None:
    old = user_token(user=user).key
    assert api_status(old) == 200
    change_password(logged_in)
    assert api_status(old) == 401
    new = user_token(user=user).key  # the profile makes a new one on demand
    assert new != old and api_status(new) == 200


@pytest.mark.django_db
def test_resetting_my_password_revokes_my_api_token(user: User) -> None:
    old = user_token(user=user).key
    reset_password(user)
    assert api_status(old) == 401


@pytest.mark.django_db
def test_deactivating_an_account_revokes_its_token_for_good(user: User) -> None:
    old = user_token(user=user).key
    deactivate(user)
    assert api_status(old) == 401
    user.is_active = True
    user.save()
    assert api_status(old) == 401  # reactivated, the account needs a new token


@pytest.mark.django_db
def test_logging_in_does_not_revoke_my_token(user: User) -> None:
    key = user_token(user=user).key
    assert Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert api_status(key) == 200


@pytest.mark.django_db
def test_changing_my_password_logs_out_my_other_sessions_and_keeps_this_one(logged_in: Client, user: User) -> None:
    elsewhere = Client()
    elsewhere.force_login(user)
    change_password(logged_in)
    assert logged_in.get("/upload/").status_code == 200
    assert elsewhere.get("/upload/").status_code == 302


@pytest.mark.django_db
def test_resetting_my_password_logs_out_every_session(logged_in: Client, user: User) -> None:
    reset_password(user)
    assert logged_in.get("/upload/").status_code == 302


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def closed_by_server(ws: WebsocketCommunicator) -> int:
    message = await ws.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    await ws.disconnect()  # as a client answers a close: the consumer frees its place
    code: int = message["code"]
    return code


@pytest.mark.django_db(transaction=True)
def test_changing_my_password_closes_the_live_stream_my_token_opened(logged_in: Client, user: User) -> None:
    connect = token_client(user)

    async def scenario() -> None:
        ws = connect()
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await database_sync_to_async(change_password)(logged_in)
        assert await closed_by_server(ws) == REVOKED

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_deactivating_an_account_closes_its_result_page_websocket(user: User) -> None:
    with mock.patch("estimator.predictions.services.prediction_enqueue"):  # stays queued: nothing else broadcasts
        prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    ws = communicator(prediction, user)

    async def scenario() -> None:
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await ws.receive_json_from(timeout=5)
        await database_sync_to_async(deactivate)(user)
        assert await closed_by_server(ws) == REVOKED

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_deleting_an_account_closes_its_live_stream(user: User) -> None:
    connect = token_client(user)

    async def scenario() -> None:
        ws = connect()
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await database_sync_to_async(user_delete)(user=user)
        assert await closed_by_server(ws) == REVOKED

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_another_users_password_change_leaves_my_live_stream_open(user: User, other_user: User) -> None:
    connect = token_client(user)

    async def scenario() -> None:
        ws = connect()
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await database_sync_to_async(deactivate)(other_user)
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    run(scenario)


def age_token(user: User, days: int) -> str:
    token = user_token(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - dt.timedelta(days=days))
    return token.key


@pytest.mark.django_db
def test_a_token_older_than_the_ttl_is_refused_with_a_clear_message(user: User, settings: Any) -> None:
    settings.AGEWEB_TOKEN_TTL_DAYS = 30
    assert api_status(age_token(user, 29)) == 200
    key = age_token(user, 31)
    response = Client().get("/api/v1/predictions/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "token_expired"
    assert error["message"] == (
        "This API token is older than 30 days and has expired; get a new one from your profile "
        "or from POST /api/v1/auth/token/."
    )


@pytest.mark.django_db
def test_without_a_ttl_a_token_never_expires(user: User, settings: Any) -> None:
    settings.AGEWEB_TOKEN_TTL_DAYS = 0
    assert api_status(age_token(user, 3650)) == 200


@pytest.mark.django_db
def test_an_expired_token_is_replaced_when_i_ask_for_mine(user: User, settings: Any) -> None:
    settings.AGEWEB_TOKEN_TTL_DAYS = 30
    old = age_token(user, 31)
    response = Client().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    new = response.json()["token"]
    assert new != old and api_status(new) == 200


@pytest.mark.django_db(transaction=True)
def test_the_live_websocket_refuses_an_expired_token(user: User, settings: Any) -> None:
    settings.AGEWEB_TOKEN_TTL_DAYS = 30
    age_token(user, 31)
    header = f"Token {Token.objects.get(user=user).key}".encode()
    ws = WebsocketCommunicator(application, "/ws/live/", headers=[(b"authorization", header)])
    assert async_to_sync(closed_with)(ws) == 4401
