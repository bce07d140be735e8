"""Soak: the production-shaped stack under load while its parts fail, one after another.

The stack runs as compose runs it, as local processes (``harness/stack.py``, ``production=True``):
nginx in front of gunicorn with uvicorn workers, a Celery inference worker, beat (the
reaper), and private PostgreSQL and Redis (AOF) on their own ports and data folders. Against
nginx, N clients (each its own account) send M uploads in all, a mix of real faces and the
awkward files the tests use, and wait for each result as the result page does (websocket,
then polling). Meanwhile, once each: a worker pool process is killed with SIGKILL, the
whole worker is restarted, Redis is restarted, PostgreSQL is restarted.

It prints: uploads accepted, refused (and why), finished (done, or failed with a reason),
lost (accepted, then gone), stuck (unfinished after the reaper's deadline), 5xx responses
(inside a restart window, where a 503 is expected, and outside), and upload-to-result
percentiles. It fails unless nothing is lost, nothing is stuck and no 5xx falls outside
the restart windows. The command line is ``tools/soak.py`` (``make soak``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness import photos
from harness.stack import SiteClient, Stack, running_stack

FINISHED = {"done", "failed"}
RETRYABLE = {502, 503, 504}  # the site (or nginx) says: not now, try again
WINDOW_GRACE_S = 10.0  # after a restart, errors this long after it still belong to it
# The stack's reaper, fast enough for a run of minutes (production: see the README's Limits).
REAPER_ENV = {
    "AGEWEB_REAPER_INTERVAL": "5",
    "AGEWEB_REQUEUE_AFTER": "30",
    "AGEWEB_TASK_SOFT_TIME_LIMIT": "20",
    "AGEWEB_TASK_HARD_TIME_LIMIT": "30",
    "AGEWEB_RUNNING_STALE_AFTER": "45",
}


def upload_mix() -> list[tuple[str, bytes]]:
    """Four in five are faces at several sizes; the fifth cycles through the awkward files."""
    faces = [photos.face_photo(640, 480), photos.face_photo(1024, 768), photos.face_photo(320, 240)]
    awkward = [
        ("no_face", photos.no_face_photo()), ("sixteen_bit", photos.sixteen_bit_png()),
        ("transparent", photos.transparent_png()), ("rotated", photos.rotated_by_exif()),
        ("truncated", photos.truncated_jpeg()), ("text", photos.text_named_jpg()),
        ("animated", photos.animated_gif()), ("sliver", photos.sliver_png()), ("empty", b""),
        ("bomb", photos.huge_png()), ("12mb", photos.oversized_file(12)),
    ]  # fmt: skip
    mix: list[tuple[str, bytes]] = []
    for i in range(4 * len(awkward)):
        mix += [("face", faces[i % len(faces)])]
        if i % 4 == 3:
            mix.append(awkward[i // 4])
    return mix


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    responses: list[tuple[float, int]] = field(default_factory=list)  # (time, status); 0: no answer
    accepted: dict[str, str] = field(default_factory=dict)  # prediction id -> kind of file
    refused: Counter[str] = field(default_factory=Counter)  # error code -> count
    latencies: list[float] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # fault, start, end

    def response(self, status: int) -> None:
        with self.lock:
            self.responses.append((time.monotonic(), status))


class Soaker:
    """One client of the soak: an account, uploads one after another, waits for each result."""

    def __init__(self, base_url: str, tally: Tally, deadline_s: float) -> None:
        self.base_url, self.tally, self.deadline_s = base_url, tally, deadline_s
        self.client = SiteClient(base_url)

    def sign_up(self) -> None:
        self.client.sign_up(f"soak_{uuid.uuid4().hex[:10]}")

    def send(self, kind: str, data: bytes) -> None:
        while True:
            started = time.monotonic()
            try:
                response = self.client.upload(data, name=f"{kind}.bin")
            except requests.RequestException:
                self.tally.response(0)
                time.sleep(1)
                continue
            self.tally.response(response.status_code)
            if response.status_code not in RETRYABLE:
                break
            time.sleep(1)
        if response.status_code == 202:
            prediction_id = response.json()["id"]
            with self.tally.lock:
                self.tally.accepted[prediction_id] = kind
            if self.wait(prediction_id):
                with self.tally.lock:
                    self.tally.latencies.append(time.monotonic() - started)
        elif response.status_code in {400, 413}:
            with self.tally.lock:
                self.tally.refused[response.json()["error"]["code"]] += 1
        else:
            with self.tally.lock:
                self.tally.client_errors.append(f"{kind}: {response.status_code} {response.text[:120]}")

    def wait(self, prediction_id: str) -> bool:
        """As the result page: the websocket, asking the API after 10 s of silence; polling once it drops."""
        deadline = time.monotonic() + self.deadline_s
        try:
            with self.client.socket(prediction_id) as ws:
                while time.monotonic() < deadline:
                    try:
                        if json.loads(ws.recv(timeout=10))["status"] in FINISHED:
                            return True
                    except TimeoutError:  # a socket can go quiet for good when Redis restarts
                        if self.finished(prediction_id):
                            return True
        except Exception:  # the socket dropped (Redis, the worker or the web restarting): poll instead
            pass
        while time.monotonic() < deadline:
            if self.finished(prediction_id):
                return True
            time.sleep(1)
        return False

    def finished(self, prediction_id: str) -> bool:
        try:
            response = requests.get(
                f"{self.base_url}/api/v1/predictions/{prediction_id}/", headers=self.client._auth(), timeout=30
            )
        except requests.RequestException:
            self.tally.response(0)
            return False
        self.tally.response(response.status_code)
        return response.status_code == 200 and response.json()["status"] in FINISHED


def _faults(stack: Stack) -> list[tuple[str, Callable[[], None]]]:
    def kill_child() -> None:
        children = stack.worker_children()
        if children:
            os.kill(children[0], signal.SIGKILL)

    return [
        ("kill a worker process (SIGKILL)", kill_child),
        ("restart the worker", stack.restart_worker),
        ("restart Redis", stack.restart_redis),
        ("restart PostgreSQL", stack.restart_postgres),
    ]


def fault_loop(stack: Stack, tally: Tally, total: int, done: threading.Event) -> None:
    """Each fault once, when 15%, 35%, 55% and 75% of the uploads have been accepted."""
    for share, (name, fault) in zip((0.15, 0.35, 0.55, 0.75), _faults(stack), strict=True):
        while len(tally.accepted) < share * total and not done.is_set():
            time.sleep(0.2)
        start = time.monotonic()
        try:
            fault()
        except Exception as error:
            tally.client_errors.append(f"fault {name!r} failed: {error}")
        with tally.lock:
            tally.windows.append((name, start, time.monotonic()))
        print(f"  fault: {name} ({time.monotonic() - start:.1f} s)", flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def settle(stack: Stack, ids: list[str], deadline_s: float) -> dict[str, tuple[str, str, int]]:
    """Each accepted prediction's (status, failure reason, attempts), once all finished or the deadline passed."""
    deadline = time.monotonic() + deadline_s
    while True:
        rows = {
            str(pk): (status, reason, attempts)
            for pk, status, reason, attempts in stack.sql(
                "SELECT id, status, failure_reason, attempts FROM estimator_prediction WHERE id = ANY(%s::uuid[])", ids
            )
        }
        unfinished = [pk for pk, (status, _, _) in rows.items() if status not in FINISHED]
        if not unfinished or time.monotonic() > deadline:
            return rows
        time.sleep(2)


def _in_window(moment: float, windows: list[tuple[str, float, float]]) -> bool:
    return any(start <= moment <= end + WINDOW_GRACE_S for _, start, end in windows)


def soak(
    *, workdir: Path, clients: int, uploads: int, estimator: str, concurrency: int,
    env: dict[str, str] | None = None, wait_s: float = 600,
) -> dict[str, Any]:  # fmt: skip
    """Run the soak; the figures as a dict (see the module docstring)."""
    stack_env = {**REAPER_ENV, **(env or {})}
    reaper_deadline = (
        float(stack_env["AGEWEB_REQUEUE_AFTER"]) + float(stack_env["AGEWEB_RUNNING_STALE_AFTER"])
        + 2 * float(stack_env["AGEWEB_REAPER_INTERVAL"]) + 30
    )  # fmt: skip
    tally, mix = Tally(), upload_mix()
    with running_stack(
        workdir=workdir, estimator=estimator, concurrency=concurrency, env=stack_env, production=True
    ) as stack:
        print(f"stack: nginx at {stack.base_url} -> gunicorn (uvicorn workers) -> worker (concurrency {concurrency}),"
              f" beat, private PostgreSQL :{stack.pg_port} and Redis :{stack.redis_port} (AOF); estimator {estimator}",
              flush=True)  # fmt: skip
        soakers = [Soaker(stack.base_url, tally, wait_s) for _ in range(clients)]
        for soaker in soakers:
            soaker.sign_up()
        jobs = [(i, mix[i % len(mix)]) for i in range(uploads)]
        next_job = iter(jobs)
        job_lock, finished = threading.Lock(), threading.Event()

        def run(soaker: Soaker) -> None:
            while True:
                with job_lock:
                    job = next(next_job, None)
                if job is None:
                    return
                try:
                    soaker.send(*job[1])
                except Exception as error:
                    with tally.lock:
                        tally.client_errors.append(f"upload {job[0]}: {type(error).__name__}: {error}")

        began = time.monotonic()
        faults = threading.Thread(target=fault_loop, args=(stack, tally, uploads, finished), daemon=True)
        faults.start()
        threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in soakers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished.set()
        faults.join()
        load_s = time.monotonic() - began
        rows = settle(stack, list(tally.accepted), reaper_deadline)
        reaped = stack.log("worker").count("Reaper: queued")

    statuses = Counter(status for status, _, _ in rows.values())
    reasons = Counter(reason for status, reason, _ in rows.values() if status == "failed")
    server_errors = [(moment, status) for moment, status in tally.responses if status >= 500]
    outside = [status for moment, status in server_errors if not _in_window(moment, tally.windows)]
    return {
        "clients": clients,
        "uploads": uploads,
        "requests": len(tally.responses),
        "accepted": len(tally.accepted),
        "refused": dict(tally.refused),
        "done": statuses["done"],
        "failed": statuses["failed"],
        "failure_reasons": dict(reasons),
        "lost": len(set(tally.accepted) - set(rows)),
        "stuck": sum(1 for status, _, _ in rows.values() if status not in FINISHED),
        "rerun": sum(1 for _, _, attempts in rows.values() if attempts > 1),
        "server_errors": len(server_errors),
        "server_errors_by_status": dict(Counter(status for _, status in server_errors)),
        "server_errors_outside_windows": len(outside),
        "no_answer": sum(1 for _, status in tally.responses if status == 0),
        "faults": [(name, round(end - start, 1)) for name, start, end in tally.windows],
        "reaper_requeue_logs": reaped,
        "client_errors": tally.client_errors[:20],
        "load_s": load_s,
        "p50_s": percentile(tally.latencies, 0.5),
        "p95_s": percentile(tally.latencies, 0.95),
        "reaper_deadline_s": reaper_deadline,
    }


def report(figures: dict[str, Any]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    return "\n".join([
        f"uploads: {figures['uploads']} from {figures['clients']} clients in {figures['load_s']:.1f} s "
        f"({figures['requests']} requests)",
        f"accepted: {figures['accepted']}; refused: {sum(figures['refused'].values())} {figures['refused']}",
        f"finished: {figures['done'] + figures['failed']} (done {figures['done']}, failed {figures['failed']}"
        f" {figures['failure_reasons']}); run more than once: {figures['rerun']}",
        f"lost: {figures['lost']}; stuck after the reaper's deadline ({figures['reaper_deadline_s']:.0f} s): "
        f"{figures['stuck']}",
        f"5xx: {figures['server_errors']} {figures['server_errors_by_status']}, outside restart windows: "
        f"{figures['server_errors_outside_windows']}; no answer: {figures['no_answer']}",
        f"faults: {figures['faults']}",
        f"upload to result: p50 {seconds(figures['p50_s'])}, p95 {seconds(figures['p95_s'])}",
        *(f"  client error: {error}" for error in figures["client_errors"]),
    ])  # fmt: skip


def passed(figures: dict[str, Any]) -> bool:
    return (
        figures["lost"] == 0 and figures["stuck"] == 0 and figures["server_errors_outside_windows"] == 0
        and not figures["client_errors"] and len(figures["faults"]) == 4
    )  # fmt: skip
