"""Scale test: the same load against 1 and 2 web servers and 1 and 2 inference workers.

Each configuration is a fresh production-shaped stack past one machine (tests/stack.py):
nginx in front of N gunicorn web servers (one uvicorn worker each), M Celery inference
workers (one pool process each) with the real models, beat, a private PostgreSQL and Redis,
photos in a private SeaweedFS S3 server, and every web server and worker in a folder with a
MEDIA_ROOT of its own, so that nothing passes through a shared disk. Against nginx, the
load test's load (tools/loadtest.py: clients that each upload a 640x480 photo with one face
and wait on the websocket for the result, then upload the next) runs after a warm-up.

For each configuration it prints throughput and latency (median, p95), requests answered
5xx by nginx, predictions lost or failed, and from the processes' own CPU time (Linux
/proc): the worker's photos per CPU-second (its photos/s per core) and the web tier's CPU
milliseconds per upload (upload, page socket, API reads). docs/scaling.md plans from these.

    .venv/bin/python tools/scaletest.py                       # make scaletest: 1x1, 1x2, 2x1, 2x2
    .venv/bin/python tools/scaletest.py --configs 1x1,1x2 --clients 16 --uploads 160 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stack import Stack, private_services_missing, running_stack
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


def run_config(*, web: int, workers: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    env = {"WEB_CONCURRENCY": "1"}  # one uvicorn worker per web server: a web server is one process here
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="1x1,1x2,2x1,2x2", help="WEBxWORKERS, comma-separated")
    parser.add_argument("--estimator", default="ml.inference.Estimator")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--uploads", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    reason = private_services_missing()
    if reason:
        raise SystemExit(reason)
    configs = [tuple(int(n) for n in item.split("x")) for item in args.configs.split(",")]
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
    by_config = {(r["web_servers"], r["workers"]): r for r in results}
    for web in (1, 2):
        one, two = by_config.get((web, 1)), by_config.get((web, 2))
        if one and two:
            print(
                f"{web} web: 2 workers / 1 worker = {two['throughput_per_s'] / one['throughput_per_s']:.2f}x photos/s"
            )
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
