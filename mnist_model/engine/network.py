"""The seed convnet (Deep Learning with Python, listing 5.1) with stable layer names."""

from __future__ import annotations

import math

import keras
from keras import layers

from .config import INPUT_SHAPE as INPUT_SHAPE  # re-exported: callers import these from network
from .config import NUM_CLASSES as NUM_CLASSES
from .config import TrainConfig

LAYER_NAMES = ("conv_1", "pool_1", "conv_2", "pool_2", "conv_3", "flatten", "dense", "predictions")
DENSE_LAYER_NAMES = ("flatten", "dense", "predictions")
DENSE_MATCHING_UNITS = 117  # hidden units that give the dense network about the convnet's parameters (93,025)


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


def build_dense(hidden_units: int = DENSE_MATCHING_UNITS) -> keras.Model:
    """A densely connected network: Flatten, one hidden ReLU layer, softmax (no convolution).

    With 117 hidden units it has 93,025 parameters, about the convnet's 93,322, so the two
    differ in how they are wired, not in how much they can store.
    """
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(hidden_units, activation="relu", name="dense"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="predictions"),
        ],
        name="mnist_dense",
    )


def build_from_config(config: TrainConfig) -> keras.Model:
    if config.architecture == "dense":
        return build_dense(config.dense_units)
    return build_convnet(config.filters, config.dense_units)


def summary_rows(model: keras.Model) -> list[dict]:
    """One row per layer: name, Keras class, output shape (without batch), parameters, formula.

    The InputLayer a functional model lists is left out, as in the seed's summary.
    """
    rows = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": tuple(layer.output.shape[1:]),
            "params": layer.count_params(),
            "formula": param_formula(layer),
        })
    return rows


def param_formula(layer: keras.layers.Layer) -> str:
    """How the layer's parameter count comes about, e.g. '(3*3*1 + 1) * 32 = 320'.

    Conv2D, Dense and BatchNormalization are broken down; another layer with weights
    gets just its count, and a breakdown that does not add up is not shown.
    """
    n = layer.count_params()
    known = _breakdown(layer)
    if known and known[1] == n:
        return f"{known[0]} = {n}"
    return f"{n} (not broken down for {type(layer).__name__})" if n else "no weights: 0"


def _breakdown(layer: keras.layers.Layer) -> tuple[str, int] | None:
    """The parameter count as a formula and its value, for the layer types the app explains."""
    if isinstance(layer, layers.Conv2D):
        (kh, kw), cin = layer.kernel_size, layer.input.shape[-1] // layer.groups
        return _weights_and_bias(f"{kh}*{kw}*{cin}", kh * kw * cin, layer.filters, layer.use_bias)
    if isinstance(layer, layers.Dense):
        fan_in = layer.input.shape[-1]
        return _weights_and_bias(str(fan_in), fan_in, layer.units, layer.use_bias)
    if isinstance(layer, layers.BatchNormalization):
        per_channel, channels = len(layer.weights), layer.input.shape[layer.axis]
        names = ", ".join(w.name for w in layer.weights)
        return f"{per_channel} * {channels} ({names})", per_channel * channels
    return None


def _weights_and_bias(fan_in_text: str, fan_in: int, units: int, use_bias: bool) -> tuple[str, int]:
    """'(fan_in + 1) * units' and its value; no '+ 1' for a layer without bias."""
    return f"({fan_in_text}{' + 1' if use_bias else ''}) * {units}", (fan_in + int(use_bias)) * units


NOTES_PRINTED_FILTERS = (32, 64, 63)  # the conv channels behind the summary printed in the notes (see notes_slip)


def notes_slip() -> list[dict]:
    """The notes' printed summary (conv_3 with 63 filters) beside the text's (3, 3, 64), layer by layer.

    The notes say conv_3 outputs (3, 3, 64) and the flatten 576, but the summary they print
    counts 36,351 parameters for conv_3, a flatten of 567 and 36,352 for the dense layer:
    the figures of a conv_3 with 63 filters. One row per layer with both shapes, both
    counts and both formulas, so the difference can be read off.
    """
    printed, text = (summary_rows(build_convnet(filters)) for filters in (NOTES_PRINTED_FILTERS, (32, 64, 64)))
    return [{"layer": a["layer"], "printed_shape": a["output_shape"], "printed_params": a["params"],
             "printed_formula": a["formula"], "text_shape": b["output_shape"], "text_params": b["params"],
             "text_formula": b["formula"]} for a, b in zip(printed, text, strict=True)]


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
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    lines += ["=" * 60, f"Total params: {model.count_params():,}",
              f"Trainable params: {trainable:,}", f"Non-trainable params: {model.count_params() - trainable:,}"]
    return "\n".join(lines)
