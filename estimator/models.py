"""A Prediction is one uploaded photo and its processing state; a Face is one result in it.

A Feedback is a person's answer about one face ("was this right?"), with a snapshot of what
was shown, their separate consent to keep the face crop for training, and staff's review;
each consent given or withdrawn is also a ConsentRecord, never changed afterwards; a
DatasetRelease records which reviewed faces one ``export_dataset`` wrote.

A PhotoView records each time a staff member opened a person's whole photo, and why; a
PendingDeletion is a stored file whose row is gone and that the storage has yet to delete.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone


def photo_name(prediction_id: object) -> str:
    """What the pages and the download call a photo: "Photo" and the first 8 characters of its
    id. The upload's own file name is never stored (it may say more than its owner meant to)."""
    return f"Photo {str(prediction_id)[:8]}"


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
    # Re-encoded JPEG, no metadata; emptied when the retention period deletes the photo.
    image = models.FileField(upload_to=prediction_image_path, blank=True)
    thumbnail = models.FileField(upload_to=prediction_thumbnail_path, blank=True)  # for the history page
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        LIVE = "live", "Live frame"  # kept from the live page: its faces are found as live frames' are

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    failure_reason = models.TextField(blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    model_versions = models.JSONField(default=dict, blank=True)  # each model's name -> version
    too_small = models.PositiveSmallIntegerField(default=0)  # faces found but too small to estimate
    attempts = models.PositiveSmallIntegerField(default=0)  # times a worker started on it
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last sent to the queue (the reaper's clock)
    claimed_by = models.CharField(max_length=255, blank=True)  # the Celery task id running it
    claimed_on = models.CharField(max_length=255, blank=True)  # the Celery worker (node name) running it
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Reviewers see kept crops only; opening a whole photo takes this permission (the
        # "support" group has it) and a reason, and each view is recorded (PhotoView).
        permissions = [("view_photo", "Can open a person's whole photo, giving a reason that is recorded")]
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
    """One face of a prediction. ``x``, ``y``, ``width``, ``height`` are its box clipped to
    the photo, for display; ``detected_box`` and ``landmarks`` are the detector's own
    geometry (a box may reach past the photo's edge), from which the model's crop was cut."""

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
    detected_box = models.JSONField(null=True, blank=True)  # [x, y, width, height], unclipped

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["prediction", "index"], name="face_unique_index")]

    def __str__(self) -> str:
        return f"face {self.index} of {self.prediction_id}: {self.age:.1f}"

    @property
    def crop_box(self) -> tuple[float, float, float, float]:
        """The box the model's crop was cut from: the detector's, unclipped (faces stored
        before it was kept fall back to the clipped box)."""
        if self.detected_box:
            x, y, width, height = self.detected_box
            return float(x), float(y), float(width), float(height)
        return float(self.x), float(self.y), float(self.width), float(self.height)


MAX_TRUE_AGE = 116  # the oldest age a person can give (UTKFace's oldest label)


def face_crop_path(feedback: Feedback, filename: str) -> str:
    # Kept apart from the photos (predictions/...), so photo retention never touches them.
    return f"faces/{timezone.now():%Y/%m}/{uuid.uuid4()}.jpg"


class Feedback(models.Model):
    """A person's answer about one face, and what staff made of it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    face = models.OneToOneField(Face, on_delete=models.CASCADE, related_name="feedback")
    correct = models.BooleanField()  # "About right?" yes or no
    true_age = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(MAX_TRUE_AGE)])
    # What the person saw when they answered (a rerun of the model must not change it).
    shown_age = models.FloatField()
    shown_interval = models.JSONField()  # [p10, p90]
    shown_groups = models.JSONField()  # label -> probability
    model_version = models.CharField(max_length=100, blank=True)
    model_versions = models.JSONField(default=dict, blank=True)
    # Consent to keep the face crop for training: separate, opt-in, versioned, withdrawable.
    consent_to_train = models.BooleanField(default=False)
    consent_version = models.CharField(max_length=50, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    crop = models.FileField(upload_to=face_crop_path, blank=True)  # the aligned training crop, JPEG
    # Staff review.
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    corrected_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_TRUE_AGE)]
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "consent_to_train"])]

    def __str__(self) -> str:
        return f"feedback on {self.face}"

    @property
    def label_age(self) -> int | None:
        """The age to learn from: staff's correction if any, else the person's own."""
        return self.corrected_age if self.corrected_age is not None else self.true_age

    @property
    def kept(self) -> bool:
        """Whether the face crop is held for training."""
        return self.consent_to_train and bool(self.crop)


class ConsentRecord(models.Model):
    """One consent given or withdrawn for a face, as it happened: records are only ever
    added, so the history outlives a changed or removed answer (the face's deletion ends it)."""

    class Action(models.TextChoices):
        GIVEN = "given", "Given"
        WITHDRAWN = "withdrawn", "Withdrawn"

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="consent_records")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consent_records")
    action = models.CharField(max_length=10, choices=Action.choices)
    consent_version = models.CharField(max_length=50)  # the consent text's version it was given under
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["owner", "at"], name="consentrecord_owner_at")]

    def __str__(self) -> str:
        return f"consent {self.action} for {self.face_id} at {self.at:%Y-%m-%d %H:%M}"


class PhotoView(models.Model):
    """A staff member opened a person's whole photo: who, when, which and why. The owner
    sees it on My data; it stays when the viewer's account or the photo is deleted."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photo_views")
    prediction = models.ForeignKey(Prediction, on_delete=models.SET_NULL, null=True, related_name="photo_views")
    photo_uploaded_at = models.DateTimeField()  # says which photo once the prediction is deleted
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="photos_viewed"
    )
    viewer_name = models.CharField(max_length=150)  # the viewer's username then, kept if the account goes
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["owner", "-at"], name="photoview_owner_at")]

    def __str__(self) -> str:
        return f"{self.viewer_name} viewed {self.prediction_id} at {self.at:%Y-%m-%d %H:%M}"


class PendingDeletion(models.Model):
    """A stored file to delete: written in the transaction that drops its row, removed once
    the storage has deleted it, so an unreachable storage delays a deletion but never loses it."""

    name = models.CharField(max_length=1024)  # the file's name in the storage
    storage = models.CharField(max_length=50, default="default")  # its alias in settings.STORAGES
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["last_attempt_at"], name="pendingdeletion_last_attempt")]

    def __str__(self) -> str:
        return f"{self.name} ({self.attempts} attempt(s))"


class DatasetRelease(models.Model):
    """One ``export_dataset`` run: which feedback items it wrote, and a hash of what was written."""

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)  # who ran the command (the OS user)
    items = models.JSONField(default=list)  # the feedback ids, in file order
    content_hash = models.CharField(max_length=64)  # SHA-256 of the manifest
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"release {self.pk} ({self.count} faces, {self.content_hash[:12]})"


class ModelVersion(models.Model):
    """A trained age model the site can serve: its files in the storage (``models/<version>/``,
    each with the SHA-256 taken at registration), its ``meta.json``, the data-set releases it
    learned from and who registered it. One version is active (it answers uploads and live
    frames), at most one is the shadow (it scores uploads' faces too, never shown)."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SHADOW = "shadow", "Shadow"
        CANDIDATE = "candidate", "Candidate"
        RETIRED = "retired", "Retired"

    version = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CANDIDATE)
    meta = models.JSONField()  # the model folder's meta.json
    releases = models.JSONField(default=list, blank=True)  # meta.json's "releases": the data-set releases
    files = models.JSONField()  # file name -> {"name": the storage's name, "sha256": ...}
    registered_by = models.CharField(max_length=150, blank=True)
    registered_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)  # when it last became active
    # The version that was active before this one became active: where a rollback returns.
    previous = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["registered_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=models.Q(state="active"), name="one_active_model"),
            models.UniqueConstraint(fields=["state"], condition=models.Q(state="shadow"), name="one_shadow_model"),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.state})"


class ShadowFace(models.Model):
    """One face of an upload as a shadow model version scored it, after the served answer was
    saved: for comparing versions only, never shown to the person."""

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="shadows")
    model_version = models.CharField(max_length=100)
    age = models.FloatField()
    age_low = models.FloatField()  # 10th percentile
    age_high = models.FloatField()  # 90th percentile
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["face", "model_version"], name="shadow_face_once_per_version")]
        indexes = [models.Index(fields=["model_version"], name="shadow_face_version")]

    def __str__(self) -> str:
        return f"{self.model_version} on {self.face}: {self.age:.1f}"
