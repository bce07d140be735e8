"""Migration 0005 keeps what was accepted: each old answer's consent becomes records, and the
"support" group may open whole photos."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps

BEFORE = [("estimator", "0004_face_detected_box")]
AFTER = [("estimator", "0005_privacy_records")]
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def executor(transactional_db: Any) -> Iterator[MigrationExecutor]:
    """The database as 0004 left it; put back at the latest migrations afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def migrate(executor: MigrationExecutor, targets: list[tuple[str, str]]) -> StateApps:
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def old_answer(apps: StateApps, owner: Any, index: int, **consent: Any) -> Any:
    prediction = apps.get_model("estimator", "Prediction").objects.create(owner=owner, width=10, height=10)
    face = apps.get_model("estimator", "Face").objects.create(
        prediction=prediction, index=index, x=0, y=0, width=5, height=5, detection_score=0.9, age=30,
        age_low=25, age_high=35, groups={}, distribution=[],
    )  # fmt: skip
    return apps.get_model("estimator", "Feedback").objects.create(
        face=face, correct=True, shown_age=30, shown_interval=[25, 35], shown_groups={}, **consent
    )


def test_old_answers_become_consent_records_and_keep_their_fields(executor: MigrationExecutor) -> None:
    old = executor.loader.project_state(BEFORE).apps
    owner = old.get_model("accounts", "User").objects.create(username="old")
    kept = old_answer(old, owner, 0, consent_to_train=True, consent_version="v1", consented_at=T0)
    withdrawn = old_answer(old, owner, 1, consent_version="v1", consented_at=T0,
                           withdrawn_at=T0 + dt.timedelta(days=2))  # fmt: skip
    old_answer(old, owner, 2)  # numbers only: no consent, no records

    new = migrate(executor, AFTER)
    records = new.get_model("estimator", "ConsentRecord").objects.order_by("face_id", "at")
    assert [(r.face_id, r.owner_id, r.action, r.consent_version, r.at) for r in records] == [
        (kept.face_id, owner.pk, "given", "v1", T0),
        (withdrawn.face_id, owner.pk, "given", "v1", T0),
        (withdrawn.face_id, owner.pk, "withdrawn", "v1", T0 + dt.timedelta(days=2)),
    ]
    feedback = new.get_model("estimator", "Feedback").objects.get(pk=kept.pk)
    assert (feedback.consent_to_train, feedback.consent_version, feedback.consented_at) == (True, "v1", T0)


def test_the_support_group_is_given_the_photo_permission(executor: MigrationExecutor) -> None:
    new = migrate(executor, AFTER)
    support = new.get_model("auth", "Group").objects.get(name="support")
    assert [(p.content_type.app_label, p.codename) for p in support.permissions.all()] == [("estimator", "view_photo")]
