"""Fit :data:`ml.faces.TEMPLATE`: where YuNet's five points lie in the face squares the
earlier geometry (YuNet's box mapped onto HOG's, dlib's eyes for the angle) placed, so that
crops placed by the points match, on average, the crops the models were trained on.

    python -m ml.studies.template --data DIR_OR_TAR [--split train] [--faces 2000]

Prints the mean position of each point in units of the square's side from its centre, the
spread of each, and the mirror-symmetric template (left and right points averaged, the nose
on the centre line) to paste into ``ml/faces.py``.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from tqdm import tqdm

from ml import faces
from ml.studies.evaluate import labelled_files

SIZE = 1000  # output pixels of the reference crop: only sets the precision


def square_coordinates(
    rgb: faces.RGB, detector: faces.YuNetDetector, landmarks: faces.LandmarkModel
) -> np.ndarray | None:
    """The five points of the chip's main face in its earlier-geometry square (5 x 2), or None."""
    rows = detector.rows(rgb)
    if not len(rows):
        return None
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    row = min(rows, key=lambda r: float(np.linalg.norm(r[:2] + r[2:4] / 2 - centre)))
    gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
    face = landmarks.face(gray, faces._yunet_box(row), float(row[14]))
    matrix = faces.alignment_matrix(face, margin=0.0, size=SIZE)
    points = row[4:14].reshape(5, 2)
    output = np.linalg.solve(matrix[:, :2], (points - matrix[:, 2]).T).T  # source -> output pixels
    return np.asarray((output - (SIZE - 1) / 2) / SIZE)


def symmetric(mean: np.ndarray) -> tuple[tuple[float, float], ...]:
    """``mean`` (5 x 2) made mirror-symmetric about the vertical centre line."""
    eye = (mean[1] + mean[0] * [-1, 1]) / 2
    mouth = (mean[4] + mean[3] * [-1, 1]) / 2
    points = ((-eye[0], eye[1]), tuple(eye), (0.0, mean[2][1]), (-mouth[0], mouth[1]), tuple(mouth))
    return tuple((round(float(x), 4), round(float(y), 4)) for x, y in points)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--faces", type=int, default=2000)
    args = parser.parse_args(argv)
    detector, landmarks = faces.YuNetDetector(points=True), faces.LandmarkModel()
    found = []
    for _, blob in tqdm(labelled_files(args.data, args.split, clean=False), desc="chips"):
        points = square_coordinates(faces.decode(blob), detector, landmarks)
        if points is not None:
            found.append(points)
        if len(found) >= args.faces:
            break
    stack = np.stack(found)
    mean, spread = stack.mean(axis=0), stack.std(axis=0)
    names = ("image-left eye", "image-right eye", "nose tip", "image-left mouth", "image-right mouth")
    print(f"{len(found)} faces; mean (standard deviation) in units of the square's side")
    for name, m, s in zip(names, mean, spread, strict=True):
        print(f"  {name:18} x {m[0]:+.4f} ({s[0]:.4f})  y {m[1]:+.4f} ({s[1]:.4f})")
    print(f"TEMPLATE = {symmetric(mean)}")


if __name__ == "__main__":
    main()
