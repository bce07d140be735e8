"""Production: refuses to start without its secrets and services; secure behind a TLS proxy by default.

The proxy (nginx, ``docker/nginx.conf``) terminates TLS, or sits behind something that does,
and sets ``X-Forwarded-Proto`` itself; every HTTPS setting below is on unless turned off.
"""

from .base import *  # noqa: F403
from .base import REDIS_URL, STORAGES
from .env import env_bool, env_int, env_list, env_required

DEBUG = False
SECRET_KEY = env_required("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    env_required("ALLOWED_HOSTS")
env_required("DATABASE_URL")  # never fall back to SQLite in production
if not REDIS_URL:
    env_required("REDIS_URL")

STORAGES = {  # photos where base.py puts them (MEDIA_ROOT or the object store)
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Only the proxy sets this header (it overwrites whatever a client sent), and only the
# proxy's address is trusted for X-Forwarded-* by the ASGI server (FORWARDED_ALLOW_IPS).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
# Health checks come over plain HTTP from inside the deployment, never through the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if SESSION_COOKIE_SECURE:  # browsers refuse __Secure- cookies that are not Secure
    SESSION_COOKIE_NAME = "__Secure-sessionid"
    CSRF_COOKIE_NAME = "__Secure-csrftoken"
