"""`make run`: works with no services at all, and with DATABASE_URL / REDIS_URL when set.

It behaves as the product does (no debug pages: a missing page is the site's own 404, a
crash its own 500); DEBUG=1 turns Django's debug pages on for development."""

from .base import *  # noqa: F403
from .env import env_bool, env_str

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY", "local-only-insecure-key-do-not-use-in-production")
# Serve static files from the app folders without collectstatic, under any ASGI server and
# whether DEBUG is on or off.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # collectstatic is for production builds (docker/Dockerfile)
# A static file edited while `make run` runs is served as it is now (WhiteNoise would otherwise
# keep each file's size from start-up); a cost only development pays.
WHITENOISE_AUTOREFRESH = True
