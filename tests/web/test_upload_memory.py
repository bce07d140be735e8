"""What decoding uploads costs a web process: a few decodes at once, each bounded in memory
however large the accepted photo; the rest wait their turn a while, then get a 503."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from estimator import images
from estimator.images import DecodersBusy, image_clean
from estimator.models import Prediction
from harness import photos
from tests.web.conftest import upload
from tests.web.test_api import assert_error

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

# Runs in a fresh process, so that its resident memory holds nothing but Django and the
# uploads: decodes one small photo first (imports, allocator pools), then the given files
# from one thread each, all at once, and reports the growth of its peak resident memory.
# The peak is VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts at its parent's
# resident size (Linux keeps it across fork and exec), which would hide the growth here.
UPLOAD_AT_ONCE = """
import json, sys, threading
import django
django.setup()
from estimator.images import DecodersBusy, image_clean
from django.core.exceptions import ValidationError

def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

image_clean(open(sys.argv[1], "rb").read())
before = peak_kb()
answers = []

def upload(path):
    try:
        answers.append(["stored", image_clean(open(path, "rb").read()).width])
    except (DecodersBusy, ValidationError) as error:
        answers.append(["refused", str(error)])

threads = [threading.Thread(target=upload, args=(path,)) for path in sys.argv[2:]]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"growth_kb": peak_kb() - before, "answers": answers}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from Linux's /proc")
def test_three_40_megapixel_16_bit_tiffs_at_once_take_at_most_400_mb(tmp_path: Path) -> None:
    warm_up = tmp_path / "small.tif"
    warm_up.write_bytes(photos.sixteen_bit_tiff(640, 480))
    uploads = []
    for index in range(3):
        path = tmp_path / f"big{index}.tif"
        path.write_bytes(photos.sixteen_bit_tiff(8000, 5000, level=20000 + index))  # 40 megapixels, 80 MB decoded
        assert path.stat().st_size < 200 * 1024
        uploads.append(str(path))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ageweb.settings.test", "AGEWEB_DECODE_WAIT_SECONDS": "60"}
    run = subprocess.run(
        [sys.executable, "-c", UPLOAD_AT_ONCE, str(warm_up), *uploads],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    growth = report["growth_kb"] * 1024
    print(f"three 40-megapixel 16-bit TIFFs at once: peak resident memory grew by {growth / MB:.0f} MB")
    assert report["answers"] == [["stored", 2560]] * 3
    assert growth <= 400 * MB, f"{growth / MB:.0f} MB"


@contextmanager
def decodes_held(count: int) -> Iterator[None]:
    """``count`` uploads decoding on threads of their own, each held inside its decode slot
    until the block ends."""
    inside, release = threading.Semaphore(0), threading.Event()
    real_to_rgb = images.to_rgb

    def held_to_rgb(image: Image.Image, **kwargs: Any) -> Image.Image:
        inside.release()
        assert release.wait(timeout=30), "never released"
        return real_to_rgb(image, **kwargs)

    with mock.patch.object(images, "to_rgb", held_to_rgb):
        threads = [threading.Thread(target=image_clean, args=(photos.plain_jpeg(),)) for _ in range(count)]
        for thread in threads:
            thread.start()
        for _ in threads:
            assert inside.acquire(timeout=30), "a decode never started"
        try:
            yield
        finally:
            release.set()
            for thread in threads:
                thread.join(timeout=30)


@pytest.fixture
def two_decodes_no_wait(settings: Any) -> None:
    settings.AGEWEB_MAX_DECODES = 2
    settings.AGEWEB_DECODE_WAIT_SECONDS = 0


def test_a_third_decode_is_refused_while_two_are_running(two_decodes_no_wait: None) -> None:
    with decodes_held(2), pytest.raises(DecodersBusy):
        image_clean(photos.plain_jpeg())
    assert image_clean(photos.plain_jpeg()).width == 320  # the slots are free again


def test_a_waiting_decode_goes_on_as_soon_as_a_slot_frees(settings: Any) -> None:
    settings.AGEWEB_MAX_DECODES, settings.AGEWEB_DECODE_WAIT_SECONDS = 1, 30
    results: list[int] = []
    slots, asking = images._decode_slots(1), threading.Event()
    real_acquire = slots.acquire

    def acquire(*args: Any, **kwargs: Any) -> bool:
        asking.set()
        return real_acquire(*args, **kwargs)

    with decodes_held(1), mock.patch.object(slots, "acquire", acquire):
        waiting = threading.Thread(target=lambda: results.append(image_clean(photos.plain_jpeg()).width))
        waiting.start()
        assert asking.wait(timeout=30)  # it asks for the one slot while that is taken
        assert results == []
    waiting.join(timeout=30)
    assert results == [320]


@pytest.mark.django_db
def test_the_api_answers_503_with_retry_after_when_every_decode_slot_stays_taken(
    api: APIClient, two_decodes_no_wait: None
) -> None:
    with decodes_held(2):
        response = api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}, format="multipart")
    assert_error(response, 503, "unavailable", "The server is busy with other photos; try again in a few seconds.")
    assert response["Retry-After"] == "5"
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_the_upload_page_says_the_server_is_busy_with_503(logged_in: Client, two_decodes_no_wait: None) -> None:
    with decodes_held(2):
        response = logged_in.post("/upload/", {"image": upload(photos.face_photo())})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "The server is busy with other photos" in response.content.decode()
    assert not Prediction.objects.exists()


def test_a_large_jpeg_is_decoded_at_a_reduced_size(settings: Any) -> None:
    settings.AGEWEB_MAX_STORED_SIDE = 640
    decoded: list[tuple[int, int]] = []
    real_to_rgb = images.to_rgb

    def spy(image: Image.Image, **kwargs: Any) -> Image.Image:
        decoded.append(image.size)
        return real_to_rgb(image, **kwargs)

    with mock.patch.object(images, "to_rgb", spy):
        clean = image_clean(photos.plain_jpeg(2600, 1950))
    assert decoded == [(650, 488)]  # libjpeg's quarter scale: the least that is still 640x480 or more
    assert Image.open(io.BytesIO(clean.jpeg)).size == (640, 480)
