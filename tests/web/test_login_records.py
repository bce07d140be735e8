"""What django-axes keeps about log-ins: nothing of a success, a failure only as long as the lock-out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services import user_delete
from accounts.tasks import delete_expired_login_records
from ageweb.celery import app
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db

RECORDS = (AccessAttempt, AccessLog, AccessFailureLog)


def login(username: str, password: str) -> int:
    form = {"username": username, "password": password}
    status: int = Client().post("/accounts/login/", form, REMOTE_ADDR="10.7.7.7", HTTP_USER_AGENT="Firefox").status_code
    return status


def record(model: Any, *, username: str, minutes_ago: int) -> None:
    fields = {"username": username, "ip_address": "10.7.7.7", "user_agent": "Firefox", "http_accept": "*/*"}
    if model is AccessAttempt:
        fields.update(get_data="", post_data="", failures_since_start=1)
    row = model.objects.create(path_info="/accounts/login/", **fields)
    model.objects.filter(pk=row.pk).update(attempt_time=timezone.now() - dt.timedelta(minutes=minutes_ago))


def usernames(model: Any) -> list[str]:
    return sorted(model.objects.values_list("username", flat=True))


def test_a_successful_log_in_keeps_no_record_of_the_address_or_browser(user: User) -> None:
    assert login("alice", "wrong") == 200
    assert login("alice", PASSWORD) == 302
    assert [model.objects.count() for model in RECORDS] == [0, 0, 0]


def test_a_failed_log_in_is_kept_as_long_as_the_lock_out_and_no_longer(user: User, settings: Any) -> None:
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
    assert login("alice", "wrong") == 200
    assert AccessAttempt.objects.get().ip_address == "10.7.7.7"
    for model in RECORDS:  # what an older setting, or an older version of the site, kept
        record(model, username="old", minutes_ago=16)
    delete_expired_login_records()
    assert [usernames(model) for model in RECORDS] == [["alice"], [], []]
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    delete_expired_login_records()
    assert not AccessAttempt.objects.exists()


def test_beat_deletes_expired_login_records_often_on_a_queue_workers_consume() -> None:
    entry = app.conf.beat_schedule["delete-expired-login-records"]
    app.loader.import_default_modules()  # as a worker does: the autodiscovered tasks
    assert entry["task"] == delete_expired_login_records.name and entry["task"] in app.tasks
    assert entry.get("options", {}).get("queue", app.conf.task_default_queue) == "default"
    assert entry["schedule"] <= 300


def test_deleting_my_account_deletes_the_records_of_its_log_ins(user: User, other_user: User) -> None:
    for model in RECORDS:
        record(model, username="alice", minutes_ago=1)
        record(model, username="bob", minutes_ago=1)
    user_delete(user=user)
    assert [usernames(model) for model in RECORDS] == [["bob"], ["bob"], ["bob"]]


def test_the_privacy_page_says_what_is_kept_about_log_ins_and_for_how_long(settings: Any) -> None:
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=20)
    page = " ".join(Client().get("/privacy/").content.decode().split())
    assert "A failed log-in is kept for 20 minutes" in page
    assert "a successful log-in is not recorded" in page
