"""What is kept about a person and for how long: photo retention, orphaned files and the consent to keep a face."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .env import env_int, env_str

# Uploaded photos are deleted this many days after upload; results stay as numbers, and
# face crops kept with consent stay until the consent is withdrawn.
AGEWEB_PHOTO_RETENTION_DAYS = env_int("AGEWEB_PHOTO_RETENTION_DAYS", 30, minimum=1)
# A stored object no row points to is deleted by the daily reconciliation once it is this
# old: a younger one may be a photo or crop whose row is not committed yet.
AGEWEB_ORPHAN_GRACE_HOURS = env_int("AGEWEB_ORPHAN_GRACE_HOURS", 24, minimum=1)
# The version of the consent text shown next to "Keep this face"; stored with each consent.
# Change it whenever the text (templates/estimator/consent_text.html) changes.
AGEWEB_CONSENT_VERSION = env_str("AGEWEB_CONSENT_VERSION", "2026-12-06").strip()
if not 0 < len(AGEWEB_CONSENT_VERSION) <= 50:
    raise ImproperlyConfigured("AGEWEB_CONSENT_VERSION must be 1 to 50 characters.")
