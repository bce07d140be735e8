"""The serving interface: everything the site asks of the model library.

    from ml.inference import Estimator, ImageError, training_crop
    estimator = Estimator()                        # loads the models; share it between threads
    estimator.estimate(image_bytes)                # a photo: every face with its age
    estimator.estimate_frame(frame_bytes)          # a live frame: the same, faster, no ensemble
    estimator.estimate_faces(image_bytes, located=[(box, landmarks)])  # those faces again (a shadow model)
    training_crop(photo, box=..., landmarks=...)   # the crop a face was scored on, for the data set

``ImageError`` (a ValueError) is raised for input that is not a decodable image; a photo
with no face gives ``faces == []`` (``too_small`` counts faces found but too small to
estimate). Each face keeps the detector's unclipped box and landmarks, from which
:func:`training_crop` cuts exactly the crop the model scored.

The models run on LiteRT (TensorFlow Lite with its XNNPACK CPU kernels): each model folder
ships its ``model.tflite`` beside the ``model.keras`` it was converted from, and a
:class:`~ml.spec.ModelSpec` read from its ``meta.json``. ``AGEWEB_RUNTIME=keras`` runs the
Keras models on TensorFlow instead (``ml.training.runtime``; on a GPU, if it has one).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ml import ages, faces, tracking
from ml.faces import ImageError
from ml.spec import ModelSpec

__all__ = ["AGE_GROUPS", "Estimate", "Estimator", "FaceEstimate", "ImageError", "shipped_spec", "training_crop"]

AGE_GROUPS: tuple[str, ...] = ages.GROUP_NAMES


@dataclass(frozen=True)
class FaceEstimate:
    box: tuple[int, int, int, int]  # x, y, width, height in the EXIF-rotated image; may reach past its edges
    landmarks: tuple[tuple[float, float], ...]  # image-left eye, image-right eye, nose base (x, y)
    detection_score: float  # the detector's confidence (YuNet: 0 to 1; higher is surer)
    age: float  # expected value of the 101-way distribution, years
    interval: tuple[float, float]  # 10th and 90th percentile of the distribution, years
    distribution: tuple[float, ...]  # 101 probabilities, ages 0..100
    groups: dict[str, float]  # the 8 groups (AGE_GROUPS) -> probability, from the 101 model
    ensemble_groups: dict[str, float] | None = None  # the 8-group ensemble's probabilities, if shipped
    ensemble_age: float | None = None  # the age from the ensemble's groups, if shipped
    appearance: tuple[float, ...] | None = None  # live frames: what the face looks like (ml.tracking)


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
LIVE_DETECT_SIDE = 320  # live frames are searched for faces on a copy this size
RUNTIMES = ("litert", "keras")


@functools.cache
def shipped_spec() -> ModelSpec:
    """The spec of the shipped age model (read once; no model is loaded)."""
    return ModelSpec.read(MODELS_DIR / DEFAULT_MODEL)


def training_crop(
    image: faces.ImageInput,
    *,
    box: Sequence[float],
    landmarks: Sequence[tuple[float, float]],
    spec: ModelSpec | None = None,
) -> faces.RGB:
    """The aligned crop of one face at the model's training margin and size: the crop a
    kept face adds to the data set, cut from the face's unclipped ``box`` and ``landmarks``
    as :meth:`Estimator.estimate` returned them, so it is centred and scaled as the crops
    the model scored. Needs no model loaded; raises ImageError for unreadable input."""
    spec = spec or shipped_spec()
    return faces.crop_face(faces.decode(image), _located(box, landmarks), margin=spec.margin, size=spec.input_size)


def _located(box: Sequence[float], landmarks: Sequence[tuple[float, float]]) -> faces.Detection:
    """A face placed where an earlier estimate found it (its unclipped box and landmarks)."""
    x, y, w, h = (round(float(v)) for v in box)
    return faces.Detection(box=(x, y, w, h), landmarks=tuple((float(a), float(b)) for a, b in landmarks), score=0.0)


class Model:
    """One exported model (``model.tflite`` + ``meta.json``), compiled for single calls.

    Test-time augmentation, as its spec says: each face is scored at every margin of
    ``views`` (and, with ``flip``, on each crop's mirror image too); :meth:`predict` averages
    a face's outputs over them, then ``temperature`` sharpens the average
    (:func:`ml.ages.sharpen`): averaging widens a distribution, and the temperature fitted
    on the validation split brings the 80% interval back to holding the true age 80% of
    the time."""

    def __init__(self, folder: Path, runtime: str | None = None) -> None:
        self.spec = ModelSpec.read(folder)
        self.runtime = runtime or os.environ.get("AGEWEB_RUNTIME", "litert")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"AGEWEB_RUNTIME must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.runtime == "litert":
            self._call = _litert_predictor(_litert_file(folder))
        else:
            from ml.training.runtime import keras_predictor

            self._call = keras_predictor(folder / "model.keras", self.spec.input_size)
        size = self.spec.input_size
        self(np.zeros((1, size, size, 3), np.uint8))  # trace once, now

    def __call__(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Outputs for aligned crops (N x size x size x 3, RGB uint8)."""
        x = crops.astype(np.float32)
        if not self.spec.flip:
            return np.asarray(self._call(x), np.float64)
        both = np.asarray(self._call(np.concatenate([x, x[:, :, ::-1]])), np.float64)
        return (both[: len(x)] + both[len(x) :]) / 2

    def predict(self, rgb: faces.RGB, found: Sequence[faces.Detection | None]) -> NDArray[np.float64]:
        """Outputs for each face in ``rgb``, averaged over its views (in one call); ``None``
        stands for a pre-aligned chip used whole, as in evaluation."""
        views, size = self.spec.views, self.spec.input_size
        crops = [faces.crop_or_whole(rgb, face, margin=margin, size=size) for face in found for margin in views]
        return self.score(np.stack(crops).reshape(len(found), len(views), size, size, 3))

    def score(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Outputs for faces given as their crops, one per view (N x views x size x size x 3):
        each face's mean over its views, sharpened by the spec's temperature."""
        faces_n, views = crops.shape[:2]
        out = self(crops.reshape(faces_n * views, *crops.shape[2:])).reshape(faces_n, views, -1).mean(axis=1)
        return out if self.spec.temperature == 1.0 else ages.sharpen(out, self.spec.temperature)


class Estimator:
    """The face pipeline plus the shipped models. Build once, share between threads.

    The 101-class model gives the age, its distribution, interval and 8-group split; the
    8-group ensemble (when ``ml/models/ensemble8/`` holds members) adds its own group
    probabilities (the members' mean) and the age derived from them. Uploads are searched
    with the detector whose boxes placed the model's training crops (serving ships YuNet's;
    a study may pass another ``detector``)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        detector: faces.Detector | None = None,
        ensemble_dir: Path | None = None,
        runtime: str | None = None,
    ) -> None:
        self.age_model = Model(model_dir or MODELS_DIR / DEFAULT_MODEL, runtime)
        self.spec = self.age_model.spec
        if detector is None and self.spec.detector != "yunet":
            raise ValueError(
                f"{self.spec.version} was trained on {self.spec.detector}'s crops; serving detects with YuNet. "
                "Pass detector=ml.training.detectors.make_detector('hog+yunet') to study it."
            )
        points = self.spec.alignment == "points"
        self.detector = detector or faces.upload_detector(points=points)
        # Live frames are searched on a 320-px copy: ~4x fewer pixels, and a face the age
        # model can use (MIN_FACE) is still several times YuNet's smallest; their faces are
        # placed by the points of that one pass (refining them, as uploads do, would double
        # a frame's time).
        self.live_detector = faces.YuNetDetector(detect_side=LIVE_DETECT_SIDE, points=points, refine=False)
        folder = ensemble_dir if ensemble_dir is not None else MODELS_DIR / ENSEMBLE
        self.members = [Model(d, runtime) for d in sorted(folder.glob("*")) if (d / "meta.json").exists()]

    def distributions(self, rgb: faces.RGB, found: Sequence[faces.Detection | None]) -> NDArray[np.float64]:
        """101-way distributions for faces in ``rgb``, with the model's test-time augmentation;
        ``None`` uses a pre-aligned chip whole, as :func:`ml.faces.chip_face` does."""
        return self.age_model.predict(rgb, found)

    def ensemble_groups(self, rgb: faces.RGB, face: faces.Detection | None) -> NDArray[np.float64] | None:
        """The ensemble's mean 8-group probabilities for one face (None without members);
        ``face=None`` uses a pre-aligned chip whole."""
        if not self.members:
            return None
        return np.asarray(np.mean([m.predict(rgb, [face])[0] for m in self.members], axis=0), np.float64)

    def ensemble_age(self, groups: NDArray[np.float64]) -> float:
        """The expected age over the groups, each at its mean training age."""
        means = np.mean([_group_mean_ages(m.spec) for m in self.members], axis=0)
        return float(groups @ means / groups.sum())

    def estimate(self, image: faces.ImageInput) -> Estimate:
        """Every face in ``image`` with its age; raises ImageError for unreadable input."""
        return self._estimate(image, self.detector, with_ensemble=True)

    def estimate_faces(
        self, image: faces.ImageInput, *, located: Sequence[tuple[Sequence[float], Sequence[tuple[float, float]]]]
    ) -> list[FaceEstimate]:
        """The faces an earlier estimate found in ``image`` (each its unclipped box and
        landmarks), scored again by this model without detecting or the ensemble: how a
        model version in the shadow of the served one sees exactly the faces it answered."""
        found = [_located(box, landmarks) for box, landmarks in located]
        if not found:
            return []
        rgb = faces.decode(image)
        return [self._face_estimate(f, d) for f, d in zip(found, self.distributions(rgb, found), strict=True)]

    def estimate_frame(self, image: faces.ImageInput) -> Estimate:
        """One live video frame: as :meth:`estimate`, with the live detector and without the
        ensemble (``ensemble_groups`` is None), so that a frame takes milliseconds; each face
        carries its ``appearance``, which the stream's tracker follows it by."""
        return self._estimate(image, self.live_detector, with_ensemble=False)

    def estimate_kept_frame(self, image: faces.ImageInput) -> Estimate:
        """A live frame kept as a photo: its faces found and placed as :meth:`estimate_frame`
        finds them, with the ensemble as :meth:`estimate` gives it, so that each face gets the
        age the live stream gave it in that frame (the uploads' refined search places crops a
        little differently)."""
        return self._estimate(image, self.live_detector, with_ensemble=True)

    def _estimate(self, image: faces.ImageInput, detector: faces.Detector, *, with_ensemble: bool) -> Estimate:
        rgb = faces.decode(image)
        found = detector.detect(rgb)
        usable = [f for f in found if min(f.box[2:]) >= faces.MIN_FACE]
        usable = sorted(usable, key=lambda f: -f.box[2] * f.box[3])[:MAX_FACES]
        estimates: list[FaceEstimate] = []
        if usable:
            for face, dist in zip(usable, self.distributions(rgb, usable), strict=True):
                groups8 = self.ensemble_groups(rgb, face) if with_ensemble else None
                look = None if with_ensemble else tracking.appearance(rgb, face)
                estimates.append(self._face_estimate(face, dist, groups8=groups8, look=look))
        models = (self.age_model, *(self.members if with_ensemble else ()))
        return Estimate(
            width=rgb.shape[1],
            height=rgb.shape[0],
            faces=estimates,
            model_version=self.spec.version,
            too_small=len(found) - len(usable),
            versions={m.spec.name: m.spec.version for m in models},
        )

    def _face_estimate(
        self,
        face: faces.Detection,
        dist: NDArray[np.float64],
        *,
        groups8: NDArray[np.float64] | None = None,
        look: NDArray[np.float64] | None = None,
    ) -> FaceEstimate:
        summary = ages.summarize(dist)
        return FaceEstimate(
            box=face.box,
            landmarks=face.landmarks,
            detection_score=round(face.score, 4),
            age=round(summary.age, 2),
            interval=(round(summary.low, 1), round(summary.high, 1)),
            distribution=tuple(round(float(p), 6) for p in dist),
            groups={label: round(p, 6) for label, p in summary.groups.items()},
            ensemble_groups=None if groups8 is None else _named(groups8),
            ensemble_age=None if groups8 is None else round(self.ensemble_age(groups8), 2),
            appearance=None if look is None else tuple(round(float(v), 4) for v in look),
        )


def _group_mean_ages(spec: ModelSpec) -> tuple[float, ...]:
    if spec.group_mean_ages is None:
        raise ValueError(f"{spec.folder / 'meta.json'} has no group_mean_ages: not an 8-group model")
    return spec.group_mean_ages


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
