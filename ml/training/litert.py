"""Convert exported Keras models to LiteRT, the serving format shipped beside them.

    python -m ml.training.litert                    # every model under ml/models/
    python -m ml.training.litert ml/models/age101   # one model folder

Writes ``model.tflite`` next to ``model.keras`` and records the Keras file's SHA-256 in
``meta.json`` (``litert_from``), so a test can tell when the two drift apart. Exports by
``ml.training.train`` are converted on the way out; run this after replacing a
``model.keras`` by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def keras_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.keras").read_bytes()).hexdigest()


def convert_to_litert(folder: Path) -> Path:
    """``folder/model.keras`` -> ``folder/model.tflite``; updates ``meta.json``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # one line per model, not TensorFlow's log
    import keras

    model = keras.models.load_model(folder / "model.keras", compile=False)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(str(Path(tmp, "model.tflite")), format="litert", verbose=False)
        os.replace(Path(tmp, "model.tflite"), folder / "model.tflite")
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["litert_from"] = keras_digest(folder)
    meta_file.write_text(json.dumps(meta, indent=1) + "\n")
    return folder / "model.tflite"


def main() -> None:
    parser = argparse.ArgumentParser(description="Convert exported Keras models to LiteRT for serving.")
    parser.add_argument("folders", nargs="*", type=Path, help="model folders (default: every one under ml/models)")
    args = parser.parse_args()
    folders = args.folders or sorted(p.parent for p in MODELS_DIR.glob("**/model.keras"))
    for folder in folders:
        print(f"{folder} -> {convert_to_litert(folder).name}", flush=True)


if __name__ == "__main__":
    main()
