"""``build_model``: a pretrained EfficientNet-Lite with an age head, and its loss.

The model takes RGB pixels (0..255, any batch, ``input_size`` square) and scales them
itself, so serving cannot drift from training. Heads:

- ``dist101``: 101-way softmax over ages 0..100; the age is the expected value.
- ``groups8``: 8-way softmax over the seed's age groups.
- ``regression``: one linear output, the age in years.

Targets are packed as ``[distribution..., age]`` so that one loss can use both the label
distribution (cross-entropy) and the exact age (L1 on the expected value), and so that
mixup mixes both.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
from keras import ops

from ml.training import backbone

Head = Literal["dist101", "groups8", "regression"]
HEAD_SIZE = {"dist101": 101, "groups8": 8, "regression": 1}
AGE_VALUES = [float(a) for a in range(101)]


def build_model(
    head: Head = "dist101",
    variant: str = "lite0",
    input_size: int = 128,
    dropout: float = 0.2,
    drop_connect: float = 0.2,
    pretrained: bool = True,
) -> keras.Model:
    """The age model; ``pretrained=False`` skips loading the ImageNet weights (for callers
    that copy in a trained model's)."""
    features = backbone.imagenet_backbone(
        variant, input_size=input_size, pretrained=pretrained, drop_connect=drop_connect
    )
    x = keras.layers.Dropout(dropout, name="age_dropout")(features.output)
    if head == "regression":
        out = keras.layers.Dense(1, name="age", bias_initializer=keras.initializers.Constant(33.0))(x)
    else:
        out = keras.layers.Dense(HEAD_SIZE[head], activation="softmax", name="age", dtype="float32")(x)
    return keras.Model(features.input, out, name=f"age_{head}_{variant}_{input_size}")


def set_trainable(model: keras.Model, first_trainable_block: int | None) -> None:
    """Freeze the backbone up to (not including) block ``first_trainable_block``;
    ``None`` freezes the whole backbone (head-only training). Frozen BatchNorm layers
    stay in inference mode, so their ImageNet statistics are kept."""
    for layer in model.layers:
        name = layer.name
        if name.startswith("age"):
            layer.trainable = True
        elif first_trainable_block is None or name.startswith(("stem", "scale", "pixels")):
            layer.trainable = False
        elif name.startswith("block"):
            layer.trainable = int(name[5:].split("_")[0]) >= first_trainable_block
        else:  # head_conv, head_bn, pool
            layer.trainable = True


@keras.saving.register_keras_serializable("ageweb")
class AgeLoss(keras.losses.Loss):  # type: ignore[misc]
    """Cross-entropy against the label distribution plus ``l1`` x |expected age - age|.

    ``y_true`` is ``[distribution (K values), age]``. For the 8-group head the second term
    is skipped; for the regression head the loss is plain L1 on the age."""

    def __init__(self, head: Head = "dist101", l1: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.head = head
        self.l1 = l1

    def call(self, y_true: Any, y_pred: Any) -> Any:
        age = y_true[:, -1]
        if self.head == "regression":
            return ops.abs(y_pred[:, 0] - age)
        dist = y_true[:, :-1]
        ce = -ops.sum(dist * ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=-1)
        if self.head == "groups8" or not self.l1:
            return ce
        expected = ops.sum(y_pred * ops.convert_to_tensor(AGE_VALUES), axis=-1)
        return ce + self.l1 * ops.abs(expected - age)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "head": self.head, "l1": self.l1}
