"""Fixtures for the ml/ tests: real face photos, UTKFace samples (skipped when absent)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from ml import faces
from ml.inference import LIVE_DETECT_SIDE, Estimator

ROOT = Path(__file__).resolve().parents[2]


def _utkface() -> Path:
    """The UTKFace archive: $UTKFACE, as for make, else data/UTKFace.tar.gz, else beside the checkout."""
    if os.environ.get("UTKFACE"):
        return Path(os.environ["UTKFACE"])
    inside = ROOT / "data" / "UTKFace.tar.gz"
    return inside if inside.exists() else ROOT.parent / "shared" / "data" / "UTKFace.tar.gz"


UTKFACE = _utkface()
MODEL_DIR = Path(__file__).resolve().parents[2] / "ml" / "models" / "age101"


@pytest.fixture(scope="session")
def astronaut() -> NDArray[np.uint8]:
    """scikit-image's astronaut: a real photo of Eileen Collins, about 40 at the time."""
    from skimage import data

    return np.asarray(data.astronaut())


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(astronaut).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="session")
def utkface_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the first 40 images of the UTKFace archive."""
    if not UTKFACE.exists():
        pytest.skip(f"UTKFace archive not found at {UTKFACE}")
    folder = tmp_path_factory.mktemp("utkface")
    with tarfile.open(UTKFACE) as archive:
        for i, member in enumerate(m for m in archive if m.isfile() and m.name.endswith(".jpg")):
            if i >= 40:
                break
            handle = archive.extractfile(member)
            assert handle is not None
            (folder / Path(member.name).name).write_bytes(handle.read())
    return folder


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    if not (MODEL_DIR / "model.keras").exists():
        pytest.skip("the shipped model ml/models/age101 is missing")
    return MODEL_DIR


@pytest.fixture(scope="session")
def shipped_estimator(shipped_model: Path) -> Estimator:
    """The shipped models, loaded once for the whole run (an Estimator is read-only)."""
    return Estimator(shipped_model)


SERVING_DETECTORS = {  # as the shipped model's spec (alignment: points) has them made
    "uploads": lambda: faces.upload_detector(points=True),
    "live": lambda: faces.YuNetDetector(detect_side=LIVE_DETECT_SIDE, points=True, refine=False),
}


@pytest.fixture(scope="module", params=sorted(SERVING_DETECTORS))
def detector(request: pytest.FixtureRequest) -> faces.Detector:
    """Each detector that serves, in turn: the uploads' and the live frames'."""
    return SERVING_DETECTORS[request.param]()
