"""Selectors on their own: owner scoping, the anonymous visitor, ordering, filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import User
from estimator.feedback.review import feedback_review
from estimator.feedback.selectors import export_items, feedback_get, feedback_get_owned, feedback_list, review_queue
from estimator.models import Feedback, Prediction
from estimator.predictions.selectors import prediction_get, prediction_list
from tests.web.feedback_helpers import answer, done_prediction, make_staff, token_client

pytestmark = pytest.mark.django_db


def _aged(prediction: Prediction, days: int) -> Prediction:
    Prediction.objects.filter(pk=prediction.pk).update(created_at=timezone.now() - dt.timedelta(days=days))
    return prediction


def test_a_person_lists_only_their_own_predictions_newest_first(user: User, other_user: User) -> None:
    old, new = _aged(done_prediction(user), 2), _aged(done_prediction(user), 1)
    done_prediction(other_user)
    assert list(prediction_list(owner=user)) == [new, old]


def test_another_persons_prediction_and_a_missing_one_look_the_same(user: User, other_user: User) -> None:
    theirs = done_prediction(other_user)
    assert prediction_get(owner=user, prediction_id=theirs.id) is None
    assert prediction_get(owner=user, prediction_id="00000000-0000-0000-0000-000000000000") is None
    assert prediction_get(owner=other_user, prediction_id=theirs.id) == theirs


def test_an_anonymous_visitor_gets_nothing(user: User) -> None:
    prediction = done_prediction(user)
    anonymous: Any = AnonymousUser()
    assert prediction_get(owner=anonymous, prediction_id=prediction.id) is None
    assert feedback_get(owner=anonymous, prediction_id=prediction.id, index=0) is None
    assert feedback_get_owned(owner=anonymous, feedback_id=1) is None


def test_answers_are_scoped_to_their_owner(user: User, other_user: User) -> None:
    mine, theirs = done_prediction(user), done_prediction(other_user)
    answer(token_client(user), mine, correct=True)
    answer(token_client(other_user), theirs, correct=False, true_age=50)
    [own] = feedback_list(owner=user)
    assert own.face.prediction == mine
    assert feedback_get(owner=user, prediction_id=theirs.id, index=0) is None
    other = Feedback.objects.get(face__prediction=theirs)
    assert feedback_get_owned(owner=user, feedback_id=other.pk) is None
    assert feedback_get_owned(owner=other_user, feedback_id=other.pk) == other


def test_the_review_queue_holds_kept_faces_oldest_first_and_filters_by_disagreement(user: User) -> None:
    client = token_client(user)
    first, second, unkept = done_prediction(user), done_prediction(user), done_prediction(user)
    answer(client, first, correct=False, true_age=60, consent_to_train=True)  # far from the fake's 38
    answer(client, second, correct=False, true_age=40, consent_to_train=True)
    answer(client, unkept, correct=False, true_age=20)
    queue = list(review_queue())
    assert [f.face.prediction for f in queue] == [first, second]
    assert [f.face.prediction for f in review_queue(min_disagreement=10)] == [first]


def test_only_accepted_kept_faces_with_an_age_are_exported(user: User) -> None:
    client, staff = token_client(user), make_staff()
    labelled, unlabelled, rejected = done_prediction(user), done_prediction(user), done_prediction(user)
    answer(client, labelled, correct=False, true_age=44, consent_to_train=True)
    answer(client, unlabelled, correct=True, consent_to_train=True)
    answer(client, rejected, correct=False, true_age=30, consent_to_train=True)
    for prediction, state in ((labelled, "accepted"), (unlabelled, "accepted"), (rejected, "rejected")):
        feedback = Feedback.objects.get(face__prediction=prediction)
        feedback_review(feedback=feedback, reviewer=staff, state=state, corrected_age=None)
    assert [f.face.prediction for f in export_items()] == [labelled]
