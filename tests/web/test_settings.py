"""Settings: read from the environment through typed helpers; production refuses to guess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ageweb.settings.env import env_bool, env_int, env_list, env_required

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "k3Jq9-vX2pLm8_RtY6wZ4sBn1cHd7fGa0eUo5iKyQ3xVb9NzTj",
    "ALLOWED_HOSTS": "ageweb.example",
    "DATABASE_URL": "postgres://ageweb@db/ageweb",
    "REDIS_URL": "redis://redis:6379/0",
}

SHOW_BACKENDS = (
    "from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.AGEWEB_RUN_TASKS_IN_PROCESS"
)


def django_setup(settings_module: str, env: dict[str, str], code: str = "") -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh interpreter with exactly ``env`` (plus PATH)."""
    script = f"import django; django.setup(); {code}"
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": settings_module, **env}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_env_bool_refuses_a_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "ture")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        env_bool("DEBUG", default=False)


def test_env_int_refuses_words_and_values_below_its_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match="PORT must be an integer"):
        env_int("PORT", 80)
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="PORT must be at least 1"):
        env_int("PORT", 80, minimum=1)


def test_env_helpers_read_values_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", " a.example, b.example ,")
    monkeypatch.setenv("FLAG", "Yes")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    assert env_list("MISSING", ["x"]) == ["x"]
    assert env_bool("FLAG", default=False) is True
    with pytest.raises(ImproperlyConfigured, match="MISSING must be set"):
        env_required("MISSING")


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV))
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = django_setup("ageweb.settings.production", env)
    assert result.returncode != 0
    assert f"The environment variable {missing} must be set." in result.stderr


def test_production_passes_the_deployment_checks() -> None:
    code = (
        "from django.core.management import call_command; "
        "call_command('check', '--deploy', '--fail-level', 'WARNING', '--tag', 'security')"
    )
    env = {
        **PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "true", "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true",
    }  # fmt: skip
    result = django_setup("ageweb.settings.production", env, code)
    assert result.returncode == 0, result.stderr


def test_local_settings_need_no_services() -> None:
    result = django_setup("ageweb.settings.local", {}, SHOW_BACKENDS + ")")
    assert result.stdout.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer", "True"]


def test_local_settings_serve_static_files_with_debug_off() -> None:
    code = (
        "from django.conf import settings as s; from django.test import Client; "
        "r = Client(SERVER_NAME='127.0.0.1').get('/static/css/site.css'); "
        "print(s.DEBUG, r.status_code, r.headers['Content-Type'])"
    )
    result = django_setup("ageweb.settings.local", {}, code)
    assert result.stdout.split() == ["False", "200", "text/css;", 'charset="utf-8"'], result.stderr


def test_local_settings_use_postgres_redis_and_workers_when_given() -> None:
    code = SHOW_BACKENDS + ", s.CELERY_BROKER_URL)"
    env = {"DATABASE_URL": "postgres://u@db/x", "REDIS_URL": "redis://r:6379/1"}
    result = django_setup("ageweb.settings.local", env, code)
    assert result.stdout.split() == [
        "django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer", "False", "redis://r:6379/1",
    ]  # fmt: skip


SHOW_STORAGE = (
    "from django.core.files.storage import storages; d = storages['default']; "
    "print(type(d).__module__ + '.' + type(d).__name__, *(getattr(d, a, '-') for a in "
    "('bucket_name', 'endpoint_url', 'default_acl', 'querystring_auth')))"
)
S3_ENV = {
    "AWS_STORAGE_BUCKET_NAME": "photos", "AWS_S3_ENDPOINT_URL": "http://s3:8333",
    "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
}  # fmt: skip


def test_photos_stay_on_the_local_filesystem_without_a_bucket_in_every_environment() -> None:
    for module, env in (("ageweb.settings.local", {}), ("ageweb.settings.production", PRODUCTION_ENV)):
        result = django_setup(module, env, SHOW_STORAGE)
        assert result.stdout.split()[0] == "django.core.files.storage.filesystem.FileSystemStorage", result.stderr


def test_a_bucket_puts_photos_in_a_private_object_store_in_production_and_locally() -> None:
    for module, env in (
        ("ageweb.settings.local", S3_ENV),
        ("ageweb.settings.production", {**PRODUCTION_ENV, **S3_ENV}),
    ):
        result = django_setup(module, env, SHOW_STORAGE)
        assert result.stdout.split() == [
            "storages.backends.s3.S3Storage", "photos", "http://s3:8333", "None", "True",
        ], result.stderr  # fmt: skip


def test_an_endpoint_without_a_bucket_is_refused_rather_than_storing_photos_locally() -> None:
    result = django_setup("ageweb.settings.production", {**PRODUCTION_ENV, "AWS_S3_ENDPOINT_URL": "http://s3:8333"})
    assert result.returncode != 0
    assert "AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET_NAME is not." in result.stderr


def test_starting_the_site_and_the_tasks_does_not_import_tensorflow() -> None:
    code = (
        "import sys, ageweb.asgi, ageweb.celery, estimator.predictions.tasks, estimator.predictions.services; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras'}))"
    )
    result = django_setup("ageweb.settings.local", {"AGEWEB_ESTIMATOR": "ml.inference.Estimator"}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_production_static_files_collect_with_hashed_names(tmp_path: Path) -> None:
    code = "from django.core.management import call_command; call_command('collectstatic', '--noinput', '-v0')"
    result = django_setup("ageweb.settings.production", {**PRODUCTION_ENV, "STATIC_ROOT": str(tmp_path)}, code)
    assert result.returncode == 0, result.stderr  # e.g. a vendored file's missing source map fails here
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/chartjs/chart.umd.min.js" in manifest and "css/site.css" in manifest
