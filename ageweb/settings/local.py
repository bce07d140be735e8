"""`make run`: works with no services at all, and with DATABASE_URL / REDIS_URL when set."""

from .base import *  # noqa: F403
from .env import env_bool, env_str

DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_str("SECRET_KEY", "local-only-insecure-key-do-not-use-in-production")
# Serve static files from the app folders without collectstatic, under any ASGI server.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # collectstatic is for production builds (docker/Dockerfile)
WHITENOISE_AUTOREFRESH = DEBUG
