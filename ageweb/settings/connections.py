"""The services the site talks to: the database, Redis (cache and channel layer) and the mail server."""

from __future__ import annotations

from typing import Any

import dj_database_url

from .core import BASE_DIR
from .env import env_bool, env_int, env_str


def database_from_url(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0)))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The in-process worker thread writes while requests read: wait, don't fail.
        config["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}

# Redis: broker (tasks.py), channel layer and cache. Without it everything stays in this process.
# AGEWEB_REDIS_PREFIX lets several deployments (or test runs) share one Redis.
REDIS_URL = env_str("REDIS_URL")
REDIS_PREFIX = env_str("AGEWEB_REDIS_PREFIX")
# "local": this process's own cache, never shared and never down (readiness answers).
LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ageweb-local"}
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
        },
        "local": LOCAL_CACHE,
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "local": LOCAL_CACHE}
# /readyz keeps its answer this long in each web process: probes and dashboards that ask
# often cost one round of checks (a database query, a broadcast to the workers) per period.
AGEWEB_READYZ_CACHE_SECONDS = env_int("AGEWEB_READYZ_CACHE_SECONDS", 5)

# E-mail (password reset): the console locally, SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ageweb <noreply@localhost>")
