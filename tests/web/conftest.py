"""Fixtures for the web tests: users, clients, and which fake estimator the tasks use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create, user_token
from tests import photos

PASSWORD = "correct horse battery 9"


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


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """The cache outlives a test's database: the model versions it read must not leak into the next test."""
    cache.clear()
