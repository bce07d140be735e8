"""Estimate every face's age in a photo with the shipped models (the serving library).

Contract used by the site (estimator/, which keeps one Estimator per process) and the
benchmarks:

    from ml.inference import Estimator, ImageError
    result = Estimator().estimate(image_bytes)   # bytes, a path, a PIL image or an RGB array
    for face in result.faces: face.age, face.interval, face.groups, face.box ...

``ImageError`` (a ValueError) is raised for input that is not a decodable image; a photo
with no face gives ``result.faces == []`` (and ``result.too_small`` counts faces found but
too small to estimate). An Estimator is thread-safe; build it once, it loads the models.

The models run on LiteRT (TensorFlow Lite with its XNNPACK CPU kernels), 2.5-3x faster
than TensorFlow for a single face on a 2-core CPU (``python -m ml.training.bench``
measures both). Each model folder ships its ``model.tflite`` beside the ``model.keras`` it
was converted from (``python -m ml.training.litert`` converts again after training), so
serving imports neither TensorFlow nor Keras, and writes nothing. ``AGEWEB_RUNTIME=keras``
runs the Keras models on TensorFlow instead (on a GPU, if it has one; it needs the training
requirements).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ml import ages, faces
from ml.faces import ImageError

__all__ = ["AGE_GROUPS", "Estimate", "Estimator", "FaceEstimate", "ImageError"]

AGE_GROUPS: tuple[str, ...] = ages.GROUP_NAMES


@dataclass(frozen=True)
class FaceEstimate:
    box: tuple[int, int, int, int]  # x, y, width, height in the EXIF-rotated image's pixels
    landmarks: tuple[tuple[float, float], ...]  # image-left eye, image-right eye, nose base (x, y)
    detection_score: float  # the detector's confidence (YuNet: 0 to 1; higher is surer)
    age: float  # expected value of the 101-way distribution, years
    interval: tuple[float, float]  # 10th and 90th percentile of the distribution, years
    distribution: tuple[float, ...]  # 101 probabilities, ages 0..100
    groups: dict[str, float]  # the 8 seed groups (AGE_GROUPS) -> probability, from the 101 model
    ensemble_groups: dict[str, float] | None = None  # the 8-group ensemble's probabilities, if shipped
    ensemble_age: float | None = None  # stage 3: age from the ensemble's groups, if shipped


@dataclass(frozen=True)
class Estimate:
    width: int
    height: int
    faces: list[FaceEstimate]
    model_version: str
    too_small: int = 0  # faces detected but smaller than the model's minimum face size
    versions: dict[str, str] = field(default_factory=dict)  # model name -> version


MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "age101"
ENSEMBLE = "ensemble8"
MAX_FACES = 32  # the largest faces first; more than this in one photo are not estimated
# Uploads' detector by whose boxes placed the model's training crops (meta.json "detector",
# "hog" when absent; the shipped model's is "yunet"): see ml.faces.upload_detector.
UPLOAD_DETECTORS = {"hog": "hog+yunet", "yunet": "yunet2"}
LIVE_DETECT_SIDE = 320  # live frames are searched for faces on a copy this size
RUNTIMES = ("litert", "keras")


class Model:
    """One exported model (``model.keras`` + ``meta.json``), compiled for single calls.

    Test-time augmentation, when ``meta.json`` asks for it: ``tta_margins`` lists the crop
    margins a face is scored at (default: the training margin alone) and ``flip_tta`` also
    scores each crop's mirror image; :meth:`predict` averages a face's outputs over them.
    ``temperature`` (default 1) then sharpens the average (:func:`ml.ages.sharpen`): averaging
    widens a distribution, and the temperature fitted on the validation split brings the
    80% interval back to holding the true age 80% of the time."""

    def __init__(self, folder: Path, runtime: str | None = None) -> None:
        self.meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
        self.size: int = self.meta["input_size"]
        self.margin: float = self.meta["margin"]  # the training crops' margin
        self.margins: tuple[float, ...] = tuple(self.meta.get("tta_margins", [self.margin]))
        self.version: str = self.meta["version"]
        self.flip: bool = self.meta.get("flip_tta", False)
        self.temperature: float = self.meta.get("temperature", 1.0)
        self.runtime = runtime or os.environ.get("AGEWEB_RUNTIME", "litert")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"AGEWEB_RUNTIME must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.runtime == "litert":
            self._call = _litert_predictor(_litert_file(folder))
        else:
            self._call = _compiled_predictor(folder / "model.keras", self.size)
        self(np.zeros((1, self.size, self.size, 3), np.uint8))  # trace once, now

    def __call__(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Outputs for aligned crops (N x size x size x 3, RGB uint8)."""
        x = crops.astype(np.float32)
        if not self.flip:
            return np.asarray(self._call(x), np.float64)
        both = np.asarray(self._call(np.concatenate([x, x[:, :, ::-1]])), np.float64)
        return (both[: len(x)] + both[len(x) :]) / 2

    def predict(self, rgb: faces.RGB, found: Sequence[faces.Face | None]) -> NDArray[np.float64]:
        """Outputs for each face in ``rgb``, averaged over its crops at ``margins`` (in one
        call); ``None`` stands for a pre-aligned chip used whole, as in evaluation."""
        crops = [faces.crop_or_whole(rgb, face, margin, self.size) for face in found for margin in self.margins]
        out = self(np.stack(crops)).reshape(len(found), len(self.margins), -1).mean(axis=1)
        return out if self.temperature == 1.0 else ages.sharpen(out, self.temperature)


class Estimator:
    """The face pipeline plus the shipped models. Build once, share between threads.

    The 101-class model gives the age, its distribution, interval and 8-group split; the
    8-group ensemble (when ``ml/models/ensemble8/`` holds members) adds its own group
    probabilities (the members' mean) and the age derived from them."""

    def __init__(
        self,
        model_dir: Path | None = None,
        detector: faces.Detector | None = None,
        ensemble_dir: Path | None = None,
        runtime: str | None = None,
    ) -> None:
        self.age_model = Model(model_dir or MODELS_DIR / DEFAULT_MODEL, runtime)
        self.meta, self.size, self.margin = self.age_model.meta, self.age_model.size, self.age_model.margin
        self.version = self.age_model.version
        self.detector = detector or faces.make_detector(UPLOAD_DETECTORS[self.meta.get("detector", "hog")])
        # Live frames are searched on a 320-px copy: ~4x fewer pixels, and a face the age
        # model can use (MIN_FACE) is still several times YuNet's smallest.
        self.live_detector = faces.YuNetDetector(detect_side=LIVE_DETECT_SIDE)
        folder = ensemble_dir if ensemble_dir is not None else MODELS_DIR / ENSEMBLE
        self.members = [Model(d, runtime) for d in sorted(folder.glob("*")) if (d / "model.keras").exists()]

    def distributions(self, rgb: faces.RGB, found: Sequence[faces.Face | None]) -> NDArray[np.float64]:
        """101-way distributions for faces in ``rgb``, with the model's test-time augmentation;
        ``None`` uses a pre-aligned chip whole, as :func:`ml.faces.chip_face` does."""
        return self.age_model.predict(rgb, found)

    def ensemble_groups(self, rgb: faces.RGB, face: faces.Face | None) -> NDArray[np.float64] | None:
        """The ensemble's mean 8-group probabilities for one face (None without members);
        ``face=None`` uses a pre-aligned chip whole."""
        if not self.members:
            return None
        return np.asarray(np.mean([m.predict(rgb, [face])[0] for m in self.members], axis=0), np.float64)

    def ensemble_age(self, groups: NDArray[np.float64]) -> float:
        """Stage 3: the expected age over the groups, each at its mean training age."""
        means = np.mean([m.meta["group_mean_ages"] for m in self.members], axis=0)
        return float(groups @ means / groups.sum())

    def estimate(self, image: faces.ImageInput) -> Estimate:
        """Every face in ``image`` with its age; raises ImageError for unreadable input."""
        return self._estimate(image, self.detector, with_ensemble=True)

    def estimate_frame(self, image: faces.ImageInput) -> Estimate:
        """One live video frame: as :meth:`estimate`, with the live detector and without the
        ensemble (``ensemble_groups`` is None), so that a frame takes milliseconds."""
        return self._estimate(image, self.live_detector, with_ensemble=False)

    def _estimate(self, image: faces.ImageInput, detector: faces.Detector, with_ensemble: bool) -> Estimate:
        rgb = faces.decode(image)
        found = detector.detect(rgb)
        usable = [f for f in found if min(f.box[2:]) >= faces.MIN_FACE]
        usable = sorted(usable, key=lambda f: -f.box[2] * f.box[3])[:MAX_FACES]
        estimates: list[FaceEstimate] = []
        if usable:
            for face, dist in zip(usable, self.distributions(rgb, usable), strict=True):
                groups8 = self.ensemble_groups(rgb, face) if with_ensemble else None
                estimates.append(self._face_estimate(face, dist, groups8))
        return Estimate(
            width=rgb.shape[1],
            height=rgb.shape[0],
            faces=estimates,
            model_version=self.version,
            too_small=len(found) - len(usable),
            versions={m.meta["name"]: m.version for m in (self.age_model, *(self.members if with_ensemble else ()))},
        )

    def _face_estimate(
        self, face: faces.Face, dist: NDArray[np.float64], groups8: NDArray[np.float64] | None
    ) -> FaceEstimate:
        low, high = ages.interval(dist)
        return FaceEstimate(
            box=face.box,
            landmarks=face.landmarks,
            detection_score=round(face.score, 4),
            age=round(float(ages.expected_age(dist)), 2),
            interval=(round(float(low), 1), round(float(high), 1)),
            distribution=tuple(round(float(p), 6) for p in dist),
            groups=_named(ages.group_probs(dist)),
            ensemble_groups=None if groups8 is None else _named(groups8),
            ensemble_age=None if groups8 is None else round(self.ensemble_age(groups8), 2),
        )


def _named(groups: NDArray[np.float64]) -> dict[str, float]:
    return dict(zip(AGE_GROUPS, (round(float(p), 6) for p in groups), strict=True))


def _litert_file(folder: Path) -> Path:
    path = folder / "model.tflite"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: convert the model with `python -m ml.training.litert {folder}` "
            "(needs the training requirements), or set AGEWEB_RUNTIME=keras"
        )
    return path


def _litert_predictor(path: Path) -> Callable[[NDArray[np.float32]], Any]:
    """The model on LiteRT's CPU kernels, one interpreter per thread (they are not
    thread-safe), each on one core: a process serves one face at a time per thread, and
    more processes or threads use the other cores."""
    from ai_edge_litert.interpreter import Interpreter

    local = threading.local()

    def call(x: NDArray[np.float32]) -> NDArray[np.float32]:
        if not hasattr(local, "interpreter"):  # this thread's first call
            local.interpreter = Interpreter(model_path=str(path), num_threads=1)
            local.source = local.interpreter.get_input_details()[0]["index"]
            local.result = local.interpreter.get_output_details()[0]["index"]
            local.shape = None
        interpreter = local.interpreter
        if local.shape != x.shape:  # the first call, or the batch size changed
            interpreter.resize_tensor_input(local.source, x.shape)
            interpreter.allocate_tensors()
            local.shape = x.shape
        interpreter.set_tensor(local.source, np.ascontiguousarray(x))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(local.result))

    return call


def _compiled_predictor(path: Path, size: int) -> Callable[[NDArray[np.float32]], Any]:
    """The model as one traced function of a float32 batch, so that a single image does
    not pay Keras' per-call overhead (``model.predict`` costs ~50 ms more per call)."""
    import keras

    model = keras.models.load_model(path, compile=False)
    if keras.backend.backend() != "tensorflow":
        return lambda x: keras.ops.convert_to_numpy(model(x, training=False))
    import tensorflow as tf

    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    call = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda x: call(x).numpy()
