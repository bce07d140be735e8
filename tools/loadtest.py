"""Load test: upload-to-result latency and 20 concurrent clients, against the real stack.

By default it starts the production-shaped stack itself (a fresh PostgreSQL database, Redis,
one Celery worker with the real models, uvicorn), then:

1. latency: one person uploads a 640x480 photo with one face, then (as the result page does)
   listens on the websocket until it is done; upload-to-result time, one upload at a time;
2. load: 20 clients, each its own account, upload 200 photos in all and wait for each result;
   every request must succeed, and afterwards every prediction must be done (none lost,
   none stuck); prints throughput and latency percentiles.

    .venv/bin/python tools/loadtest.py                     # needs PostgreSQL, Redis, the models
    .venv/bin/python tools/loadtest.py --url https://...   # against a running deployment
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.photos import face_photo
from harness.stack import SiteClient, running_stack, unreachable_services


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds, upload start to "done" on the socket
    errors: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def one_prediction(person: SiteClient, photo: bytes) -> tuple[str, float]:
    """Upload, then watch like the result page; the id and the upload-to-result time."""
    started = time.perf_counter()
    response = person.upload(photo)
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:200]}")
    prediction_id: str = response.json()["id"]
    final = person.watch(prediction_id, timeout=300)[-1]
    elapsed = time.perf_counter() - started
    if final["status"] != "done" or len(final["faces"]) != 1:
        raise RuntimeError(f"{prediction_id} ended {final['status']} with {len(final['faces'])} faces")
    return prediction_id, elapsed


def person(base_url: str, tag: str) -> SiteClient:
    client = SiteClient(base_url)
    client.sign_up(f"load_{tag}_{uuid.uuid4().hex[:8]}")
    return client


def latency_phase(base_url: str, samples: int, warmup: int) -> dict[str, Any]:
    client, photo = person(base_url, "latency"), face_photo(640, 480)
    for _ in range(warmup):
        one_prediction(client, photo)
    times = [one_prediction(client, photo)[1] for _ in range(samples)]
    server = [server_seconds(client.get(pid)) for pid in [p["id"] for p in client.list_all()[:samples]]]
    return {
        "samples": samples,
        "median_s": statistics.median(times),
        "p95_s": percentile(times, 0.95),
        "min_s": min(times),
        "max_s": max(times),
        "server_median_s": statistics.median(server),
    }


def server_seconds(prediction: dict[str, Any]) -> float:
    from datetime import datetime

    created, finished = (datetime.fromisoformat(prediction[k]) for k in ("created_at", "finished_at"))
    return (finished - created).total_seconds()


def client_loop(
    base_url: str, index: int, uploads: int, outcome: Outcome, start: threading.Barrier, ready: SiteClient | None
) -> None:
    try:
        client = ready or person(base_url, f"c{index}")
    except Exception as error:
        with outcome.lock:
            outcome.errors.append(f"client {index} sign-up: {error}")
        start.wait()
        return
    photo = face_photo(640, 480)
    start.wait()
    for _ in range(uploads):
        try:
            prediction_id, elapsed = one_prediction(client, photo)
        except Exception as error:
            with outcome.lock:
                outcome.errors.append(f"client {index}: {error}")
            continue
        with outcome.lock:
            outcome.ids.append(prediction_id)
            outcome.latencies.append(elapsed)
    stuck = [p["id"] for p in client.list_all() if p["status"] != "done"]
    with outcome.lock:
        outcome.errors += [f"client {index}: {pid} not done (lost or stuck)" for pid in stuck]


def load_phase(base_url: str, clients: int, total: int, people: list[SiteClient] | None = None) -> dict[str, Any]:
    """``clients`` clients upload ``total`` photos in all; ``people``: accounts signed up
    beforehand (tools/scaletest.py), so that password hashing stays out of what it measures."""
    outcome, start = Outcome(), threading.Barrier(clients + 1)
    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop, args=(base_url, i, n, outcome, start, people[i] if people else None), daemon=True
        )
        for i, n in enumerate(shares)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    done = len(outcome.latencies)
    return {
        "clients": clients,
        "uploads": total,
        "completed": done,
        "failed": total - done,
        "errors": outcome.errors[:20],
        "wall_s": wall,
        "throughput_per_s": done / wall,
        "median_s": statistics.median(outcome.latencies) if done else None,
        "p95_s": percentile(outcome.latencies, 0.95) if done else None,
        "max_s": max(outcome.latencies) if done else None,
    }


@contextmanager
def own_stack(args: argparse.Namespace) -> Iterator[str]:
    reason = unreachable_services()
    if reason:
        raise SystemExit(reason)
    with (
        tempfile.TemporaryDirectory(prefix="ageweb-load-") as folder,
        running_stack(
            workdir=Path(folder), estimator=args.estimator, server=args.server, concurrency=args.worker_concurrency
        ) as stack,
    ):
        print(f"stack: {args.server} at {stack.base_url}, 1 worker (concurrency {args.worker_concurrency}), "
              f"PostgreSQL database {stack.name}, Redis, estimator {args.estimator}", flush=True)  # fmt: skip
        yield stack.base_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running deployment (default: start the stack here)")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--estimator", default="ml.inference.Estimator")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--samples", type=int, default=20, help="sequential uploads timed for the latency")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with nullcontext(args.url) if args.url else own_stack(args) as base_url:
        latency = latency_phase(base_url, args.samples, args.warmup)
        print(
            f"latency, one upload at a time ({latency['samples']} x 640x480, one face): "
            f"median {latency['median_s']:.3f} s, p95 {latency['p95_s']:.3f} s, "
            f"min {latency['min_s']:.3f} s, max {latency['max_s']:.3f} s "
            f"(server side, stored upload to stored result: median {latency['server_median_s']:.3f} s)",
            flush=True,
        )
        load = load_phase(base_url, args.clients, args.uploads)
        print(
            f"load, {load['clients']} concurrent clients, {load['uploads']} uploads: "
            f"{load['completed']} done, {load['failed']} failed, in {load['wall_s']:.1f} s; "
            f"throughput {load['throughput_per_s']:.2f} predictions/s; latency median {load['median_s']:.3f} s, "
            f"p95 {load['p95_s']:.3f} s, max {load['max_s']:.3f} s",
            flush=True,
        )
        for error in load["errors"]:
            print("  error:", error)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"latency": latency, "load": load, "args": vars(args)}
        args.json.write_text(json.dumps(figures, default=str, indent=2))
    ok = load["failed"] == 0 and not load["errors"]
    print("OK: no request failed, no prediction lost or stuck" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
