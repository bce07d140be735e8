"""Fixtures for the web tests: users, clients, and which fake estimator the tasks use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create, user_token
from harness import photos

PASSWORD = "correct horse battery 9"
CONNECT_S = 10  # a websocket handshake's limit in tests: Channels' default, 1 s, is missed on a busy machine


@pytest.fixture(autouse=True)
def _fresh_rates() -> Iterator[None]:
    """Rates are counted in the cache: each test starts with none used, so a limit one test
    reaches (five downloads an hour, say) never refuses another test's request, and the model
    versions one test read never leak into the next (the cache outlives a test's database). Only the
    in-memory caches of the test settings: a test that points the cache at a Redis that is
    down (tests/web/test_production.py) must not fail here."""
    _clear_memory_caches()
    yield
    _clear_memory_caches()


def _clear_memory_caches() -> None:
    for each in caches.all(initialized_only=True):
        if isinstance(each, LocMemCache):
            each.clear()


@pytest.fixture
def user(db: Any) -> User:
    return user_create(username="alice", email="alice@example.com", password=PASSWORD)


@pytest.fixture
def other_user(db: Any) -> User:
    return user_create(username="bob", email="bob@example.com", password=PASSWORD)


@pytest.fixture
def api(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token(user=user).key}")
    return client


@pytest.fixture
def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def use_estimator(settings: Any) -> Callable[[str], None]:
    """Pick the fake estimator by class name: ``use_estimator("NoFaceEstimator")``."""

    def use(name: str) -> None:
        settings.AGEWEB_ESTIMATOR = f"tests.fakes.{name}"

    return use


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def face_upload() -> SimpleUploadedFile:
    return upload(photos.face_photo())
