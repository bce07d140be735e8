"""Where files live: static files, and the private photos and face crops (a folder or an object store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .core import BASE_DIR
from .env import env_int, env_str

STATIC_URL = "static/"
STATIC_ROOT: Path | None = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded photos and kept face crops are private: served only to their owner through an
# authenticated view that streams them, never under a public MEDIA_URL or bucket URL.
# They live under MEDIA_ROOT (the default, `make run`), or in an S3-compatible object store
# when AWS_STORAGE_BUCKET_NAME is set, so that web servers and workers on different machines
# share no folder. django-storages reads the AWS_* settings below by these names.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-served/"
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME").strip()
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL").strip() or None  # unset: AWS itself
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None  # unset: boto3's own chain (an instance role)
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE") or None  # "path" for SeaweedFS and MinIO
AWS_DEFAULT_ACL = None  # objects get the bucket's policy (private), never public-read
AWS_QUERYSTRING_AUTH = True  # a URL the storage makes is presigned ...
AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 300, minimum=1)  # ... and short-lived
if AWS_S3_ENDPOINT_URL and not AWS_STORAGE_BUCKET_NAME:  # never fall back to a local folder by mistake
    raise ImproperlyConfigured("AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET_NAME is not.")
MEDIA_STORAGE = (
    "storages.backends.s3.S3Storage" if AWS_STORAGE_BUCKET_NAME else "django.core.files.storage.FileSystemStorage"
)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": MEDIA_STORAGE},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
