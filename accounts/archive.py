"""A person's own data: everything held about them, as one zip they can download.

It holds README.txt (a summary a person can read), data.json (everything, for programs),
photos/ and faces/, each file named by its date and photo ("2026-11-29_0914_photo-3f2b8c1e.jpg").
The zip is written to a temporary file that spills to disk past ``IN_MEMORY`` bytes, so a
person with many photos, or several downloads at once, cannot exhaust the web server's memory.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from estimator.feedback.selectors import photo_views_of
from estimator.files import file_read
from estimator.models import Face, Feedback, PhotoView, Prediction, photo_name
from estimator.predictions.selectors import prediction_list

from .models import User

IN_MEMORY = 1024 * 1024  # bytes of a zip held in memory before it moves to a temporary file


def user_data_archive(*, owner: User) -> IO[bytes]:
    """A zip of everything held about ``owner`` (data.json, their photos and kept crops), as
    an open temporary file positioned at its start; the caller closes it."""
    out = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 (returned open)
    try:
        _write(out, owner)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _write(out: IO[bytes], owner: User) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        predictions = prediction_list(owner=owner).prefetch_related(
            "faces__feedback", "faces__consent_records", "faces__shadows"
        )
        exported = [_prediction_data(prediction, archive) for prediction in predictions]
        account = {"username": owner.username, "email": owner.email, "date_joined": owner.date_joined.isoformat()}
        views = [_photo_view_data(view) for view in photo_views_of(owner=owner)]
        data = {"account": account, "predictions": exported, "photo_views": views}
        archive.writestr("README.txt", readme(data))
        archive.writestr("data.json", json.dumps(data, indent=1, default=str))


def _file_stem(prediction: Prediction) -> str:
    """A name a person can tell apart in a folder: the upload's time and the photo's name."""
    return f"{prediction.created_at:%Y-%m-%d_%H%M}_{photo_name(prediction.pk).lower().replace(' ', '-')}"


def _prediction_data(prediction: Prediction, archive: zipfile.ZipFile) -> dict[str, Any]:
    stem = _file_stem(prediction)
    data: dict[str, Any] = {
        "id": prediction.pk,
        "status": prediction.status,
        "failure_reason": prediction.failure_reason,
        "width": prediction.width,
        "height": prediction.height,
        "model_version": prediction.model_version,
        "model_versions": prediction.model_versions,
        "too_small": prediction.too_small,
        "created_at": prediction.created_at,
        "started_at": prediction.started_at,
        "finished_at": prediction.finished_at,
        "faces": [_face_data(face, archive, stem) for face in prediction.faces.all()],
    }
    photo = _stored_or_none(prediction.image)
    if photo is not None:
        data["photo_file"] = f"photos/{stem}.jpg"
        archive.writestr(data["photo_file"], photo, compress_type=zipfile.ZIP_STORED)  # JPEG: already compressed
    return data


def _face_data(face: Face, archive: zipfile.ZipFile, stem: str) -> dict[str, Any]:
    return {
        "index": face.index,
        "box": {"x": face.x, "y": face.y, "width": face.width, "height": face.height},
        "age": face.age,
        "interval": [face.age_low, face.age_high],
        "groups": face.groups,
        "ensemble_groups": face.ensemble_groups,
        "ensemble_age": face.ensemble_age,
        "detection_score": face.detection_score,
        "distribution": face.distribution,
        "feedback": _feedback_data(getattr(face, "feedback", None), archive, f"{stem}_face-{face.index + 1}"),
        "consent_history": [
            {"action": record.action, "consent_version": record.consent_version, "at": record.at}
            for record in face.consent_records.all()
        ],
        # Other model versions' estimates of this face, made only to compare versions (never shown)
        "other_model_estimates": [
            {"model_version": shadow.model_version, "age": shadow.age, "interval": [shadow.age_low, shadow.age_high]}
            for shadow in face.shadows.all()
        ],
    }


def _feedback_data(feedback: Feedback | None, archive: zipfile.ZipFile, stem: str) -> dict[str, Any] | None:
    if feedback is None:
        return None
    data: dict[str, Any] = {
        "correct": feedback.correct,
        "true_age": feedback.true_age,
        "consent_to_train": feedback.consent_to_train,
        "consent_version": feedback.consent_version,
        "consented_at": feedback.consented_at,
        "withdrawn_at": feedback.withdrawn_at,
        "review_state": feedback.state,
        "corrected_age": feedback.corrected_age,
        "created_at": feedback.created_at,
    }
    crop = _stored_or_none(feedback.crop)
    if crop is not None:
        data["crop_file"] = f"faces/{stem}.jpg"
        archive.writestr(data["crop_file"], crop, compress_type=zipfile.ZIP_STORED)
    return data


def _photo_view_data(view: PhotoView) -> dict[str, Any]:
    return {
        "at": view.at,
        "viewer": view.viewer_name,
        "reason": view.reason,
        "prediction": view.prediction_id,
        "photo_uploaded_at": view.photo_uploaded_at,
    }


def _stored_or_none(field: Any) -> bytes | None:
    """A person's download holds what is still stored: a file the storage lost is left out."""
    if not field:
        return None
    try:
        return file_read(field)
    except FileNotFoundError:
        return None


# --- README.txt: the same data, in sentences ---

REVIEW_WORDS = {"pending": "not yet", "accepted": "yes, used to improve the model", "rejected": "yes, not used"}


def readme(data: dict[str, Any]) -> str:
    """A plain-text summary of ``data`` (as data.json holds it), for a person to read."""
    account, days = data["account"], settings.AGEWEB_PHOTO_RETENTION_DAYS
    lines = [
        f"Your data from ageweb, downloaded {timezone.now():%Y-%m-%d %H:%M} UTC.",
        "",
        f"Account: {account['username']} ({account['email'] or 'no e-mail'}), since {account['date_joined'][:10]}.",
        "",
        "In this folder:",
        "  README.txt   this summary",
        "  data.json    everything below, and every number the model gave, for programs",
        f"  photos/      your photos still stored (each is deleted {days} days after upload)",
        "  faces/       the face crops you let us keep to improve the age model",
        "",
        f"Your photos ({len(data['predictions'])}), newest first:",
    ]
    for prediction in data["predictions"]:
        lines += ["", *_readme_prediction(prediction)]
    lines += ["", f"Who opened your photos ({len(data['photo_views'])}):"]
    lines += [
        f"  {view['at']:%Y-%m-%d %H:%M} UTC, {view['viewer']}: {view['reason']} ({_viewed(view)})"
        for view in data["photo_views"]
    ] or ["  Nobody has opened any of your photos."]
    return "\n".join(lines) + "\n"


def _viewed(view: dict[str, Any]) -> str:
    return photo_name(view["prediction"]) if view["prediction"] else "a photo since deleted"


def _readme_prediction(prediction: dict[str, Any]) -> list[str]:
    faces = prediction["faces"]
    found = {"done": f"{len(faces)} face(s)" if faces else "no face found", "failed": "could not be read"}
    lines = [
        f"- {photo_name(prediction['id'])}, uploaded {prediction['created_at']:%Y-%m-%d %H:%M} UTC: "
        + found.get(prediction["status"], "not estimated yet"),
        "  File: " + prediction.get("photo_file", "none (the photo was deleted; the ages stay)"),
    ]
    for face in faces:
        low, high = face["interval"]
        lines.append(f"  Face {face['index'] + 1}: {face['age']:.0f} years (80% likely {low:.0f} to {high:.0f})")
        feedback = face["feedback"]
        if feedback is not None:
            given = "not given" if feedback["true_age"] is None else feedback["true_age"]
            said = "about right" if feedback["correct"] else f"not right, real age {given}"
            lines.append(f"    Your answer: {said}. Face kept: " + (
                f"yes, {feedback['crop_file']}; checked by staff: {REVIEW_WORDS[feedback['review_state']]}"
                if feedback.get("crop_file") else "no (numbers only)"
            ))  # fmt: skip
    return lines
