"""Model versions: register a trained model folder, put one in the shadow, promote, roll back;
and which versions serve now.

Every process reads the active and shadow versions through the cache (Redis in production),
at most ``AGEWEB_MODEL_VERSION_TTL`` seconds old, and a change also deletes the cached
reading once committed: a promotion or a rollback reaches every web server and worker within
seconds, with no restart. A task resolves its version once (:func:`model_serving`) and uses
it for the whole photo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ml.spec import ModelSpec

from ..models import ModelVersion
from .files import REQUIRED_FILES, version_files_store

logger = logging.getLogger(__name__)
State = ModelVersion.State
SERVING_KEY = "model-versions:serving"
SHIPPED = "shipped"  # registered_by of the shipped model, registered on first use
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")  # also a folder name in the storage


@dataclass(frozen=True)
class Served:
    """A version as the processes serve it: its name and a digest of its files' SHA-256s."""

    version: str
    digest: str


@dataclass(frozen=True)
class Serving:
    active: Served
    shadow: Served | None


def model_serving() -> Serving:
    """The active and shadow versions, as every process should use them now: through the
    cache, at most ``AGEWEB_MODEL_VERSION_TTL`` seconds old. The first call of a site with
    no version yet registers the shipped model as the active one (no command needed)."""
    ttl = settings.AGEWEB_MODEL_VERSION_TTL
    cached = _cache_call(cache.get, SERVING_KEY) if ttl else None
    if cached:  # plain values, so that a process of another release reads them too
        active, shadow = cached
        return Serving(active=Served(*active), shadow=Served(*shadow) if shadow else None)
    rows = {row.state: row for row in ModelVersion.objects.filter(state__in=[State.ACTIVE, State.SHADOW])}
    serving = Serving(
        active=_served(rows.get(State.ACTIVE) or _shipped_registered()),
        shadow=_served(rows[State.SHADOW]) if State.SHADOW in rows else None,
    )
    if ttl:
        plain = (astuple(serving.active), astuple(serving.shadow) if serving.shadow else None)
        _cache_call(cache.set, SERVING_KEY, plain, ttl)
    return serving


def _cache_call(call: Callable[..., Any], *args: Any) -> Any:
    """The cache only spares the database a query: a cache that cannot be reached is skipped."""
    try:
        return call(*args)
    except Exception:
        logger.warning("The cache could not be reached for the model versions", exc_info=True)
        return None


def _served(row: ModelVersion) -> Served:
    lines = "".join(f"{name}:{stored['sha256']}\n" for name, stored in sorted(row.files.items()))
    return Served(version=row.version, digest=hashlib.sha256(lines.encode()).hexdigest())


def _serving_changed() -> None:
    transaction.on_commit(lambda: _cache_call(cache.delete, SERVING_KEY))


def _shipped_registered() -> ModelVersion:
    """The shipped model (``AGEWEB_SHIPPED_MODEL``), registered as the active version: how a
    site without any version (a fresh ``make run``) starts."""
    folder = Path(settings.AGEWEB_SHIPPED_MODEL)
    try:
        return _register(folder=folder, registered_by=SHIPPED, state=State.ACTIVE)
    except ValidationError as error:
        if error.code != "exists":
            raise
    # Registered meanwhile by another process, or earlier without being active.
    active = ModelVersion.objects.filter(state=State.ACTIVE).first()
    return active or _promote(_spec(folder).version)


def _spec(folder: Path) -> ModelSpec:
    try:
        return ModelSpec.read(folder)
    except (OSError, ValueError) as error:
        raise ValidationError(f"{folder} is not a trained model folder: {error}", code="not_a_model") from None


def model_version_register(*, folder: Path, registered_by: str) -> ModelVersion:
    """Copy a trained model folder (what ``ml.training.train`` exports: ``meta.json``,
    ``model.tflite``, ``model.keras``) into the storage and record it as a candidate under
    its meta.json's ``version``; the same version twice is refused."""
    model_serving()  # the shipped model stays the first version
    return _register(folder=folder, registered_by=registered_by, state=State.CANDIDATE)


def _register(*, folder: Path, registered_by: str, state: str) -> ModelVersion:
    spec = _spec(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ValidationError(f"{folder} has no {', '.join(missing)}.", code="not_a_model")
    if spec.detector != "yunet":
        raise ValidationError(f"{spec.version} was trained on {spec.detector}'s crops; the site detects with YuNet.")
    if not VERSION_NAME.fullmatch(spec.version):
        raise ValidationError(f"{spec.version!r} cannot name a version: use letters, digits, '.', '_', '+' or '-'.")
    if ModelVersion.objects.filter(version=spec.version).exists():
        raise _already_registered(spec.version)
    meta = json.loads((folder / "meta.json").read_text())
    with transaction.atomic():  # the row first: a second registration of this version waits, then fails
        try:
            with transaction.atomic():
                row = ModelVersion.objects.create(
                    version=spec.version,
                    state=state,
                    meta=meta,
                    releases=meta.get("releases") or [],
                    files={},
                    registered_by=registered_by[:150],
                    activated_at=timezone.now() if state == State.ACTIVE else None,
                )
        except IntegrityError:
            raise _already_registered(spec.version) from None
        row.files = version_files_store(folder=folder, version=spec.version)
        row.save(update_fields=["files"])
        if state in (State.ACTIVE, State.SHADOW):
            _serving_changed()
    return row


def _already_registered(version: str) -> ValidationError:
    state = ModelVersion.objects.filter(version=version).values_list("state", flat=True).first() or "being registered"
    return ValidationError(
        f"{version} is already registered ({state}); give the new model another version in its meta.json.",
        code="exists",
    )


def _locked() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_for_update()


def _get(version: str) -> ModelVersion:
    row = _locked().filter(version=version).first()
    if row is None:
        raise ValidationError(f"No model version {version} is registered.", code="unknown")
    return row


def _set_state(row: ModelVersion, state: str) -> None:
    row.state = state
    row.save(update_fields=["state"])


def _resting_state(row: ModelVersion) -> str:
    """Where a version goes when it stops serving: retired once it has been active."""
    return State.RETIRED if row.activated_at else State.CANDIDATE


def model_version_shadow(*, version: str | None) -> ModelVersion | None:
    """Score every new upload's faces with ``version`` too (never shown); ``None`` stops
    the shadow. One shadow at a time: the one before goes back to rest."""
    model_serving()  # a site with no version yet: the shipped model first
    with transaction.atomic():
        row = None if version is None else _get(version)
        if row is not None and row.state == State.ACTIVE:
            raise ValidationError(f"{row.version} is the active version; it cannot also be its shadow.", code="active")
        current = _locked().filter(state=State.SHADOW).first()
        if current is not None:
            _set_state(current, _resting_state(current))
        if row is not None:
            _set_state(row, State.SHADOW)
        _serving_changed()
    return row


def model_version_promote(*, version: str) -> ModelVersion:
    """Make ``version`` the active one (a shadow leaves the shadow); the active version
    before it is retired and becomes where a rollback returns."""
    model_serving()
    return _promote(version)


def _promote(version: str) -> ModelVersion:
    with transaction.atomic():
        row = _get(version)
        if row.state == State.ACTIVE:
            raise ValidationError(f"{version} is already the active version.", code="active")
        current = _locked().filter(state=State.ACTIVE).first()
        if current is not None:
            _set_state(current, State.RETIRED)
        row.state, row.previous, row.activated_at = State.ACTIVE, current, timezone.now()
        row.save(update_fields=["state", "previous", "activated_at"])
        _serving_changed()
    return row


def model_version_rollback() -> ModelVersion:
    """Return to the version that was active before the active one; returns it."""
    model_serving()
    with transaction.atomic():
        current = _locked().filter(state=State.ACTIVE).first()
        previous = None if current is None else current.previous
        if current is None or previous is None:
            raise ValidationError("There is no earlier active version to return to.", code="no_previous")
        _set_state(current, State.RETIRED)
        previous = _get(previous.version)
        previous.state, previous.activated_at = State.ACTIVE, timezone.now()
        previous.save(update_fields=["state", "activated_at"])
        _serving_changed()
    return previous
