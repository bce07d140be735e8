"""A Prediction is one uploaded photo and its processing state; a Face is one result in it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def prediction_image_path(prediction: Prediction, filename: str) -> str:
    # The upload's own name is never used: it may say more than the owner meant to share.
    return f"predictions/{prediction.created_at:%Y/%m}/{prediction.id}.jpg"


def prediction_thumbnail_path(prediction: Prediction, filename: str) -> str:
    return f"predictions/{prediction.created_at:%Y/%m}/{prediction.id}-thumbnail.jpg"


class Prediction(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions")
    image = models.FileField(upload_to=prediction_image_path)  # re-encoded JPEG, no metadata
    thumbnail = models.FileField(upload_to=prediction_thumbnail_path, blank=True)  # for the history page
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.TextField(blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    model_versions = models.JSONField(default=dict, blank=True)  # each model's name -> version
    too_small = models.PositiveSmallIntegerField(default=0)  # faces found but too small to estimate
    attempts = models.PositiveSmallIntegerField(default=0)  # times a worker started on it
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last sent to the queue (the reaper's clock)
    claimed_by = models.CharField(max_length=255, blank=True)  # the Celery task id running it
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "enqueued_at"], name="prediction_status_enqueued"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def message(self) -> str:
        """What the page says about the result, besides the faces themselves."""
        if self.status == self.Status.FAILED:
            return self.failure_reason
        if self.status != self.Status.DONE or self.faces.all():  # uses a prefetch if any
            return ""
        if self.too_small:
            return "No face large enough to estimate was found; try a closer photo."
        return "No face found in this photo."


class Face(models.Model):
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="faces")
    index = models.PositiveSmallIntegerField()
    x = models.PositiveIntegerField()
    y = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    detection_score = models.FloatField()
    age = models.FloatField()
    age_low = models.FloatField()  # 10th percentile
    age_high = models.FloatField()  # 90th percentile
    groups = models.JSONField()  # the 8 age groups: label -> probability
    ensemble_groups = models.JSONField(null=True, blank=True)  # the 8-group ensemble's, if shipped
    ensemble_age = models.FloatField(null=True, blank=True)  # the age from the ensemble's groups
    distribution = models.JSONField()  # 101 probabilities, ages 0..100
    landmarks = models.JSONField(default=list)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["prediction", "index"], name="face_unique_index")]

    def __str__(self) -> str:
        return f"face {self.index} of {self.prediction_id}: {self.age:.1f}"
