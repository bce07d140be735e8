"""The websocket consumer: owners get the prediction at once and every change after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import User
from ageweb.asgi import application
from estimator.models import Prediction
from estimator.predictions.services import prediction_create, prediction_delete, prediction_run
from harness import photos
from tests.web.conftest import CONNECT_S, upload

# The consumer reads the database from its own thread, as in production: the test data
# must be committed for it to see, hence transaction=True.
pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(prediction: Prediction, user: User | None, origin: bytes = b"http://localhost:8000") -> Any:
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", session_cookie(user)))
    return WebsocketCommunicator(application, f"/ws/predictions/{prediction.id}/", headers=headers)


@pytest.fixture
def prediction(user: User) -> Prediction:
    with mock.patch("estimator.predictions.services.prediction_enqueue"):  # stays queued until the test runs it
        return prediction_create(owner=user, image=upload(photos.face_photo()))


def test_it_sends_the_owner_the_prediction_on_connect(prediction: Prediction, user: User) -> None:
    ws = communicator(prediction, user)

    async def scenario() -> None:
        connected, _ = await ws.connect(timeout=CONNECT_S)
        assert connected
        message = await ws.receive_json_from(timeout=5)
        assert message["id"] == str(prediction.id)
        assert message["status"] == "queued"
        await ws.disconnect()

    run(scenario)


def test_it_pushes_running_then_done_as_the_worker_goes(prediction: Prediction, user: User) -> None:
    ws = communicator(prediction, user)

    async def scenario() -> None:
        await ws.connect(timeout=CONNECT_S)
        await ws.receive_json_from(timeout=5)  # queued
        await database_sync_to_async(prediction_run)(prediction_id=prediction.id)
        running = await ws.receive_json_from(timeout=5)
        done = await ws.receive_json_from(timeout=5)
        assert running["status"] in {"running", "done"}  # each message is read when it is delivered
        assert done["status"] == "done"
        assert done["faces"][0]["age"] == pytest.approx(38.0, abs=0.1)
        assert [g["label"] for g in done["faces"][0]["groups"]][:2] == ["0-2", "3-6"]
        assert done["image_url"] == f"/api/v1/predictions/{prediction.id}/image/"
        await ws.disconnect()

    run(scenario)


def test_it_refuses_another_users_prediction(prediction: Prediction, other_user: User) -> None:
    ws = communicator(prediction, other_user)

    async def scenario() -> None:
        connected, code = await ws.connect(timeout=CONNECT_S)
        assert (connected, code) == (False, 4404)

    run(scenario)


def test_it_refuses_an_anonymous_visitor(prediction: Prediction) -> None:
    ws = communicator(prediction, None)

    async def scenario() -> None:
        connected, code = await ws.connect(timeout=CONNECT_S)
        assert (connected, code) == (False, 4404)

    run(scenario)


def test_it_refuses_a_page_from_another_site(prediction: Prediction, user: User) -> None:
    ws = communicator(prediction, user, origin=b"http://evil.example")

    async def scenario() -> None:
        connected, _ = await ws.connect(timeout=CONNECT_S)
        assert not connected

    run(scenario)


def test_deleting_a_prediction_closes_its_open_websocket(prediction: Prediction, user: User) -> None:
    ws = communicator(prediction, user)

    async def scenario() -> None:
        await ws.connect(timeout=CONNECT_S)
        await ws.receive_json_from(timeout=5)
        await database_sync_to_async(prediction_delete)(prediction=prediction)  # nobody else broadcasts
        output = await ws.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4404}

    run(scenario)
