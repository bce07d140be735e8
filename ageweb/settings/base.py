"""Settings shared by every environment; each value is read once from the environment.

Without DATABASE_URL the site uses SQLite; without REDIS_URL it uses an in-memory channel
layer and runs inference in the web process. With both set, the same code uses
PostgreSQL, Redis and separate Celery workers on the "inference" queue.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

django_stubs_ext.monkeypatch()  # lets typed code subscript Django generics (ModelAdmin[...])

BASE_DIR = Path(__file__).resolve().parents[2]

SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first, so that `manage.py runserver` serves ASGI (websockets included)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_prometheus",
    "accounts",
    "estimator",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "ageweb.urls"
WSGI_APPLICATION = "ageweb.wsgi.application"
ASGI_APPLICATION = "ageweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0)))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The in-process worker thread writes while requests read: wait, don't fail.
        config["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out account or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "estimator:upload"
LOGOUT_REDIRECT_URL = "estimator:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

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

# E-mail (password reset): the console locally, SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ageweb <noreply@localhost>")

# Redis: broker, channel layer and cache. Without it everything stays in this process.
# AGEWEB_REDIS_PREFIX lets several deployments (or test runs) share one Redis.
REDIS_URL = env_str("REDIS_URL")
REDIS_PREFIX = env_str("AGEWEB_REDIS_PREFIX")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times reads out after 5 s by default, which is exactly how long
            # channels-redis blocks waiting for a message: give the reads room.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "prefix": f"{REDIS_PREFIX}asgi"},
        },
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a queue for uploads (inference), one for live frames (live) and one for periodic jobs
# (default), so that worker pools can be scaled on other machines.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # results live in the database, not in a result backend
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {
    "estimator.tasks.predict_age": {"queue": "inference"},
    "estimator.tasks.live_frame": {"queue": "live"},  # never behind uploads (make worker-live)
}
CELERY_TASK_DEFAULT_QUEUE = "default"  # periodic jobs; inference workers read it too (-Q inference,default)
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged only once it has run ...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... and requeued if its process died
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("AGEWEB_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("AGEWEB_TASK_HARD_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT + 30, minimum=1)
# A pool child loads the models right after fork, which takes longer than Celery's
# default 4 s start-up allowance.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120.0
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("AGEWEB_WORKER_MAX_TASKS_PER_CHILD", 0) or None
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "global_keyprefix": REDIS_PREFIX}
# Periodic jobs (CELERY_BEAT_SCHEDULE, below) are sent by `celery -A ageweb beat` (make beat;
# the beat service in compose) to the "default" queue, which the inference workers also read.

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ageweb.api_errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_str("AGEWEB_UPLOAD_RATE", "120/minute"),  # per user, pages and API alike
        "token": env_str("AGEWEB_TOKEN_RATE", "20/minute"),  # per address
        "signup": env_str("AGEWEB_SIGNUP_RATE", "10/hour"),  # per address
        "password_reset": env_str("AGEWEB_PASSWORD_RESET_RATE", "5/hour"),  # per address
    },
    # The client address is REMOTE_ADDR, which the ASGI server takes from X-Forwarded-For
    # only when the proxy (and nothing else) sent it: never read the header here.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",  # served from static/, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "ageweb API",
    "DESCRIPTION": "Estimate the age of every face in a photo. Upload a photo, then read the "
    "prediction until its status is done or failed.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "FeedbackStateEnum": "estimator.models.Feedback.State",
        "ReviewVerdictEnum": ["accepted", "rejected"],
    },
}

# The estimator the worker runs: a dotted path to a zero-argument factory returning an
# object with ``estimate(image_bytes) -> ml.inference.Estimate``.
AGEWEB_ESTIMATOR = env_str("AGEWEB_ESTIMATOR", "ml.inference.Estimator")
# Without Redis there is no worker: run inference on a thread of the web process.
AGEWEB_RUN_TASKS_IN_PROCESS = env_bool("AGEWEB_RUN_TASKS_IN_PROCESS", not REDIS_URL)
AGEWEB_MAX_UPLOAD_BYTES = env_int("AGEWEB_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1)
AGEWEB_MAX_PIXELS = env_int("AGEWEB_MAX_PIXELS", 40_000_000, minimum=1)
AGEWEB_MAX_STORED_SIDE = env_int("AGEWEB_MAX_STORED_SIDE", 2560, minimum=64)
AGEWEB_JPEG_QUALITY = env_int("AGEWEB_JPEG_QUALITY", 90, minimum=1)
# A photo whose worker died this many times is marked failed instead of retried again.
AGEWEB_MAX_ATTEMPTS = env_int("AGEWEB_MAX_ATTEMPTS", 3, minimum=1)
# Uploaded photos are deleted this many days after upload; results stay as numbers, and
# face crops kept with consent stay until the consent is withdrawn.
AGEWEB_PHOTO_RETENTION_DAYS = env_int("AGEWEB_PHOTO_RETENTION_DAYS", 30, minimum=1)
# The version of the consent text shown next to "Keep this face"; stored with each consent.
# Change it whenever the text (templates/estimator/consent_text.html) changes.
AGEWEB_CONSENT_VERSION = env_str("AGEWEB_CONSENT_VERSION", "2026-11-29").strip()
if not 0 < len(AGEWEB_CONSENT_VERSION) <= 50:
    raise ImproperlyConfigured("AGEWEB_CONSENT_VERSION must be 1 to 50 characters.")

# Live webcam (/ws/live/): limits per user and connection (README: "Live webcam").
AGEWEB_LIVE_MAX_CONNECTIONS = env_int("AGEWEB_LIVE_MAX_CONNECTIONS", 2, minimum=1)
AGEWEB_LIVE_MAX_FPS = env_int("AGEWEB_LIVE_MAX_FPS", 30, minimum=1)
AGEWEB_LIVE_IDLE_SECONDS = env_int("AGEWEB_LIVE_IDLE_SECONDS", 30, minimum=1)
# A frame the worker has not answered in this time is given up (the server is busy).
AGEWEB_LIVE_FRAME_TIMEOUT = env_int("AGEWEB_LIVE_FRAME_TIMEOUT", 5, minimum=1)
AGEWEB_LIVE_MAX_FRAME_BYTES = 2 * 1024 * 1024
AGEWEB_LIVE_MAX_FRAME_SIDES = (1920, 1080)
# `manage.py runserver` (Daphne) would drop a websocket message over 1 MiB without a word;
# let frames up to the limit and a little over it through, so that they get a clear error.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 4 * 1024 * 1024

# A task that finds the database unreachable is retried this many times (pauses of 1, 2,
# 4 ... 30 s, about 5 minutes in all) before it leaves the row to the reaper.
AGEWEB_DATABASE_RETRIES = env_int("AGEWEB_DATABASE_RETRIES", 15)

# Login lock-out (django-axes): after this many failed logins an account, and separately an
# address, is locked out for AGEWEB_LOGIN_LOCKOUT_MINUTES; a successful login resets it.
AXES_FAILURE_LIMIT = env_int("AGEWEB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AGEWEB_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "ageweb.client.client_ip"
AXES_VERBOSE = False

# Unfinished (queued or running) predictions one user may have at once; more is a 429.
AGEWEB_MAX_UNFINISHED_PER_USER = env_int("AGEWEB_MAX_UNFINISHED_PER_USER", 10, minimum=1)
# Photos whose width/height ratio (either way) is beyond this are refused at upload.
AGEWEB_MAX_ASPECT_RATIO = env_int("AGEWEB_MAX_ASPECT_RATIO", 8, minimum=1)

# The reaper (Celery beat): a prediction queued this long without a worker taking it is
# queued again (Redis may have lost its message); one running past the hard time limit
# plus a margin died with its worker, and is queued again or failed once it used its attempts.
AGEWEB_REQUEUE_AFTER = env_int("AGEWEB_REQUEUE_AFTER", 300, minimum=1)
AGEWEB_RUNNING_STALE_AFTER = env_int("AGEWEB_RUNNING_STALE_AFTER", CELERY_TASK_TIME_LIMIT + 30, minimum=1)
AGEWEB_REAPER_INTERVAL = env_int("AGEWEB_REAPER_INTERVAL", 60, minimum=1)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "reap-stale-predictions": {
        "task": "estimator.tasks.reap_stale_predictions",
        "schedule": float(AGEWEB_REAPER_INTERVAL),
        "options": {"expires": float(AGEWEB_REAPER_INTERVAL)},  # a late run is dropped, the next one comes
    },
    "delete-expired-photos": {
        "task": "estimator.tasks.delete_expired_photos",
        "schedule": 3600.0,  # hourly: a photo lives at most an hour past its retention period
    },  # both go to the "default" queue, which the inference workers read too
}

# /metrics (Prometheus): a bearer token when set, else only these client addresses.
AGEWEB_METRICS_TOKEN = env_str("AGEWEB_METRICS_TOKEN")
AGEWEB_METRICS_ALLOWED_IPS = env_list("AGEWEB_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
