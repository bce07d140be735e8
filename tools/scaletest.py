"""Scale test: the same load against 1 and 2 web servers and 1 and 2 inference workers.

Each configuration is a fresh production-shaped stack past one machine (harness/stack.py):
nginx in front of N gunicorn web servers (one uvicorn worker each), M Celery inference
workers (one pool process each) with the real models, beat, a private PostgreSQL and Redis,
photos in a private SeaweedFS S3 server, and every web server and worker in a folder with a
MEDIA_ROOT of its own, so that nothing passes through a shared disk. Against nginx, the
load test's load (tools/loadtest.py: clients that each upload a 640x480 photo with one face
and wait on the websocket for the result, then upload the next) runs after a warm-up.

For each configuration it prints throughput and latency (median, p95), requests answered
5xx by nginx, predictions lost or failed, and from the processes' own CPU time (Linux
/proc): the worker's photos per CPU-second (its photos/s per core) and the web tier's CPU
milliseconds per upload (upload, page socket, API reads). Then the workers' own rate, apart
from the web's: with the workers stopped, ``--drain`` photos are uploaded; the workers start
and empty the queue, and photos/s is counted from the moment all of them are ready (on
this machine the web, the clients and the services share the workers' cores under the
load, so the end-to-end figure shows the machine's limit more than the workers'). In the
first configuration it
then streams live webcam frames (tools/livebench.py's clients, one frame in flight, at most
25 a second) for ``--live-seconds`` and prints results/s, latency, the live worker's results
per CPU-second and the web's CPU milliseconds per frame. docs/scaling.md plans from these.

    .venv/bin/python tools/scaletest.py                       # make scaletest: 1x1, 1x2, 2x1, 2x2
    .venv/bin/python tools/scaletest.py --configs 1x1,1x2 --clients 16 --uploads 160 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.photos import face_photo
from harness.stack import Stack, private_services_missing, running_stack
from tools.livebench import Streamer, camera_frames, percentile
from tools.loadtest import load_phase, person

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's and Celery's pool processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid] + [p for child in children for p in process_tree(int(child))]


def cpu_seconds(stack: Stack, names: list[str]) -> float:
    """User plus system CPU time of the named processes and their children, so far."""
    total = 0
    for name in names:
        for pid in process_tree(stack.processes[name].pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def server_errors(stack: Stack) -> int:
    log = stack.workdir / "nginx" / "access.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return sum(
        1
        for line in lines
        if len(line.split('"')) > 2 and line.split('"')[2].split()[:1] in (["500"], ["502"], ["503"], ["504"])
    )


def live_phase(stack: Stack, *, clients: int, seconds: float, web_names: list[str]) -> dict[str, Any]:
    streamers = [Streamer(stack.base_url, person(stack.base_url, f"live{i}").token) for i in range(clients)]
    frames = camera_frames(60)
    before = cpu_seconds(stack, web_names), cpu_seconds(stack, ["live"])
    threads = [threading.Thread(target=s.run, args=(frames, seconds)) for s in streamers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    web_cpu, live_cpu = cpu_seconds(stack, web_names) - before[0], cpu_seconds(stack, ["live"]) - before[1]
    latencies = [lat * 1000 for s in streamers for _, lat, m in s.answers if m["type"] == "result"]
    frames_sent = sum(len(s.answers) for s in streamers)
    return {
        "clients": clients,
        "seconds": seconds,
        "results": len(latencies),
        "not_results": frames_sent - len(latencies),
        "results_per_s": len(latencies) / seconds,
        "median_ms": statistics.median(latencies) if latencies else None,
        "p95_ms": percentile(latencies, 0.95) if latencies else None,
        "results_per_live_cpu_s": len(latencies) / live_cpu if live_cpu else None,
        "web_cpu_ms_per_frame": 1000 * web_cpu / frames_sent if frames_sent else None,
    }


def drain_phase(stack: Stack, *, workers: int, photos: int) -> dict[str, Any]:
    names = ["worker"] + [f"worker-{n}" for n in range(2, workers + 1)]
    for name in names:
        stack.stop(name)  # warm shutdown: the queue is empty now
    uploader, photo = person(stack.base_url, "drain"), face_photo(640, 480)
    ids = [uploader.upload(photo).json()["id"] for _ in range(photos)]
    with ThreadPoolExecutor(workers) as pool:  # all at once; each returns once its models are loaded
        list(pool.map(lambda number: stack.start_worker(number=number), range(1, workers + 1)))
    ready = datetime.now(UTC)
    deadline = time.monotonic() + 600
    query = "SELECT count(*) FROM estimator_prediction WHERE id::text = ANY(%s) AND status <> 'done'"
    while stack.sql(query, ids)[0][0]:  # no event to await across processes: poll the database
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not empty the queue in 10 minutes")
        time.sleep(0.5)
    [(count, last)] = stack.sql(
        "SELECT count(*), max(finished_at) FROM estimator_prediction WHERE id::text = ANY(%s) AND started_at >= %s",
        ids, ready,
    )  # fmt: skip
    seconds = (last - ready).total_seconds() if count else 0.0
    return {
        "photos": photos,
        "counted": count,
        "seconds": seconds,
        "photos_per_s": count / seconds if seconds else None,
    }


def run_config(*, web: int, workers: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    # One uvicorn worker per web server: a web server is one process here. The drain phase
    # queues more photos at once than one person may have waiting.
    env = {"WEB_CONCURRENCY": "1", "AGEWEB_MAX_UNFINISHED_PER_USER": "100000"}
    with running_stack(
        workdir=folder, estimator=args.estimator, concurrency=1, env=env, production=True,
        object_store=True, separate_folders=True, web_servers=web, worker_processes=workers,
    ) as stack:  # fmt: skip
        load_phase(stack.base_url, clients=max(2, workers * 2), total=args.warmup)  # models loaded, caches warm
        # Signed up before the clock starts: a sign-up and a token request hash a password
        # (PBKDF2, about as much CPU as 10 uploads), which would swamp the web's CPU per upload.
        people = [person(stack.base_url, f"c{i}") for i in range(args.clients)]
        web_names = ["server"] + [f"server-{n}" for n in range(2, web + 1)]
        worker_names = ["worker"] + [f"worker-{n}" for n in range(2, workers + 1)]
        before = cpu_seconds(stack, web_names), cpu_seconds(stack, worker_names), server_errors(stack)
        load = load_phase(stack.base_url, clients=args.clients, total=args.uploads, people=people)
        after = cpu_seconds(stack, web_names), cpu_seconds(stack, worker_names), server_errors(stack)
        [(unfinished,)] = stack.sql("SELECT count(*) FROM estimator_prediction WHERE status <> 'done'")
        drain = drain_phase(stack, workers=workers, photos=args.drain) if args.drain else None
        live = None
        if args.live_seconds and (web, workers) == args.first:
            live = live_phase(stack, clients=args.live_clients, seconds=args.live_seconds, web_names=web_names)
    web_cpu, worker_cpu = after[0] - before[0], after[1] - before[1]
    done = load["completed"]
    return {
        "web_servers": web,
        "workers": workers,
        **{k: load[k] for k in ("clients", "uploads", "completed", "failed", "wall_s", "throughput_per_s")},
        **{k: load[k] for k in ("median_s", "p95_s", "max_s")},
        "errors": load["errors"],
        "nginx_5xx": after[2] - before[2],
        "not_done_in_database": unfinished,
        "worker_cpu_s": worker_cpu,
        "photos_per_worker_cpu_s": done / worker_cpu if worker_cpu else None,
        "web_cpu_ms_per_upload": 1000 * web_cpu / done if done else None,
        "drain": drain,
        "live": live,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="1x1,1x2,2x1,2x2", help="WEBxWORKERS, comma-separated")
    parser.add_argument("--estimator", default="ml.inference.Estimator")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--uploads", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--drain", type=int, default=200, help="photos queued for the workers alone; 0: none")
    parser.add_argument("--live-clients", type=int, default=4)
    parser.add_argument("--live-seconds", type=float, default=20, help="0: no live phase")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    reason = private_services_missing()
    if reason:
        raise SystemExit(reason)
    configs = [tuple(int(n) for n in item.split("x")) for item in args.configs.split(",")]
    args.first = configs[0]
    results = []
    print(f"load: {args.clients} clients, {args.uploads} uploads of a 640x480 photo with one face, per configuration")
    for web, workers in configs:
        with tempfile.TemporaryDirectory(prefix="ageweb-scale-") as folder:
            result = run_config(web=web, workers=workers, args=args, folder=Path(folder))
        results.append(result)
        print(
            f"{web} web, {workers} worker(s): {result['completed']}/{result['uploads']} done, "
            f"{result['failed']} failed, nginx 5xx {result['nginx_5xx']}, not done {result['not_done_in_database']}; "
            f"throughput {result['throughput_per_s']:.2f} photos/s; latency median {result['median_s']:.2f} s, "
            f"p95 {result['p95_s']:.2f} s; worker {result['photos_per_worker_cpu_s']:.2f} photos per CPU-second; "
            f"web {result['web_cpu_ms_per_upload']:.1f} CPU ms per upload",
            flush=True,
        )
        for error in result["errors"]:
            print("  error:", error)
        drain = result["drain"]
        if drain:
            print(
                f"  workers alone: {drain['counted']} queued photos in {drain['seconds']:.1f} s once all were ready: "
                f"{drain['photos_per_s']:.2f} photos/s ({drain['photos_per_s'] / workers:.2f} per worker process)",
                flush=True,
            )
        live = result["live"]
        if live:
            print(
                f"  live, {live['clients']} streams for {live['seconds']:.0f} s: {live['results_per_s']:.1f} results/s "
                f"({live['results_per_s'] / live['clients']:.1f} per stream), {live['not_results']} unanswered; "
                f"latency median {live['median_ms']:.0f} ms, p95 {live['p95_ms']:.0f} ms; live worker "
                f"{live['results_per_live_cpu_s']:.1f} results per CPU-second; web {live['web_cpu_ms_per_frame']:.1f} "
                "CPU ms per frame",
                flush=True,
            )
    by_config = {(r["web_servers"], r["workers"]): r for r in results}
    for web in (1, 2):
        one, two = by_config.get((web, 1)), by_config.get((web, 2))
        if one and two:
            ratio = two["throughput_per_s"] / one["throughput_per_s"]
            alone = ""
            if one["drain"] and two["drain"]:
                alone = f"; workers alone {two['drain']['photos_per_s'] / one['drain']['photos_per_s']:.2f}x"
            print(f"{web} web: 2 workers / 1 worker = {ratio:.2f}x photos/s under the load{alone}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": vars(args), "results": results}, default=str, indent=2))
    ok = all(
        r["failed"] == 0 and not r["errors"] and r["nginx_5xx"] == 0 and r["not_done_in_database"] == 0 for r in results
    )
    print("OK: nothing lost, failed or answered 5xx" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
