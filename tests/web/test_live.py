"""The live webcam websocket, /ws/live/: authentication, frames, the skip policy, limits, tracking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from PIL import Image

from accounts.models import User
from accounts.services import user_token
from ageweb.asgi import application
from estimator import dispatch
from estimator.live import frames
from estimator.models import Prediction
from harness import photos
from tests.web.conftest import CONNECT_S
from tests.web.test_consumers import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
Connect = Callable[[], WebsocketCommunicator]

FRAME = photos.face_photo()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` on an event loop of its own, which ends only once the frames it sent
    have been estimated: a frame's answer posted to an ended loop would wait for good, and
    hold up the end of the test run."""

    async def then_settle() -> None:
        try:
            await scenario()
        finally:
            await dispatch.settle()

    async_to_sync(then_settle)()


@pytest.fixture(autouse=True)
def in_process(settings: Any) -> None:
    """As `make run` does: frames are estimated on threads of this process."""
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = True


@pytest.fixture
def by_token(user: User) -> Callable[[], WebsocketCommunicator]:
    """A program's connection: ``by_token()`` (made before the scenario, which cannot query)."""
    return token_client(user)


def token_client(user: User) -> Callable[[], WebsocketCommunicator]:
    header = f"Token {user_token(user=user).key}".encode()
    return lambda: WebsocketCommunicator(application, "/ws/live/", headers=[(b"authorization", header)])


@pytest.fixture
def by_session(user: User) -> Callable[[], WebsocketCommunicator]:
    headers = [(b"origin", b"http://localhost:8000"), (b"cookie", session_cookie(user))]
    return lambda: WebsocketCommunicator(application, "/ws/live/", headers=headers)


async def closed_with(ws: WebsocketCommunicator) -> int:
    """The close code of a connection the server accepted and then closed."""
    connected, _ = await ws.connect(timeout=CONNECT_S)
    assert connected
    message = await ws.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    code: int = message["code"]
    return code


async def answer(ws: WebsocketCommunicator) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json_from(timeout=10)
    return message


def test_a_program_with_a_token_gets_ages_for_a_frame(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await ws.send_to(bytes_data=FRAME)
        message = await answer(ws)
        assert message["type"] == "result" and message["seq"] == 0
        assert (message["width"], message["height"]) == (640, 480)
        assert message["model_version"] == "fake-1" and message["ms"] >= 0
        (face,) = message["faces"]
        assert face["box"] == {"x": 160, "y": 120, "width": 320, "height": 240}
        assert face["track"] == 1 and 35 < face["age"] < 41
        assert face["interval"][0] < face["age"] < face["interval"][1]
        assert [g["label"] for g in face["groups"]] == ["0-2", "3-6", "7-14", "15-23", "24-34", "35-44", "45-59", "60+"]
        assert sum(g["probability"] for g in face["groups"]) == pytest.approx(1, abs=1e-3)
        await ws.disconnect()

    run(scenario)


def test_a_browser_session_gets_ages_too(by_session: Connect) -> None:
    async def scenario() -> None:
        ws = by_session()
        assert (await ws.connect(timeout=CONNECT_S))[0]
        await ws.send_to(bytes_data=FRAME)
        assert (await answer(ws))["type"] == "result"
        await ws.disconnect()

    run(scenario)


def test_it_closes_with_4401_when_nobody_is_logged_in(db: Any) -> None:
    ws = WebsocketCommunicator(application, "/ws/live/", headers=[(b"origin", b"http://localhost:8000")])
    assert async_to_sync(closed_with)(ws) == 4401


def test_it_closes_with_4401_for_an_unknown_token(db: Any) -> None:
    ws = WebsocketCommunicator(application, "/ws/live/", headers=[(b"authorization", b"Token not-a-real-key")])
    assert async_to_sync(closed_with)(ws) == 4401


def test_a_session_from_another_site_is_refused(user: User) -> None:
    headers = [(b"origin", b"http://evil.example"), (b"cookie", session_cookie(user))]
    ws = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = async_to_sync(ws.connect)()
    assert not connected


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (photos.text_named_jpg(), "not_an_image"),
        (photos.encode(Image.new("RGB", (40, 40)), "GIF"), "unsupported_type"),
        (photos.encode(Image.new("RGB", (1921, 1080)), "PNG"), "too_many_pixels"),
        (photos.encode(Image.new("RGB", (1200, 1200)), "PNG"), "too_many_pixels"),
        (b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024), "too_large"),
    ],
)
def test_a_bad_frame_gets_an_error_and_the_stream_goes_on(by_token: Connect, frame: bytes, code: str) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        await ws.send_to(bytes_data=frame)
        error = await answer(ws)
        assert error["type"] == "error" and error["seq"] == 0 and error["code"] == code and error["message"]
        await ws.send_to(bytes_data=FRAME)
        assert (await answer(ws))["seq"] == 1
        await ws.disconnect()

    run(scenario)


def test_a_portrait_frame_of_1080x1920_is_accepted(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        await ws.send_to(bytes_data=photos.face_photo(1080, 1920))
        assert (await answer(ws))["type"] == "result"
        await ws.disconnect()

    run(scenario)


def test_a_frame_that_cannot_be_decoded_gets_a_damaged_error(by_token: Connect, use_estimator: Any) -> None:
    use_estimator("RefusingEstimator")

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        await ws.send_to(bytes_data=photos.truncated_jpeg())
        error = await answer(ws)
        assert (error["type"], error["seq"], error["code"]) == ("error", 0, "damaged")
        await ws.disconnect()

    run(scenario)


def test_a_text_message_gets_an_error_without_a_frame_number(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        await ws.send_to(text_data='{"hello": "there"}')
        error = await answer(ws)
        assert error["type"] == "error" and error["seq"] is None and error["code"] == "not_a_frame"
        await ws.send_to(bytes_data=FRAME)
        assert (await answer(ws))["seq"] == 0  # text messages are not frames
        await ws.disconnect()

    run(scenario)


def test_a_client_that_waits_for_each_answer_gets_every_frame_answered(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        for seq in range(5):
            await ws.send_to(bytes_data=FRAME)
            message = await answer(ws)
            assert (message["type"], message["seq"]) == ("result", seq)
        await ws.disconnect()

    run(scenario)


def test_a_fast_client_is_never_queued_behind_only_the_newest_frame_waits(
    by_token: Connect, user: User, use_estimator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_estimator("SlowFakeEstimator")
    monkeypatch.setenv("AGEWEB_FAKE_DELAY", "0.5")

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        for _ in range(5):  # all sent while frame 0 is being estimated
            await ws.send_to(bytes_data=FRAME)
        answers = [await answer(ws) for _ in range(5)]
        assert [(a["type"], a["seq"]) for a in answers] == [
            ("skipped", 1),
            ("skipped", 2),
            ("skipped", 3),
            ("result", 0),
            ("result", 4),
        ]
        await ws.disconnect()

    run(scenario)


def test_a_frame_the_workers_never_answer_is_given_up_as_busy(by_token: Connect, settings: Any) -> None:
    settings.AGEWEB_LIVE_FRAME_TIMEOUT = 1

    async def scenario() -> None:
        with mock.patch("estimator.live.frames.frame_dispatch", mock.AsyncMock()):  # a lost frame
            ws = by_token()
            await ws.connect(timeout=CONNECT_S)
            await ws.send_to(bytes_data=FRAME)
            error = await answer(ws)
        assert (error["type"], error["seq"], error["code"]) == ("error", 0, "busy")
        await ws.send_to(bytes_data=FRAME)  # the stream goes on with the next frame
        assert (await answer(ws))["seq"] == 1
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "celery"])
def test_a_frame_whose_estimate_raises_is_answered_failed_at_once(
    by_token: Connect, settings: Any, use_estimator: Any, in_process: bool
) -> None:
    use_estimator("BrokenEstimator")
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = in_process  # False: the test settings run the Celery task eagerly
    settings.AGEWEB_LIVE_FRAME_TIMEOUT = 60  # the watchdog's "busy" would come far too late

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        await ws.send_to(bytes_data=FRAME)
        error = await answer(ws)
        assert (error["type"], error["seq"], error["code"]) == ("error", 0, "failed")
        assert error["message"] == "Something went wrong with this frame."
        await ws.send_to(bytes_data=FRAME)  # the stream goes on
        assert (await answer(ws))["seq"] == 1
        await ws.disconnect()

    run(scenario)


def test_frames_go_through_the_celery_task_when_there_is_a_worker(by_token: Connect, settings: Any) -> None:
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = False  # the test settings run Celery tasks eagerly

    async def scenario() -> None:
        with mock.patch("estimator.live.tasks.frame_estimate", wraps=frames.frame_estimate) as spy:
            ws = by_token()
            await ws.connect(timeout=CONNECT_S)
            await ws.send_to(bytes_data=FRAME)
            message = await answer(ws)
        assert message["type"] == "result" and len(message["faces"]) == 1
        assert spy.call_count == 1
        await ws.disconnect()

    run(scenario)


def test_a_user_may_have_two_live_streams_and_no_third(
    by_session: Connect, by_token: Connect, other_user: User
) -> None:
    for_other_user = token_client(other_user)

    async def scenario() -> None:
        first, second = by_token(), by_session()
        assert (await first.connect(timeout=CONNECT_S))[0] and (await second.connect(timeout=CONNECT_S))[0]
        assert await closed_with(by_token()) == 4409
        someone_else = for_other_user()
        assert (await someone_else.connect(timeout=CONNECT_S))[0]
        await first.send_to(bytes_data=FRAME)
        assert (await answer(first))["type"] == "result"  # the refusal did not disturb the others
        await first.disconnect()
        again = by_token()  # a closed stream frees its place
        assert (await again.connect(timeout=CONNECT_S))[0]
        await again.send_to(bytes_data=FRAME)
        assert (await answer(again))["type"] == "result"
        for ws in (second, someone_else, again):
            await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("sent", [{"bytes_data": FRAME}, {"text_data": "ping"}], ids=["frames", "text"])
def test_more_messages_a_second_than_allowed_close_the_stream_with_4429(
    by_token: Connect, settings: Any, sent: dict[str, Any]
) -> None:
    settings.AGEWEB_LIVE_MAX_FPS = 2

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        for _ in range(3):
            await ws.send_to(**sent)
        messages = []
        while (message := await ws.receive_output(timeout=5))["type"] != "websocket.close":
            messages.append(message)
        assert message["code"] == 4429
        assert len(messages) <= 2

    run(scenario)


def test_text_messages_do_not_keep_an_idle_stream_open(by_token: Connect, settings: Any) -> None:
    settings.AGEWEB_LIVE_IDLE_SECONDS = 1

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < 4:
            await ws.send_to(text_data="still here")
            message = await ws.receive_output(timeout=5)
            if message["type"] == "websocket.close":
                break
            await asyncio.sleep(0.25)  # the client: a text four times a second, never a frame
        assert (message["type"], message.get("code")) == ("websocket.close", 4408)
        assert loop.time() - started < 3

    run(scenario)


def test_an_idle_stream_is_closed_with_4408(by_token: Connect, settings: Any) -> None:
    settings.AGEWEB_LIVE_IDLE_SECONDS = 1

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        message = await ws.receive_output(timeout=5)
        assert (message["type"], message["code"]) == ("websocket.close", 4408)

    run(scenario)


def test_a_face_keeps_its_track_and_its_age_is_smoothed(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        answers = []
        for _ in range(4):
            await ws.send_to(bytes_data=FRAME)
            answers.append((await answer(ws))["faces"][0])
        assert [a["track"] for a in answers] == [1, 1, 1, 1]
        assert [a["frames"] for a in answers] == [1, 2, 3, 4]
        assert [a["steady"] for a in answers] == [False, False, True, True]
        await ws.send_to(bytes_data=photos.face_photo(1280, 720))  # the face jumps: a new track
        assert (await answer(ws))["faces"][0]["track"] == 2
        await ws.disconnect()

    run(scenario)


def test_live_frames_are_never_stored(by_token: Connect) -> None:
    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        for _ in range(3):
            await ws.send_to(bytes_data=FRAME)
            await answer(ws)
        await ws.disconnect()

    run(scenario)
    assert Prediction.objects.count() == 0
    media = Path(django_settings.MEDIA_ROOT)
    stored = [p.relative_to(media) for p in media.rglob("*") if p.is_file()] if media.exists() else []
    assert [p for p in stored if p.parts[0] != "models"] == []  # models/: the model version, registered on first use


def test_answered_frames_are_counted_for_the_metrics(by_token: Connect) -> None:
    from ageweb.metrics import LIVE_FRAMES

    before = LIVE_FRAMES.labels(outcome="result")._value.get()

    async def scenario() -> None:
        ws = by_token()
        await ws.connect(timeout=CONNECT_S)
        for _ in range(2):
            await ws.send_to(bytes_data=FRAME)
            await answer(ws)
        await ws.disconnect()

    run(scenario)
    assert LIVE_FRAMES.labels(outcome="result")._value.get() == before + 2
