"""Past one machine: two web servers behind nginx and two inference workers, each in a folder
of its own with its own MEDIA_ROOT, sharing only PostgreSQL, Redis and a real S3 server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness import photos
from harness.stack import SiteClient, Stack, private_services_missing, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spread_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = private_services_missing()
    if reason:
        pytest.skip(reason)
    with running_stack(
        workdir=tmp_path_factory.mktemp("spread"), estimator="tests.fakes.SlowFakeEstimator",
        env={"AGEWEB_FAKE_DELAY": "0.3", "WEB_CONCURRENCY": "1"}, production=True,
        object_store=True, separate_folders=True, web_servers=2, worker_processes=2,
    ) as stack:  # fmt: skip
        yield stack


def person(base_url: str) -> SiteClient:
    client = SiteClient(base_url)
    client.sign_up(f"spread_{uuid.uuid4().hex[:8]}")
    return client


def disk_photos(stack: Stack) -> list[str]:
    return [str(p) for root in stack.media_roots() if root.exists() for p in root.rglob("*.jpg")]


def test_every_process_has_a_folder_and_media_root_of_its_own(spread_stack: Stack) -> None:
    roots = spread_stack.media_roots()
    names = {"server", "server-2", "worker", "worker-2", "live", "beat"}
    assert names <= {root.parent.name for root in roots}
    assert len(set(roots)) == len(roots)


def test_a_photo_goes_from_the_web_to_a_worker_through_the_object_store_only(spread_stack: Stack) -> None:
    client = person(spread_stack.base_url)
    prediction_id = client.upload(photos.face_photo()).json()["id"]
    assert client.watch(prediction_id, timeout=60)[-1]["status"] == "done"
    [(image, thumbnail)] = spread_stack.sql(
        "SELECT image, thumbnail FROM estimator_prediction WHERE id = %s", prediction_id
    )
    assert {image, thumbnail} <= spread_stack.stored_names("predictions/")
    assert disk_photos(spread_stack) == []
    photo = requests.get(
        f"{spread_stack.base_url}/api/v1/predictions/{prediction_id}/image/",
        headers={"Authorization": f"Token {client.token}"}, timeout=30,
    )  # fmt: skip
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
    assert requests.delete(
        f"{spread_stack.base_url}/api/v1/predictions/{prediction_id}/",
        headers={"Authorization": f"Token {client.token}"}, timeout=30,
    ).status_code == 204  # fmt: skip
    assert {image, thumbnail}.isdisjoint(spread_stack.stored_names("predictions/"))


def test_a_session_made_on_one_web_server_is_honoured_by_the_other(spread_stack: Stack) -> None:
    first, second = (f"http://127.0.0.1:{port}" for port in spread_stack.ports)
    client = person(first)  # sign-up, log-in and token on the first server only
    profile = client.session.get(f"{second}/accounts/profile/", allow_redirects=False, timeout=30)
    assert profile.status_code == 200 and client.token in profile.text
    prediction_id = client.upload(photos.face_photo()).json()["id"]
    on_second = SiteClient(second)
    on_second.token = client.token
    assert on_second.get(prediction_id)["id"] == prediction_id


def test_both_workers_take_photos_and_nothing_is_lost_behind_two_web_servers(spread_stack: Stack) -> None:
    clients = [person(spread_stack.base_url) for _ in range(4)]

    def three(client: SiteClient) -> list[str]:
        ids = [client.upload(photos.face_photo()).json()["id"] for _ in range(3)]
        return [client.watch(i, timeout=120)[-1]["status"] for i in ids]

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = [s for batch in pool.map(three, clients) for s in batch]
    assert statuses == ["done"] * 12
    ran = {
        name: len(re.findall(r"predict_age\[.*\] succeeded", spread_stack.log(name))) for name in ("worker", "worker-2")
    }
    assert all(count > 0 for count in ran.values()), ran
    for name in ("server", "server-2", "nginx"):
        assert " 500 " not in spread_stack.log(name) and "Traceback" not in spread_stack.log(name)
