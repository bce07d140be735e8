"""Who may reach the site and how: secret key, hosts, passwords, login lock-out and /metrics access."""

from __future__ import annotations

from datetime import timedelta

from .env import env_int, env_list, env_str

SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out account or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Login lock-out (django-axes): after this many failed logins an account is locked out from
# that address, and the address from every account, for AGEWEB_LOGIN_LOCKOUT_MINUTES; a
# successful login resets it. Never the account alone: then anyone could lock anyone out.
AXES_FAILURE_LIMIT = env_int("AGEWEB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AGEWEB_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "ageweb.client.client_ip"
AXES_VERBOSE = False
# What is kept about log-ins: a failure (username tried, address, browser) only as long as
# the lock-out needs it, deleted by beat (accounts.tasks); a success, nothing.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# API tokens older than this many days are refused (401 token_expired) and replaced when
# the owner next asks for theirs; 0 keeps a token until its owner's password changes.
AGEWEB_TOKEN_TTL_DAYS = env_int("AGEWEB_TOKEN_TTL_DAYS", 0)

# /metrics (Prometheus): a bearer token when set, else only these client addresses.
AGEWEB_METRICS_TOKEN = env_str("AGEWEB_METRICS_TOKEN")
AGEWEB_METRICS_ALLOWED_IPS = env_list("AGEWEB_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
# A Celery worker on a host without a web server serves its own metrics on this port (0: not).
AGEWEB_WORKER_METRICS_PORT = env_int("AGEWEB_WORKER_METRICS_PORT", 0)
