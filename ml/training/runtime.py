"""The Keras runtime: a model folder's ``model.keras`` on TensorFlow (a GPU, if there is one).

Serving runs ``model.tflite`` on LiteRT; ``AGEWEB_RUNTIME=keras`` (a GPU worker, or the
benchmark's comparison) runs the same model here instead, with the training requirements.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


def keras_predictor(path: Path, size: int) -> Callable[[NDArray[np.float32]], Any]:
    """The model as one traced function of a float32 batch, so that a single image does
    not pay Keras' per-call overhead (``model.predict`` adds a large fixed cost per call)."""
    import keras

    model = keras.models.load_model(path, compile=False)
    if keras.backend.backend() != "tensorflow":
        return lambda x: keras.ops.convert_to_numpy(model(x, training=False))
    import tensorflow as tf

    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    call = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda x: call(x).numpy()
