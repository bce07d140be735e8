"""Run the production-shaped stack on this machine, for the integration tests and the load test.

A fresh PostgreSQL database, Redis (under a key prefix of its own), one Celery worker on
the "inference" queue and an ASGI server (uvicorn or daphne), each a real process started
the way the README says; plus a client that uses the site as a person or program does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests
from websockets.sync.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("AGEWEB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("AGEWEB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Stack:
    """The processes of one running site; start with :func:`running_stack`."""

    def __init__(self, *, workdir: Path, estimator: str, server: str, concurrency: int, env: dict[str, str]) -> None:
        self.name = f"ageweb_it_{uuid.uuid4().hex[:10]}"
        self.workdir, self.server, self.concurrency = workdir, server, concurrency
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = _with_database(PG_ADMIN_URL, self.name)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ageweb.settings.local",
            "DEBUG": "false",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": REDIS_URL,
            "AGEWEB_REDIS_PREFIX": f"{self.name}:",
            "AGEWEB_ESTIMATOR": estimator,
            "MEDIA_ROOT": str(workdir / "media"),
            "AGEWEB_UPLOAD_RATE": "100000/minute",
            "AGEWEB_TOKEN_RATE": "100000/minute",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # processes

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_worker(self, timeout: float = 180) -> None:
        marker = len(self.log("worker"))
        self._spawn("worker", [
            sys.executable, "-m", "celery", "-A", "ageweb", "worker", "-Q", "inference",
            "--concurrency", str(self.concurrency), "--pool", "prefork", "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{self.name}@%h", "--loglevel", "INFO",
        ])  # fmt: skip
        self._wait(lambda: " ready." in self.log("worker")[marker:], "worker", timeout)

    def start_live_worker(self, timeout: float = 180) -> None:
        """A worker of its own for the "live" queue (live webcam frames), as `make worker` starts."""
        marker = len(self.log("live"))
        self._spawn("live", [
            sys.executable, "-m", "celery", "-A", "ageweb", "worker", "-Q", "live",
            "--concurrency", str(self.concurrency), "--pool", "prefork", "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{self.name}-live@%h", "--loglevel", "INFO",
        ])  # fmt: skip
        self._wait(lambda: " ready." in self.log("live")[marker:], "live", timeout)

    def start_server(self, timeout: float = 60) -> None:
        app = "ageweb.asgi:application"
        if self.server == "daphne":
            command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), app]
        else:
            command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
                       "--no-access-log", "--ws", "websockets"]  # fmt: skip
        self._spawn("server", command)
        self._wait(self._server_answers, "server", timeout)

    def _server_answers(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/accounts/login/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def _wait(self, ready: Any, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout} s:\n{self.log(name)[-4000:]}")
            time.sleep(0.2)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def worker_children(self) -> list[int]:
        """The pool processes of the worker (Linux only)."""
        pid = self.processes["worker"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    # database and redis

    def create_database(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def clean_up(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
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
    workers: bool = True,
) -> Iterator[Stack]:
    """The stack, cleaned up afterwards. ``workers=False`` runs it as `make run` does:
    no Redis, inference on threads of the web server (the embedded mode)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = env or {} if workers else {**(env or {}), "REDIS_URL": ""}
    stack = Stack(workdir=workdir, estimator=estimator, server=server, concurrency=concurrency, env=env)
    try:
        stack.create_database()
        if workers:
            stack.start_worker()
            stack.start_live_worker()
        stack.start_server()
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
            "csrfmiddlewaretoken": self.session.cookies["csrftoken"], "username": username,
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

    def watch(self, prediction_id: str, timeout: float = 120) -> list[dict[str, Any]]:
        """What the result page receives over its websocket, until the prediction finishes."""
        cookies = "; ".join(f"{k}={v}" for k, v in self.session.cookies.items())
        url = re.sub(r"^http", "ws", self.base_url) + f"/ws/predictions/{prediction_id}/"
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        with ws_connect(url, additional_headers={"Cookie": cookies, "Origin": self.base_url}, open_timeout=30) as ws:
            while not messages or messages[-1]["status"] not in {"done", "failed"}:
                messages.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))
        return messages
