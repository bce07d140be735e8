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

Every wait has a limit: each fault step its own, an upload's retries, a result, the whole run
(``budget_s``, the stack's start included). A step past its limit fails the soak with its name
and where it was stuck (``hung``), and the clients stop, so the soak ends and reports.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness import photos
from harness.stack import SiteClient, Stack, running_stack
from harness.steps import StepTimeout, run_step, step_timeout

FINISHED = {"done", "failed"}
RETRYABLE = {502, 503, 504}  # the site (or nginx) says: not now, try again
WINDOW_GRACE_S = 10.0  # after a restart, errors this long after it still belong to it
RETRY_S = 90.0  # an upload answered only "not now" for this long counts as an error: no restart takes so long
# Past the load's deadline a client still finishes what it is doing: an upload try (60 s), or
# a result's socket read (10 s), API poll (30 s) and close (10 s).
CLIENT_GRACE_S = 90.0
# The stack's reaper, fast enough for a run of minutes (production: see the README's Limits).
REAPER_ENV = {
    "AGEWEB_REAPER_INTERVAL": "5",
    "AGEWEB_REQUEUE_AFTER": "30",
    "AGEWEB_TASK_SOFT_TIME_LIMIT": "20",
    "AGEWEB_TASK_HARD_TIME_LIMIT": "30",
    "AGEWEB_RUNNING_STALE_AFTER": "45",
}
FAULT_SHARES = (0.15, 0.35, 0.55, 0.75)  # of the uploads accepted, when each fault comes


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
    hung: list[str] = field(default_factory=list)  # steps past their limits, each with where it was stuck
    doing: dict[int, str] = field(default_factory=dict)  # client number -> what it is doing now
    stop: threading.Event = field(default_factory=threading.Event)  # a step hung: the clients stop

    def response(self, status: int) -> None:
        with self.lock:
            self.responses.append((time.monotonic(), status))

    def step_hung(self, error: StepTimeout) -> None:
        """Record ``error`` and stop the clients: the stack is in no state to measure any more."""
        with self.lock:
            self.hung.append(f"{error}\n  clients: {self.clients()}")
        self.stop.set()

    def clients(self) -> str:
        return "; ".join(f"{number}: {doing}" for number, doing in sorted(self.doing.items()))


class Soaker:
    """One client of the soak: an account, uploads one after another, waits for each result,
    and stops taking uploads at ``until`` (a ``time.monotonic()`` moment)."""

    def __init__(self, number: int, base_url: str, tally: Tally, *, wait_s: float, until: float) -> None:
        self.number, self.base_url, self.tally, self.wait_s, self.until = number, base_url, tally, wait_s, until
        self.client = SiteClient(base_url)

    def now_doing(self, what: str) -> None:
        self.tally.doing[self.number] = what

    def sign_up(self) -> None:
        self.now_doing("signing up")
        self.client.sign_up(f"soak_{uuid.uuid4().hex[:10]}")
        self.now_doing("idle")

    def send(self, number: int, kind: str, data: bytes) -> None:
        self.now_doing(f"upload {number} ({kind}): sending")
        started = time.monotonic()
        response = self.upload(kind, data)
        if response is None:  # the soak stopped meanwhile
            return
        if response.status_code == 202:
            prediction_id = response.json()["id"]
            with self.tally.lock:
                self.tally.accepted[prediction_id] = kind
            self.now_doing(f"upload {number} ({kind}): waiting for {prediction_id}")
            if self.wait(prediction_id):
                with self.tally.lock:
                    self.tally.latencies.append(time.monotonic() - started)
        elif response.status_code in {400, 413}:
            with self.tally.lock:
                self.tally.refused[response.json()["error"]["code"]] += 1
        else:
            with self.tally.lock:
                self.tally.client_errors.append(f"{kind}: {response.status_code} {response.text[:120]}")
        self.now_doing("idle")

    def upload(self, kind: str, data: bytes) -> requests.Response | None:
        """The first answer that is not "not now"; None once the soak stops. Retries for at most
        RETRY_S (a restart's outage is seconds: past that the site is down) and until ``until``."""
        started, last = time.monotonic(), "nothing yet"
        while not self.tally.stop.is_set():
            waited = time.monotonic() - started
            if waited > RETRY_S or time.monotonic() > self.until:
                raise step_timeout(f"soak step 'upload a {kind} file'", waited, f"answered only {last}")
            try:
                response = self.client.upload(data, name=f"{kind}.bin")
            except requests.RequestException as error:
                self.tally.response(0)
                last = f"no answer ({type(error).__name__})"
            else:
                self.tally.response(response.status_code)
                if response.status_code not in RETRYABLE:
                    return response
                last = str(response.status_code)
            time.sleep(1)
        return None

    def wait(self, prediction_id: str) -> bool:
        """As the result page: the websocket, asking the API after 10 s of silence; polling once it drops.
        Gives up after ``wait_s``, at ``until``, or when the soak stops (settle() looks at it later)."""
        deadline = min(time.monotonic() + self.wait_s, self.until)

        def going() -> bool:
            return time.monotonic() < deadline and not self.tally.stop.is_set()

        try:
            with self.client.socket(prediction_id) as ws:
                while going():
                    try:
                        if json.loads(ws.recv(timeout=10))["status"] in FINISHED:
                            return True
                    except TimeoutError:  # a socket can go quiet for good when Redis restarts
                        if self.finished(prediction_id):
                            return True
        except Exception:  # the socket dropped (Redis, the worker or the web restarting): poll instead
            pass
        while going():
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


def _faults(stack: Stack, worker_restart_s: float) -> list[tuple[str, Callable[[], None], float]]:
    """Each fault, and the time it may take: a restart is seconds; the worker's start loads its models."""

    def kill_child() -> None:
        children = stack.worker_children()
        if children:
            os.kill(children[0], signal.SIGKILL)

    return [
        ("kill a worker process (SIGKILL)", kill_child, 10),
        ("restart the worker", stack.restart_worker, worker_restart_s),
        ("restart Redis", stack.restart_redis, 60),
        ("restart PostgreSQL", stack.restart_postgres, 90),
    ]


def fault_loop(
    faults: list[tuple[str, Callable[[], None], float]], tally: Tally, total: int, done: threading.Event, until: float
) -> None:
    """Each fault once, when 15%, 35%, 55% and 75% of the uploads have been accepted (or all were
    sent); stops at the first step past its limit."""
    for share, (name, fault, seconds) in zip(FAULT_SHARES, faults, strict=True):
        try:
            if not wait_for_share(tally, share, total=total, done=done, until=until, before=name):
                return  # the soak stopped: another step hung
        except StepTimeout as error:
            _hung(tally, error)
            return
        start = time.monotonic()
        try:
            run_step(f"soak step {name!r}", fault, seconds)
        except StepTimeout as error:
            _hung(tally, error)
            return
        except Exception as error:
            tally.client_errors.append(f"fault {name!r} failed: {error}")
        finally:
            with tally.lock:
                tally.windows.append((name, start, time.monotonic()))
        print(f"  fault: {name} ({time.monotonic() - start:.1f} s)", flush=True)


def _hung(tally: Tally, error: StepTimeout) -> None:
    tally.step_hung(error)
    print(f"  hung: {error}", flush=True)


def wait_for_share(tally: Tally, share: float, total: int, done: threading.Event, until: float, *, before: str) -> bool:
    """Until ``share`` of ``total`` uploads are accepted or all were sent (True), or the soak
    stops (False); StepTimeout at ``until``."""
    started = time.monotonic()
    while len(tally.accepted) < share * total and not done.is_set():
        if tally.stop.is_set():
            return False
        if time.monotonic() > until:
            step = f"soak step 'wait for {share:.0%} of the uploads to be accepted, before {before!r}'"
            raise step_timeout(step, time.monotonic() - started, f"{len(tally.accepted)} of {total} accepted")
        time.sleep(0.2)
    return True


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
    env: dict[str, str] | None = None, wait_s: float = 600, budget_s: float = 3600, worker_restart_s: float = 240,
) -> dict[str, Any]:  # fmt: skip
    """Run the soak; the figures as a dict (see the module docstring).

    ``budget_s`` bounds the run from the stack's start to the figures: the uploads stop early
    enough to leave the reaper's deadline for the results. ``wait_s`` bounds one client's wait
    for one result, ``worker_restart_s`` the worker's restart (its models load on start)."""
    began = time.monotonic()
    stack_env = {**REAPER_ENV, **(env or {})}
    reaper_deadline = (
        float(stack_env["AGEWEB_REQUEUE_AFTER"]) + float(stack_env["AGEWEB_RUNNING_STALE_AFTER"])
        + 2 * float(stack_env["AGEWEB_REAPER_INTERVAL"]) + 30
    )  # fmt: skip
    until = began + budget_s - reaper_deadline  # no upload starts later
    tally = Tally()
    with running_stack(
        workdir=workdir, estimator=estimator, concurrency=concurrency, env=stack_env, production=True
    ) as stack:
        stack_start_s = time.monotonic() - began
        print(f"stack: nginx at {stack.base_url} -> gunicorn (uvicorn workers) -> worker (concurrency {concurrency}),"
              f" beat, private PostgreSQL :{stack.pg_port} and Redis :{stack.redis_port} (AOF); estimator {estimator};"
              f" started in {stack_start_s:.1f} s", flush=True)  # fmt: skip
        soakers = [Soaker(number, stack.base_url, tally, wait_s=wait_s, until=until) for number in range(clients)]
        with ThreadPoolExecutor(len(soakers)) as pool:  # side by side: each sign-up hashes a password
            list(pool.map(Soaker.sign_up, soakers))
        load_began = time.monotonic()
        sign_up_s = load_began - began - stack_start_s
        load(stack, tally, soakers, uploads=uploads, until=until, restart_s=worker_restart_s)
        load_s = time.monotonic() - load_began
        settle_began = time.monotonic()
        rows = settle(stack, list(tally.accepted), min(reaper_deadline, began + budget_s - settle_began))
        settle_s = time.monotonic() - settle_began
        reaped = stack.log("worker").count("Reaper: queued")
        stopping = time.monotonic()
    stop_s = time.monotonic() - stopping

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
        "hung": tally.hung,
        "reaper_requeue_logs": reaped,
        "client_errors": tally.client_errors[:20],
        "stack_start_s": stack_start_s,
        "sign_up_s": sign_up_s,
        "load_s": load_s,
        "settle_s": settle_s,
        "stack_stop_s": stop_s,
        "total_s": time.monotonic() - began,
        "p50_s": percentile(tally.latencies, 0.5),
        "p95_s": percentile(tally.latencies, 0.95),
        "reaper_deadline_s": reaper_deadline,
    }


def load(stack: Stack, tally: Tally, soakers: list[Soaker], *, uploads: int, until: float, restart_s: float) -> None:
    """The clients' uploads and, beside them, the faults (``restart_s``: the worker's restart may take
    this long); returns once both are over, by ``until`` plus a client's grace and the faults' limits."""
    started, mix = time.monotonic(), upload_mix()
    jobs = iter([(i, *mix[i % len(mix)]) for i in range(uploads)])
    job_lock, sent = threading.Lock(), threading.Event()

    def run(soaker: Soaker) -> None:
        while not tally.stop.is_set() and time.monotonic() < until:
            with job_lock:
                job = next(jobs, None)
            if job is None:
                return
            try:
                soaker.send(*job)
            except StepTimeout as error:  # the site stopped answering: no use sending more
                _hung(tally, error)
                return
            except Exception as error:
                with tally.lock:
                    tally.client_errors.append(f"upload {job[0]}: {type(error).__name__}: {error}")

    faults = _faults(stack, restart_s)
    fault_thread = threading.Thread(target=fault_loop, args=(faults, tally, uploads, sent, until), daemon=True)
    fault_thread.start()
    threads = [threading.Thread(target=run, args=(s,), name=f"client {s.number}", daemon=True) for s in soakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(until - time.monotonic(), 0) + CLIENT_GRACE_S)
        if thread.is_alive():
            _hung(tally, step_timeout(f"soak step '{thread.name}'", CLIENT_GRACE_S, "still busy past the deadline"))
    with job_lock:
        left = sum(1 for _ in jobs)
    if left and not tally.stop.is_set():
        _hung(tally, step_timeout("soak step 'send the uploads'", until - started, f"{left} of {uploads} not sent"))
    sent.set()
    limit = sum(seconds for _, _, seconds in faults) + 5  # the faults still to come, one after another
    fault_thread.join(limit)
    if fault_thread.is_alive():
        _hung(tally, step_timeout("soak step 'the faults'", limit, "their thread outlived their limits"))


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
        f"time: stack start {figures['stack_start_s']:.1f} s, sign-up {figures['sign_up_s']:.1f} s, load "
        f"{figures['load_s']:.1f} s, settle {figures['settle_s']:.1f} s, stack stop {figures['stack_stop_s']:.1f} s; "
        f"{figures['total_s']:.1f} s in all",
        *(f"  hung: {step}" for step in figures["hung"]),
        *(f"  client error: {error}" for error in figures["client_errors"]),
    ])  # fmt: skip


def passed(figures: dict[str, Any]) -> bool:
    return (
        figures["lost"] == 0 and figures["stuck"] == 0 and figures["server_errors_outside_windows"] == 0
        and not figures["client_errors"] and not figures["hung"] and len(figures["faults"]) == 4
    )  # fmt: skip
