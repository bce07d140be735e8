"""The images, run as compose runs them, used through the proxy as people and programs use the site.

The images are built first (``docker/build-images.sh``, as ``make images``; cached, so seconds
when nothing changed). docker/compose.yml's web, inference worker, live worker, beat, migrate
and nginx services then run in containers (docker/compose.test.yml laid over it, read by
``tests/containers/compose.py``), with the real models, against a private PostgreSQL (the app
as its own role, by docker/postgres/app-role.sh), a private Redis (compose's ACL: a password,
no default user) and a private S3 server, started here by ``harness/stack.py``. Every container
and volume is removed at the end, whether the tests passed or not.
Skips, saying why, only where no container engine (podman, or docker with its daemon) is
installed, or PostgreSQL, Redis or nginx are missing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import requests
import yaml
from PIL import Image

from harness import photos
from harness.stack import SiteClient, Stack, private_services_missing
from tests.containers import summary
from tests.containers.compose import LABEL, Project

pytestmark = pytest.mark.containers

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [ROOT / "docker" / "compose.yml", ROOT / "docker" / "compose.test.yml"]
MAX_APP_IMAGE_MB = 900
PASSWORD = "correct horse battery 9"  # SiteClient.sign_up's


def engine() -> str | None:
    """podman, or docker where its daemon answers."""
    if shutil.which("podman"):
        return "podman"
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return "docker"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Site:
    project: Project
    stack: Stack
    url: str
    variables: dict[str, str]

    def app_sql(self, query: str) -> list[tuple[Any, ...]]:
        """A query as the app's own role, over TCP with its password (as the containers connect)."""
        url = self.project.config["services"]["web"]["environment"]["DATABASE_URL"]
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
            return conn.execute(query).fetchall()

    def wait_until(self, ready: Any, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} after {timeout} s")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def images() -> str:
    """Both images built (the layer and pip caches make a rebuild cheap); the engine's name."""
    found = engine()
    if found is None:
        pytest.skip("no container engine: install podman (and runc), or start docker's daemon")
    started = time.monotonic()
    build = subprocess.run([str(ROOT / "docker" / "build-images.sh")], env={**os.environ, "ENGINE": found},
                           capture_output=True, text=True)  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"the images did not build:\n{(build.stdout + build.stderr)[-6000:]}")
    summary.FIGURES["build"] = f"built in {time.monotonic() - started:.0f} s"
    return found


@pytest.fixture(scope="module")
def site(images: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    reason = private_services_missing()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("containers")
    stack = Stack(workdir=workdir, estimator="ml.inference.Estimator", server="gunicorn", concurrency=1, env={},
                  production=True, object_store=True)  # fmt: skip
    project: Project | None = None
    started = time.monotonic()
    try:
        stack.start_postgres()
        stack.start_redis()
        assert stack.store is not None
        stack.store.start()
        variables = {
            "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "POSTGRES_PASSWORD": secrets.token_urlsafe(18), "AGEWEB_DB_PASSWORD": secrets.token_urlsafe(18),
            "REDIS_PASSWORD": secrets.token_urlsafe(18), **stack.store.env,
            "AGEWEB_TEST_PG_PORT": str(stack.pg_port), "AGEWEB_TEST_REDIS_PORT": str(stack.redis_port),
            "AGEWEB_TEST_WEB_PORT": str(free_port()), "AGEWEB_TEST_HTTP_PORT": str(free_port()),
            "AGEWEB_TEST_WORKER_METRICS_PORT": str(free_port()),
        }  # fmt: skip
        project = Project(COMPOSE_FILES, variables, f"ageweb-test-{uuid.uuid4().hex[:8]}", engine=images)
        _as_compose_postgres(stack, variables)
        _as_compose_redis(stack, project)
        project.start()
        summary.FIGURES["up"] = f"up in {time.monotonic() - started:.0f} s"
        yield Site(project, stack, f"http://127.0.0.1:{variables['AGEWEB_TEST_HTTP_PORT']}", variables)
    finally:
        left = project.remove() if project is not None else []
        stack.clean_up()
        summary.FIGURES["left"] = f"{len(left)} containers left"
        assert not left, f"containers left behind: {left}"


def _as_compose_postgres(stack: Stack, variables: dict[str, str]) -> None:
    """The app's role made by compose's init script; TCP logins then need its password."""
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(stack.pg_port), "POSTGRES_USER": "postgres",
           "AGEWEB_DB_PASSWORD": variables["AGEWEB_DB_PASSWORD"]}  # fmt: skip
    subprocess.run(["sh", str(ROOT / "docker" / "postgres" / "app-role.sh")], env=env, check=True, capture_output=True)
    assert stack.pg_data is not None
    (stack.pg_data / "pg_hba.conf").write_text(
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    with psycopg.connect(stack.pg_admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


def _as_compose_redis(stack: Stack, project: Project) -> None:
    """Compose's ACL file (redis-users), line by line; the default user, turned off, last."""
    lines = [line.split() for line in project.config["configs"]["redis-users"]["content"].splitlines() if line]
    client = redis.Redis.from_url(stack.redis_url)
    for _, name, *rules in sorted(lines, key=lambda line: line[1] == "default"):
        client.execute_command("ACL", "SETUSER", name, *rules)


def person(site: Site) -> tuple[SiteClient, str]:
    client = SiteClient(site.url)
    username = f"c_{uuid.uuid4().hex[:8]}"
    client.sign_up(username)
    return client, username


def grid_photo(side: int = 3) -> bytes:
    """``side`` x ``side`` faces in one photo: seconds of work for a worker, time to kill it."""
    face = photos.astronaut()
    canvas = Image.new("RGB", (face.width * side, face.height * side))
    for i in range(side * side):
        canvas.paste(face, ((i % side) * face.width, (i // side) * face.height))
    return photos.encode(canvas, quality=90)


def logged_in(url: str, username: str) -> requests.Session:
    """A new browser session, logged in through the log-in form."""
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=30)
    token = next(v for k, v in session.cookies.items() if k.endswith("csrftoken"))
    form = {"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}
    answer = session.post(f"{url}/accounts/login/", data=form, timeout=30)
    assert answer.status_code == 200 and "/accounts/login/" not in answer.url, answer.url
    return session


def test_the_images_hold_what_serving_needs_and_run_as_no_root(images: str) -> None:
    script = (
        "ls -A /app; echo --; ls -A /app/ml /app/docker; echo --; id -u; echo --; "
        "find / -xdev \\( -name '*.keras' -o -iname '*utkface*' -o -name '*.chip.jpg' -o -name .env "
        "-o -name 'shape_predictor_68*' -o -name tests -path '/app/*' \\) -print 2>/dev/null; true"
    )
    out = subprocess.run([images, "run", "--rm", "--network", "host", "ageweb:latest", "sh", "-c", script],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    app, inner, uid, found = (part.split() for part in out.split("--\n"))
    assert set(app) == {"manage.py", "ageweb", "accounts", "estimator", "templates", "static", "staticfiles",
                        "ml", "docker", "media"}  # fmt: skip
    assert {"training", "studies", "evaluate.py"}.isdisjoint(inner) and "gunicorn.conf.py" in inner
    assert uid == ["10001"] and found == []
    proxy_uid = subprocess.run([images, "run", "--rm", "--entrypoint", "id", "ageweb-proxy:latest", "-u"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert proxy_uid == "101"
    sizes = {}
    for image in ("ageweb:latest", "ageweb-proxy:latest"):
        size = subprocess.run([images, "image", "inspect", "--format", "{{.Size}}", image],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        sizes[image] = int(size) / 1e6
    summary.FIGURES["sizes"] = "app {:.0f} MB, proxy {:.0f} MB".format(*sizes.values())
    assert sizes["ageweb:latest"] <= MAX_APP_IMAGE_MB


def test_the_app_reaches_postgresql_as_its_own_role_and_redis_only_with_its_password(site: Site) -> None:
    [(role, superuser)] = site.app_sql("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    assert role == "ageweb" and superuser is False
    anonymous = redis.Redis(port=site.stack.redis_port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()


def test_health_and_readiness_answer_through_the_proxy(site: Site) -> None:
    assert requests.get(f"{site.url}/healthz", timeout=30).json() == {"status": "ok"}
    ready = requests.get(f"{site.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"]["queues"] == {"inference": 1, "default": 1, "live": 1}


def test_static_files_come_from_the_proxy(site: Site) -> None:
    response = requests.get(f"{site.url}/static/css/site.css", timeout=30)
    assert response.status_code == 200 and "text/css" in response.headers["Content-Type"]
    # nginx's "expires 7d" (the static location); WhiteNoise, the app's fallback, would say max-age=60
    assert response.headers["Cache-Control"] == "max-age=604800" and "Expires" in response.headers


def test_a_person_signs_up_logs_in_and_the_websocket_pushes_the_age_of_an_upload(site: Site) -> None:
    client, username = person(site)
    session = logged_in(site.url, username)
    assert session.get(f"{site.url}/accounts/profile/", timeout=30).url.endswith("/accounts/profile/")
    started = time.monotonic()
    upload = client.upload(photos.face_photo())
    assert upload.status_code in (201, 202), upload.text
    messages = client.watch(upload.json()["id"], timeout=120)
    summary.FIGURES["photo"] = f"photo {time.monotonic() - started:.1f} s"
    result = messages[-1]
    assert result["status"] == "done" and len(result["faces"]) == 1
    assert 18 <= result["faces"][0]["age"] <= 75


def test_the_inference_worker_serves_its_own_metrics_with_the_photos_it_finished(site: Site) -> None:
    port = site.variables["AGEWEB_TEST_WORKER_METRICS_PORT"]
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    done = re.findall(r'^ageweb_predictions_total\{outcome="done",version="[^"]*"\} (\S+)$', text, re.MULTILINE)
    assert done and sum(map(float, done)) >= 1  # counted by a pool process, served by the worker's main process


def test_a_live_frame_is_answered_by_the_live_worker(site: Site) -> None:
    client, _ = person(site)
    [answer] = client.live([photos.face_photo(640, 480)])
    assert answer["type"] == "result" and len(answer["faces"]) == 1
    assert "estimator.tasks.live_frame[" in site.project.logs("worker-live", tail=200)


def test_a_worker_container_killed_during_work_loses_nothing(site: Site) -> None:
    client, _ = person(site)
    ids = [client.upload(grid_photo()).json()["id"] for _ in range(3)]

    def running() -> bool:
        return bool(site.app_sql("SELECT 1 FROM estimator_prediction WHERE status = 'running'"))

    site.wait_until(running, "no photo running", timeout=120)
    subprocess.run([site.project.engine, "kill", "--signal", "KILL", site.project.container("worker")], check=True)
    killed = time.monotonic()
    # restart: unless-stopped brings it back by itself; start it if this engine has not yet.
    time.sleep(2)
    if site.project.state("worker")["Status"] != "running":
        subprocess.run([site.project.engine, "start", site.project.container("worker")], check=True)
    statuses = [client.watch(i, timeout=240)[-1] for i in ids]
    summary.FIGURES["kill"] = f"worker killed mid-photo: 0 of 3 lost, back in {time.monotonic() - killed:.0f} s"
    assert [s["status"] for s in statuses] == ["done"] * 3
    assert all(len(s["faces"]) == 9 for s in statuses)
    retried = site.app_sql("SELECT max(attempts) FROM estimator_prediction WHERE status = 'done'")
    assert retried[0][0] >= 2  # the photo that was running when its worker died ran again
    # taken back by the worker as it started again, not by the reaper half a minute later
    log = site.project.logs("worker", tail=500)
    assert re.search(r"took back [1-9]\d* predictions it was running when it stopped", log), log[-3000:]


def test_a_restarted_web_container_keeps_sessions(site: Site) -> None:
    _, username = person(site)
    session = logged_in(site.url, username)
    subprocess.run([site.project.engine, "restart", site.project.container("web")], check=True, capture_output=True)
    site.project.await_condition("web", "service_healthy", timeout=120)
    page = session.get(f"{site.url}/accounts/profile/", timeout=30)
    assert page.status_code == 200 and page.url.endswith("/accounts/profile/")
    assert re.search(rf"\b{username}\b", page.text)


def test_the_cluster_s_edge_ends_tls_and_plain_http_only_redirects(site: Site, tmp_path: Path) -> None:
    """The proxy image as deploy/k8s/web.yaml runs it beside the web server: its environment,
    a certificate mounted read-only, a read-only root, no capabilities, uid 101."""
    manifest = next(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "web.yaml").read_text()))  # the Deployment
    [nginx] = [c for c in manifest["spec"]["template"]["spec"]["containers"] if c["name"] == "nginx"]
    https, http = free_port(), free_port()
    env = {item["name"]: item["value"] for item in nginx["env"]}
    env |= {"AGEWEB_UPSTREAM": f"127.0.0.1:{site.variables['AGEWEB_TEST_WEB_PORT']}",  # here, the host's network
            "NGINX_PORT": f"127.0.0.1:{https} ssl", "NGINX_REDIRECT_PORT": f"127.0.0.1:{http}"}  # fmt: skip
    tls = tmp_path / "tls"
    tls.mkdir(mode=0o755)
    certificate = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                   "-addext", "subjectAltName=IP:127.0.0.1",
                   "-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")]  # fmt: skip
    subprocess.run(certificate, check=True, capture_output=True)
    (tls / "tls.key").chmod(0o644)  # the secret's files as the kubelet mounts them
    trusted = str(tls / "tls.crt")  # the client checks the certificate the edge serves
    mounts = [f"--tmpfs={m['mountPath']}" for m in nginx["volumeMounts"] if m["name"] != "tls"]  # its emptyDirs
    edge = f"{site.project.name}-edge"
    run = [site.project.engine, "run", "--detach", "--name", edge, "--label", f"{LABEL}={site.project.name}",
           "--network", "host", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges:true",
           "--user", "101:101", *mounts, "--volume", f"{tls}:/etc/nginx/tls:ro",
           *(f"--env={k}={v}" for k, v in env.items()), "ageweb-proxy:latest"]  # fmt: skip
    subprocess.run(run, check=True, capture_output=True)

    def answers() -> bool:
        try:
            return requests.get(f"https://127.0.0.1:{https}/healthz", verify=trusted, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    site.wait_until(answers, "the edge does not answer over TLS", timeout=60)
    plain = requests.get(f"http://127.0.0.1:{http}/accounts/login/?next=/", allow_redirects=False, timeout=10)
    assert plain.status_code == 308 and plain.headers["Location"] == "https://127.0.0.1/accounts/login/?next=/"
    assert requests.get(f"http://127.0.0.1:{http}/healthz", allow_redirects=False, timeout=10).status_code == 308
    page = requests.get(f"https://127.0.0.1:{https}/accounts/login/", verify=trusted, timeout=30)
    assert page.status_code == 200 and "csrftoken" in " ".join(page.cookies.keys())
    static = requests.get(f"https://127.0.0.1:{https}/static/css/site.css", verify=trusted, timeout=10)
    assert static.status_code == 200 and static.headers["Cache-Control"] == "max-age=604800"
