"""Live webcam benchmark: real websocket clients stream 640x480 JPEG frames of a real face.

Each client keeps one frame in flight (it sends the next frame when the last one's answer
arrives, and at most 25 frames a second), as the Live page does. Three runs, each against a stack this script starts:

1. embedded (`make run`'s mode: no Redis, frames estimated on threads of the web server),
   one client;
2. production path (uvicorn + Redis + a Celery worker on the "live" queue), one client;
3. production path, four clients at once for --long seconds, while a fifth person uploads
   a photo every two seconds: each client's results/s, its latency in the first and the
   last quarter of the run (a growing latency would be a backlog), and whether every
   upload finished.

For each: results per second, median and p95 frame-to-result latency (as the client sees
it), and the jitter of a still face: the largest distance of the shown (smoothed) age from
its mean over 30 frames, for the same frame repeated and for a "camera" sequence of that
frame with sensor noise and a pixel or two of movement, re-encoded each time.

With ``--data`` (the UTKFace archive; ``make livebench`` passes it): changing people, embedded.
Test-split faces placed one per frame at the same place of a webcam-sized frame, each a
different person: the MAE of the ages sent on one connection against the MAE with a fresh
connection per frame (where no tracking can carry one person's age to the next), and the
number of distinct track ids.

    .venv/bin/python -m tools.livebench [--data data/UTKFace.tar.gz]   # needs PostgreSQL, Redis and the models
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from websockets.sync.client import connect as ws_connect

from harness.photos import face_photo
from harness.stack import SiteClient, Stack, running_stack, unreachable_services

MIN_GAP = 0.040  # seconds between two frames' sending, as static/js/live.js
TARGETS = "targets: one client >= 15 results/s, median <= 60 ms; four clients >= 5 results/s each, no backlog"


def camera_frames(count: int, seed: int = 0) -> list[bytes]:
    """The face photo as a still camera would film it: noise and a jiggle, re-encoded."""
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.open(io.BytesIO(face_photo())).convert("RGB"), np.int16)
    frames = []
    for _ in range(count):
        dx, dy = rng.integers(-2, 3, size=2)
        moved = np.roll(base, (int(dy), int(dx)), axis=(0, 1))
        noisy = np.clip(moved + rng.normal(0, 3, moved.shape), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(noisy).save(out, "JPEG", quality=80)
        frames.append(out.getvalue())
    return frames


def people_frames(data: Path, count: int, seed: int = 0) -> tuple[list[bytes], list[int]]:
    """``count`` test-split UTKFace faces, each at 220 px in the middle of a 640x480 frame with
    camera noise, re-encoded as JPEG 80; and their true ages."""
    from ml.data import iter_files, parse_name, split_of

    faces = [(name, raw) for name, raw in iter_files(data) if split_of(name) == "test" and parse_name(name)]
    rng = np.random.default_rng(seed)
    chosen = [faces[i] for i in rng.choice(len(faces), size=count, replace=False)]
    frames, true_ages = [], []
    for name, raw in chosen:
        chip = Image.open(io.BytesIO(raw)).convert("RGB").resize((220, 220), Image.Resampling.LANCZOS)
        canvas = np.full((480, 640, 3), 118.0)
        canvas[130:350, 210:430] = np.asarray(chip, np.float64)
        noisy = np.clip(canvas + rng.normal(0, 3, canvas.shape), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(noisy).save(out, "JPEG", quality=80)
        frames.append(out.getvalue())
        labels = parse_name(name)
        assert labels is not None
        true_ages.append(labels.age)
    return frames, true_ages


def changing_people(stack: Stack, token: str, frames: list[bytes], true_ages: list[int]) -> dict[str, Any]:
    """MAE of the ages sent for a different person in every frame: one connection, and a
    fresh connection per frame; and the distinct track ids on the one connection."""
    one = Streamer(stack.base_url, token)
    one.run(frames)
    fresh = []
    for frame in frames:
        streamer = Streamer(stack.base_url, token)
        streamer.run([frame])
        fresh.append(streamer.answers[0][2])

    def ages_sent(messages: list[dict[str, Any]]) -> list[tuple[int, float, int]]:
        return [
            (true, m["faces"][0]["age"], m["faces"][0]["track"])
            for true, m in zip(true_ages, messages, strict=True)
            if m["type"] == "result" and m["faces"]
        ]

    on_one, on_fresh = ages_sent([m for _, _, m in one.answers]), ages_sent(fresh)
    return {
        "people": len(frames),
        "found": len(on_one),
        "mae_one_connection": round(statistics.fmean(abs(t - a) for t, a, _ in on_one), 2),
        "mae_fresh_connections": round(statistics.fmean(abs(t - a) for t, a, _ in on_fresh), 2),
        "distinct_tracks": len({track for _, _, track in on_one}),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Streamer:
    """One client: streams frames for ``seconds``, one in flight, recording each answer."""

    def __init__(self, base_url: str, token: str) -> None:
        self.url = base_url.replace("http", "ws", 1) + "/ws/live/"
        self.headers = {"Authorization": f"Token {token}"}
        self.answers: list[tuple[float, float, dict[str, Any]]] = []  # sent at, latency, message

    def run(self, frames: list[bytes], seconds: float | None = None) -> None:
        with ws_connect(self.url, additional_headers=self.headers, open_timeout=30, max_size=2**22) as ws:
            started = last_sent = time.perf_counter() - MIN_GAP
            for i in range(10**9):
                if seconds is None and i >= len(frames):
                    break
                if seconds is not None and time.perf_counter() - started > seconds:
                    break
                wait = MIN_GAP - (time.perf_counter() - last_sent)
                if wait > 0:  # as the Live page: at most 25 frames a second (the server allows 30)
                    time.sleep(wait)
                sent = last_sent = time.perf_counter()
                ws.send(frames[i % len(frames)])
                message = json.loads(ws.recv(timeout=30))
                self.answers.append((sent - started, time.perf_counter() - sent, message))

    def summary(self) -> dict[str, Any]:
        results = [(at, lat) for at, lat, m in self.answers if m["type"] == "result"]
        span = self.answers[-1][0] + self.answers[-1][1] if self.answers else 0.0
        latencies = [lat * 1000 for _, lat in results]
        quarter = span / 4
        first = [lat * 1000 for at, lat in results if at < quarter]
        last = [lat * 1000 for at, lat in results if at >= span - quarter]
        return {
            "results": len(results),
            "not_results": len(self.answers) - len(results),
            "per_second": round(len(results) / span, 1) if span else 0.0,
            "median_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
            "first_quarter_median_ms": round(statistics.median(first), 1) if first else None,
            "last_quarter_median_ms": round(statistics.median(last), 1) if last else None,
            "server_median_ms": round(
                statistics.median(m["ms"] for _, _, m in self.answers if m["type"] == "result"), 1
            )
            if results
            else None,
        }


def jitter(stack: Stack, token: str, frames: list[bytes]) -> float:
    """Largest distance of the shown age from its mean over the frames (after the first few)."""
    streamer = Streamer(stack.base_url, token)
    streamer.run(frames)
    shown = [m["faces"][0]["age"] for _, _, m in streamer.answers if m["type"] == "result" and m["faces"]]
    if len(shown) < len(frames):
        raise RuntimeError(f"the face was found in {len(shown)} of {len(frames)} frames")
    steady = shown[3:]  # the page shows an age once a track is 3 frames old
    mean = statistics.fmean(steady)
    return round(max(abs(a - mean) for a in steady), 2)


def person(stack: Stack) -> SiteClient:
    client = SiteClient(stack.base_url)
    client.sign_up(f"live{uuid.uuid4().hex[:8]}")
    return client


def one_client(stack: Stack, seconds: float) -> dict[str, Any]:
    client = person(stack)
    streamer = Streamer(stack.base_url, client.token)
    streamer.run(camera_frames(60), seconds)
    still = jitter(stack, client.token, [face_photo()] * 30)
    camera = jitter(stack, client.token, camera_frames(30, seed=1))
    return {**streamer.summary(), "jitter_still_years": still, "jitter_camera_years": camera}


def four_clients(stack: Stack, seconds: float) -> dict[str, Any]:
    streamers = [Streamer(stack.base_url, person(stack).token) for _ in range(4)]
    frames = camera_frames(60)
    uploader = person(stack)
    uploads: list[str] = []
    done = threading.Event()

    def upload_meanwhile() -> None:
        while not done.is_set():
            response = uploader.upload(face_photo())
            uploads.append(response.json()["id"] if response.status_code == 202 else f"refused {response.status_code}")
            done.wait(2.0)

    threads = [threading.Thread(target=s.run, args=(frames, seconds)) for s in streamers]
    threads.append(threading.Thread(target=upload_meanwhile))
    for thread in threads:
        thread.start()
    for thread in threads[:-1]:
        thread.join()
    done.set()
    threads[-1].join()
    finished = 0
    deadline = time.monotonic() + 120
    for prediction_id in uploads:
        while not prediction_id.startswith("refused") and time.monotonic() < deadline:
            if uploader.get(prediction_id)["status"] in {"done", "failed"}:
                finished += 1
                break
            time.sleep(0.2)
    return {"clients": [s.summary() for s in streamers], "uploads_sent": len(uploads), "uploads_finished": finished}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="length of the one-client runs")
    parser.add_argument("--long", type=float, default=60, help="length of the four-client run")
    parser.add_argument("--concurrency", type=int, default=2, help="processes of the live worker")
    parser.add_argument("--data", type=Path, help="the UTKFace archive: adds the changing-people run")
    parser.add_argument("--people", type=int, default=90, help="faces in the changing-people run")
    args = parser.parse_args()
    reason = unreachable_services()
    if reason:
        raise SystemExit(reason)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with running_stack(
            workdir=workdir / "embedded", estimator="ml.inference.Estimator", server="daphne", workers=False
        ) as stack:
            report["embedded, 1 client"] = one_client(stack, args.seconds)
            print("embedded, 1 client:", json.dumps(report["embedded, 1 client"]), flush=True)
            if args.data:
                frames, true_ages = people_frames(args.data, args.people)
                report["embedded, changing people"] = changing_people(
                    stack, person(stack).token, frames=frames, true_ages=true_ages
                )
                print("embedded, changing people:", json.dumps(report["embedded, changing people"]), flush=True)
        with running_stack(
            workdir=workdir / "production", estimator="ml.inference.Estimator", concurrency=args.concurrency
        ) as stack:
            report["production, 1 client"] = one_client(stack, args.seconds)
            print("production, 1 client:", json.dumps(report["production, 1 client"]), flush=True)
            report["production, 4 clients + uploads"] = four_clients(stack, args.long)
            print("production, 4 clients + uploads:", json.dumps(report["production, 4 clients + uploads"]), flush=True)
    print()
    print(TARGETS)
    print(f"{'run':34} {'results/s':>10} {'median ms':>10} {'p95 ms':>8} {'jitter (still/camera)':>22}")
    for name in ("embedded, 1 client", "production, 1 client"):
        r = report[name]
        print(
            f"{name:34} {r['per_second']:>10} {r['median_ms']:>10} {r['p95_ms']:>8} "
            f"{r['jitter_still_years']:>10} / {r['jitter_camera_years']}"
        )
    many = report["production, 4 clients + uploads"]
    for i, r in enumerate(many["clients"]):
        print(
            f"{'production, 4 clients: #' + str(i + 1):34} {r['per_second']:>10} {r['median_ms']:>10} {r['p95_ms']:>8}"
            f"   latency first/last quarter {r['first_quarter_median_ms']} / {r['last_quarter_median_ms']} ms"
        )
    print(f"uploads sent meanwhile: {many['uploads_sent']}, finished: {many['uploads_finished']}")
    if "embedded, changing people" in report:
        people = report["embedded, changing people"]
        print(
            f"changing people ({people['found']} of {people['people']} found): MAE one connection "
            f"{people['mae_one_connection']}, fresh connection per frame {people['mae_fresh_connections']} "
            f"(target: within 0.3); {people['distinct_tracks']} distinct tracks"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
