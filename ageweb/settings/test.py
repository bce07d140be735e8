"""pytest: real database (SQLite unless DATABASE_URL is set), a fake estimator at the boundary."""

from .base import *  # noqa: F403
from .base import LOCAL_CACHE
from .core import BASE_DIR
from .env import env_str

SECRET_KEY = "test-only-secret-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "local": LOCAL_CACHE}
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
AGEWEB_RUN_TASKS_IN_PROCESS = False
AGEWEB_ESTIMATOR = env_str("AGEWEB_TEST_ESTIMATOR", "tests.fakes.FakeEstimator")
# The fakes read their version from this small folder's meta.json ("fake-1"); no real model.
AGEWEB_SHIPPED_MODEL = BASE_DIR / "tests" / "models" / "fake-1"
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # collectstatic is for production builds (docker/Dockerfile)
