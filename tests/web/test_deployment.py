"""The deployment files: valid, in step with the stack the tests run (harness/stack.py), and safe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import stack

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def command(service: str) -> list[str]:
    return [str(part) for part in compose()["services"][service]["command"]]


def test_the_compose_files_follow_the_compose_specification() -> None:
    files = [str(COMPOSE), str(ROOT / "docker" / "compose.gpu.yml"), str(ROOT / "docker" / "compose.test.yml")]
    checker = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", *files]
    result = subprocess.run(checker, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_processes_the_stack_runs() -> None:
    services = compose()["services"]
    assert {"nginx", "web", "worker", "worker-live", "beat", "migrate", "postgres", "redis", "s3"} <= set(services)
    assert command("web") == ["gunicorn", "-c", str(stack.GUNICORN_CONFIG.relative_to(ROOT)), "ageweb.asgi:application"]
    worker = command("worker")
    assert worker[worker.index("-Q") + 1] == ",".join(stack.WORKER_QUEUES)
    assert command("worker-live")[:6] == ["celery", "-A", "ageweb", "worker", "-Q", "live"]
    assert command("beat") == [
        "celery", "-A", "ageweb", "beat", "--loglevel", "INFO", "--schedule", "/tmp/celerybeat-schedule",
    ]  # fmt: skip
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert f"COPY {stack.NGINX_TEMPLATE.relative_to(ROOT)} /etc/nginx/templates/" in dockerfile


def test_redis_keeps_its_queue_across_restarts_in_compose_and_in_the_stack() -> None:
    assert command("redis")[:3] == ["redis-server", "--appendonly", "yes"]
    assert '"--appendonly", "yes"' in Path(stack.__file__).read_text()


def test_compose_has_no_default_database_password_or_secret() -> None:
    text = COMPOSE.read_text()
    for name in ("POSTGRES_PASSWORD", "AGEWEB_DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"):
        assert f"${{{name}:?" in text and f"{name}:-" not in text, name


def test_the_app_reaches_postgresql_as_a_role_of_its_own_never_as_the_superuser() -> None:
    data = compose()
    url = data["x-app"]["environment"]["DATABASE_URL"]
    assert url.startswith("postgres://ageweb:${AGEWEB_DB_PASSWORD:?") and url.endswith("@postgres:5432/ageweb")
    postgres = data["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_USER"] == "postgres"  # the superuser: the operator's
    [init] = postgres["configs"]
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    script = (COMPOSE.parent / data["configs"][init["source"]]["file"]).read_text()
    assert "CREATE ROLE ageweb LOGIN NOSUPERUSER" in script and "CREATE DATABASE ageweb OWNER ageweb" in script
    assert "-U" in postgres["healthcheck"]["test"] and "ageweb" in postgres["healthcheck"]["test"]


def test_redis_refuses_anyone_without_the_password_the_app_passes_in_redis_url() -> None:
    data = compose()
    assert data["x-app"]["environment"]["REDIS_URL"].startswith("redis://ageweb:${REDIS_PASSWORD:?")
    redis = data["services"]["redis"]
    [acl] = redis["configs"]
    assert command("redis")[-2:] == ["--aclfile", acl["target"]]
    users = data["configs"][acl["source"]]["content"].splitlines()
    assert users[0] == "user default off" and users[1].startswith("user ageweb on >${REDIS_PASSWORD} ")
    assert "-@admin" in users[1]


def test_the_web_trusts_forwarded_headers_from_nginx_alone() -> None:
    services = compose()["services"]
    nginx_address = services["nginx"]["networks"]["default"]["ipv4_address"]
    assert services["web"]["environment"]["FORWARDED_ALLOW_IPS"] == nginx_address
    assert "forwarded-allow-ips" not in (ROOT / "docker" / "Dockerfile").read_text()  # no "*" anywhere


def test_workers_have_a_health_check_and_the_gpu_worker_runs_one_process_with_memory_growth() -> None:
    services = compose()["services"]
    assert "inspect ping" in services["worker"]["healthcheck"]["test"][1]
    gpu = yaml.safe_load((ROOT / "docker" / "compose.gpu.yml").read_text())["services"]["worker"]
    assert gpu["command"][gpu["command"].index("--concurrency") + 1] == "1"
    assert gpu["environment"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_the_image_installs_the_run_requirements_only_and_converts_nothing() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "requirements/base.txt" in dockerfile and "train.txt" not in dockerfile and "test.txt" not in dockerfile
    assert "--prepare" not in dockerfile and "ml.training" not in dockerfile
    lines = (ROOT / "requirements" / "base.txt").read_text().splitlines()
    packages = {re.split(r"[\s=<>\[#]", line)[0].lower() for line in lines if line and not line.startswith("#")}
    assert "ai-edge-litert" in packages and "django" in packages
    assert not packages & {"tensorflow-cpu", "tensorflow", "keras", "torch", "pytest", "playwright", "mypy"}


def test_the_nginx_config_upgrades_websockets_and_caps_bodies() -> None:
    text = stack.NGINX_TEMPLATE.read_text()
    ws = text[text.index("location /ws/") :]
    ws = ws[: ws.index("\n    }")]  # the location block's own closing brace
    assert "proxy_set_header Upgrade $http_upgrade" in ws and "proxy_read_timeout 1h" in ws
    assert "client_max_body_size ${NGINX_MAX_BODY}" in text
    assert "X-Forwarded-For $remote_addr" in text  # replaced, never appended to what the client sent


def test_nginx_keeps_readiness_from_the_public() -> None:
    text = stack.NGINX_TEMPLATE.read_text()
    block = text[text.index("location ~ ^/readyz/?$ {") :]
    block = block[: block.index("\n    }")]
    assert re.findall(r"^\s*(allow|deny) (\S+);", block, re.M) == [
        ("allow", "127.0.0.1"), ("allow", "::1"), ("deny", "all"),
    ]  # fmt: skip
    assert "proxy_pass http://ageweb_app;" in block


def test_kubernetes_probes_the_app_container_directly_never_through_nginx() -> None:
    [web] = [
        d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "web.yaml").read_text()) if d["kind"] == "Deployment"
    ]
    containers = {c["name"]: c for c in web["spec"]["template"]["spec"]["containers"]}
    app = next(c for name, c in containers.items() if name != "nginx")
    for probe in ("readinessProbe", "livenessProbe"):
        assert app[probe]["httpGet"]["path"] == "/healthz" and app[probe]["httpGet"]["port"] == "app"
    assert "/readyz" not in (ROOT / "deploy" / "k8s" / "nginx.yaml").read_text()


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="nginx missing")
def test_the_nginx_config_is_accepted_by_nginx(tmp_path: Path) -> None:
    values = {
        "AGEWEB_UPSTREAM": "127.0.0.1:8000", "NGINX_PORT": "127.0.0.1:8080", "NGINX_MAX_BODY": "11m",
        "NGINX_STATIC_ROOT": str(tmp_path), "NGINX_FORWARDED_PROTO": "$scheme",
    }  # fmt: skip
    server = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], stack.NGINX_TEMPLATE.read_text())
    (tmp_path / "ageweb.conf").write_text(server)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}} http {{ include {tmp_path}/ageweb.conf; }}"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run([nginx, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_web_and_workers_keep_photos_in_the_object_store_and_share_no_folder_in_compose() -> None:
    data = compose()
    environment = data["x-app"]["environment"]
    assert (
        environment["AWS_STORAGE_BUCKET_NAME"]
        and environment["AWS_S3_ENDPOINT_URL"] == "${AWS_S3_ENDPOINT_URL-http://s3:8333}"
    )
    assert "MEDIA_ROOT" not in environment and "media" not in data["volumes"]
    assert data["x-app"]["volumes"] == ["metrics:/tmp/metrics"]  # one host's metrics, nothing the other hosts need
    assert "${AWS_SECRET_ACCESS_KEY:?" in COMPOSE.read_text()  # no default key either
    assert "create_bucket" in " ".join(command("migrate"))
    assert "-s3.config=/etc/seaweedfs/s3.json" in command("s3")  # private: an identity, no anonymous access


def test_the_gpu_worker_runs_on_a_second_host_with_the_database_redis_and_object_store_only() -> None:
    gpu = yaml.safe_load((ROOT / "docker" / "compose.gpu.yml").read_text())
    assert set(gpu["services"]) == {"worker"}  # a file of its own for the GPU host
    worker = gpu["services"]["worker"]
    assert "depends_on" not in worker and "volumes" not in worker and "volumes" not in gpu
    environment = worker["environment"]
    for name in ("DATABASE_URL", "REDIS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert environment[name].startswith(f"${{{name}:?"), name  # required, never a default
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 1
    # The first host publishes what the second needs on its private address, loopback by default.
    for service, port in (("postgres", 5432), ("redis", 6379), ("s3", 8333)):
        assert compose()["services"][service]["ports"] == [f"${{AGEWEB_PRIVATE_ADDRESS:-127.0.0.1}}:{port}:{port}"]


def test_the_container_test_runs_compose_s_own_services_with_only_its_override_laid_over() -> None:
    from tests.containers.compose import Project, interpolate

    names = ("SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "AGEWEB_DB_PASSWORD", "REDIS_PASSWORD",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AGEWEB_TEST_PG_PORT", "AGEWEB_TEST_REDIS_PORT",
             "AGEWEB_TEST_WEB_PORT", "AGEWEB_TEST_HTTP_PORT", "AGEWEB_TEST_WORKER_METRICS_PORT")  # fmt: skip
    files = [COMPOSE, ROOT / "docker" / "compose.test.yml"]
    project = Project(files, {name: "1" for name in names}, "p")  # refuses keys it would not run
    assert project.order() == ["migrate", "web", "worker", "worker-live", "beat", "nginx"]
    assert set(compose()["services"]) - set(project.services()) == {"postgres", "redis", "s3"}
    for service in project.order():  # compose's image and command, as they are
        spec = compose()["services"][service]
        expected = [spec["image"], *(command(service) if "command" in spec else [])]
        assert project.run_command(service)[-len(expected) :] == expected
    assert interpolate("${A:-x}/${B-y}/$$z/${C}", {"B": "", "C": "c"}) == "x//$z/c"
    with pytest.raises(KeyError, match="REDIS_PASSWORD"):
        Project(files, {name: "1" for name in names if name != "REDIS_PASSWORD"}, "p")


def test_compose_runs_every_image_on_a_read_only_root_without_capabilities() -> None:
    services = compose()["services"]
    for name in ("migrate", "web", "worker", "worker-live", "beat", "nginx"):
        service = services[name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"] and "/tmp" in service["tmpfs"], name
