"""The seed convnet (Deep Learning with Python, listing 5.1) with stable layer names."""

from __future__ import annotations

import keras
from keras import layers

from .config import TrainConfig

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
LAYER_NAMES = ("conv_1", "pool_1", "conv_2", "pool_2", "conv_3", "flatten", "dense", "predictions")


def build_convnet(filters: tuple[int, int, int] = (32, 64, 64), dense_units: int = 64) -> keras.Model:
    """The seed architecture: three 3x3 convs with two 2x2 max-pools, then dense and softmax.

    Args:
        filters: output channels of conv_1, conv_2 and conv_3.
        dense_units: width of the hidden dense layer.

    Returns:
        An uncompiled Sequential model taking (None, 28, 28, 1) to 10 probabilities.
    """
    f1, f2, f3 = TrainConfig(filters=filters, dense_units=dense_units).filters
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            layers.Conv2D(f1, (3, 3), activation="relu", name="conv_1"),
            layers.MaxPooling2D((2, 2), name="pool_1"),
            layers.Conv2D(f2, (3, 3), activation="relu", name="conv_2"),
            layers.MaxPooling2D((2, 2), name="pool_2"),
            layers.Conv2D(f3, (3, 3), activation="relu", name="conv_3"),
            layers.Flatten(name="flatten"),
            layers.Dense(dense_units, activation="relu", name="dense"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="predictions"),
        ],
        name="mnist_convnet",
    )


def build_from_config(config: TrainConfig) -> keras.Model:
    return build_convnet(config.filters, config.dense_units)


def summary_rows(model: keras.Model) -> list[dict]:
    """One row per layer: name, Keras class, output shape (without batch), parameters, formula."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": shape,
            "params": layer.count_params(),
            "formula": param_formula(layer),
        })
    return rows


def param_formula(layer: keras.layers.Layer) -> str:
    """How the layer's parameter count comes about, e.g. '(3*3*1 + 1) * 32 = 320'."""
    n = layer.count_params()
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        return f"({kh}*{kw}*{cin} + 1) * {layer.filters} = {n}"
    if isinstance(layer, layers.Dense):
        return f"({layer.input.shape[-1]} + 1) * {layer.units} = {n}"
    return "no weights: 0"


def format_shape(shape: tuple) -> str:
    """(26, 26, 32) -> '26x26x32', as the app labels feature maps."""
    return "x".join(str(d) for d in shape)


def summary_text(model: keras.Model) -> str:
    """A Keras-style summary table with the total, as printed in the seed notes."""
    rows = summary_rows(model)
    lines = [f"{'Layer (type)':<28}{'Output Shape':<22}{'Param #':>10}", "=" * 60]
    for row in rows:
        shape = "(None, " + ", ".join(str(d) for d in row["output_shape"]) + ")"
        lines.append(f"{row['layer'] + ' (' + row['type'] + ')':<28}{shape:<22}{row['params']:>10,}")
    lines += ["=" * 60, f"Total params: {model.count_params():,}",
              f"Trainable params: {model.count_params():,}", "Non-trainable params: 0"]
    return "\n".join(lines)
