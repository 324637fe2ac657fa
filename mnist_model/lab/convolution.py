"""Convolution, step by step: one output value of a conv layer worked out by hand, with numpy.

Deep Learning with Python, 5.1.1: a convolution slides a window over its input, takes the
patch of shape (kh, kw, input_depth) under it, multiplies it element by element with each
filter's kernel and adds everything up (plus a bias, then the activation). Doing that for
every filter turns the patch into a vector of shape (output_depth,); the vectors of all
window positions, put back in place, are the output feature map.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .inspection import conv_layer_names

PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class Geometry:
    """Where a conv layer's windows fall on its input, and how large its output is."""

    in_size: tuple[int, int]  # input height, width
    kernel_size: tuple[int, int]  # window height, width
    strides: tuple[int, int]  # rows and columns the window moves per output step
    pad: tuple[int, int]  # zero rows above and zero columns left of the input ('same' padding)
    out_size: tuple[int, int]  # output height, width

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """The input row and column under the top-left corner of the window for output (row, col)."""
        return row * self.strides[0] - self.pad[0], col * self.strides[1] - self.pad[1]

    @property
    def overhangs(self) -> bool:
        """Whether some windows reach past the input's edges, into the zeros of 'same' padding."""
        return any(p > 0 or (n - 1) * s + k - p > size for p, n, s, k, size in
                   zip(self.pad, self.out_size, self.strides, self.kernel_size, self.in_size))


def conv_geometry(in_size: tuple[int, int], kernel_size: tuple[int, int], strides: tuple[int, int] = (1, 1),
                  padding: str = "valid") -> Geometry:
    """The windows of a 2-D convolution, computed as TensorFlow does.

    Args:
        in_size: input height and width.
        kernel_size: window height and width.
        strides: step of the window down and across.
        padding: "valid" (windows stay inside the input) or "same" (zeros around it, so that
            the output has ceil(input / stride) rows and columns; the extra zero goes below
            and right when the padding is odd).

    Returns:
        The layer's Geometry.

    Raises:
        ValueError: an unknown padding, or a window larger than a "valid" input.
    """
    padding = padding.lower()
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    out, pad = [], []
    for size, k, s in zip(in_size, kernel_size, strides):
        n = -(-size // s) if padding == "same" else (size - k) // s + 1
        if n < 1:
            raise ValueError(f"a {k}-wide window does not fit in {size} input values without padding")
        out.append(n)
        pad.append(max((n - 1) * s + k - size, 0) // 2 if padding == "same" else 0)
    return Geometry(tuple(in_size), tuple(kernel_size), tuple(strides), tuple(pad), tuple(out))


@dataclass(frozen=True)
class Step:
    """One value of a conv layer's output worked out: the patch, the products, the sum, bias and activation."""

    row: int  # output row
    col: int  # output column
    filter: int  # the output map (filter) the value belongs to
    origin: tuple[int, int]  # input row and column under the window's top-left corner (<0 in padding)
    patch: np.ndarray  # (kh, kw, input_depth) input values under the window; zeros where it overhangs
    kernel: np.ndarray  # (kh, kw, input_depth) the filter's weights
    product: np.ndarray  # patch * kernel, element by element
    total: float  # the sum of product
    bias: float  # the filter's bias (0 for a layer without biases)
    has_bias: bool  # whether the layer has biases at all
    pre_activation: float  # total + bias
    activation: str  # the activation's name: "relu", "linear", ...
    value: float  # the activation of pre_activation: what lands at (row, col) of the output map
    vector: np.ndarray  # (output_depth,) every filter's value at (row, col): the patch as a vector


def conv_step(kernel: np.ndarray, bias: np.ndarray | None, layer_input: np.ndarray, row: int, col: int,
              filter: int, strides: tuple[int, int] = (1, 1), padding: str = "valid",
              activation: str | Callable = "relu") -> Step:
    """Work out one output value of a 2-D convolution, the way the layer computes it.

    Args:
        kernel: the weights, (kh, kw, input_depth, output_depth) as Keras stores them.
        bias: (output_depth,) biases, or None for a layer without.
        layer_input: the layer's input for one image, (height, width, input_depth).
        row: output row.
        col: output column.
        filter: which output map (filter).
        strides: step of the window down and across.
        padding: "valid" or "same".
        activation: a Keras activation, by name or as the function itself.

    Returns:
        The Step, with every filter's value at (row, col) in ``vector``.

    Raises:
        ValueError: shapes that do not fit together, or a row, column or filter out of range.
    """
    kernel = np.asarray(kernel, np.float32)
    layer_input = np.asarray(layer_input, np.float32)
    _check_shapes(kernel, layer_input)
    geometry = conv_geometry(layer_input.shape[:2], kernel.shape[:2], strides, padding)
    row, col = (_index(name, value, n) for name, value, n in zip(("row", "col"), (row, col), geometry.out_size))
    filter = _index("filter", filter, kernel.shape[3])
    patch = _patch(layer_input, geometry, row, col).astype(np.float64)  # float64: the sums shown add up
    weights = kernel.astype(np.float64)
    biases = np.zeros(kernel.shape[3]) if bias is None else np.asarray(bias, np.float64)
    product = patch * weights[..., filter]
    total = float(product.sum())
    act = keras.activations.get(activation)
    pre = np.tensordot(patch, weights, axes=3) + biases
    vector = keras.ops.convert_to_numpy(act(pre[None].astype(np.float32)))[0]  # a softmax needs all filters
    return Step(row, col, filter, geometry.origin(row, col), patch, weights[..., filter], product, total,
                float(biases[filter]), bias is not None, total + float(biases[filter]),
                getattr(act, "__name__", type(act).__name__), float(vector[filter]), vector)


def _check_shapes(kernel: np.ndarray, layer_input: np.ndarray) -> None:
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be (kh, kw, input_depth, output_depth), got shape {kernel.shape}")
    if layer_input.ndim != 3 or layer_input.shape[2] != kernel.shape[2]:
        raise ValueError(f"layer_input must be (height, width, {kernel.shape[2]}) for this kernel, "
                         f"got shape {layer_input.shape}")


def _index(name: str, value, size: int) -> int:
    """``value`` as an int in range(size), else a ValueError that lists the choices."""
    try:
        index = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number from 0 to {size - 1}, got {value!r}") from None
    if not 0 <= index < size:
        raise ValueError(f"{name} must be from 0 to {size - 1}, got {index}")
    return index


def _patch(layer_input: np.ndarray, geometry: Geometry, row: int, col: int) -> np.ndarray:
    """The input under the window for output (row, col), zeros where it hangs over the edge."""
    kh, kw = geometry.kernel_size
    top, left = geometry.origin(row, col)
    padded = np.pad(layer_input, ((kh, kh), (kw, kw), (0, 0)))  # wide enough for any 'same' overhang
    return padded[top + kh:top + 2 * kh, left + kw:left + 2 * kw]


def layer_step(layer: keras.layers.Conv2D, layer_input: np.ndarray, row: int, col: int, filter: int) -> Step:
    """``conv_step`` with a Conv2D layer's own weights, strides, padding and activation.

    Raises:
        ValueError: the layer is dilated, grouped or channels-first (not shown step by step),
            or a row, column or filter is out of range.
    """
    _check_plain(layer)
    bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
    return conv_step(keras.ops.convert_to_numpy(layer.kernel), bias, layer_input, row, col, filter,
                     layer.strides, layer.padding, layer.activation)


def layer_geometry(layer: keras.layers.Conv2D, in_size: tuple[int, int]) -> Geometry:
    """The windows of a Conv2D layer over an input of ``in_size`` (height, width)."""
    _check_plain(layer)
    return conv_geometry(in_size, layer.kernel_size, layer.strides, layer.padding)


def _check_plain(layer: keras.layers.Conv2D) -> None:
    """Refuse the Conv2D options a window-by-window picture does not cover."""
    if tuple(layer.dilation_rate) != (1, 1):
        raise ValueError(f"{layer.name} is dilated (dilation_rate={tuple(layer.dilation_rate)}): its window has "
                         "holes, which this step-by-step view does not draw; it shows dilation_rate (1, 1) only.")
    if layer.groups != 1:
        raise ValueError(f"{layer.name} is a grouped convolution (groups={layer.groups}); "
                         "this view shows groups=1 only.")
    if layer.data_format != "channels_last":
        raise ValueError(f"{layer.name} uses {layer.data_format}; this view shows channels_last only.")


@dataclass(frozen=True)
class ConvMaps:
    """A conv layer's input and output for one image, batch axis removed."""

    input: np.ndarray  # (height, width, input_depth)
    output: np.ndarray  # (out_height, out_width, output_depth)


class ConvolutionSteps:
    """A model's conv layers (found by type), ready to be worked out window by window.

    One compiled call gives every conv layer's input (the image, a pooling layer's output,
    a BatchNormalization's, whatever feeds it) and its real output; safe to share between threads.
    """

    def __init__(self, model: keras.Model):
        self.layers = {name: model.get_layer(name) for name in conv_layer_names(model)}
        self.layer_names = list(self.layers)
        self._call = _compiled_probe(model, list(self.layers.values())) if self.layers else None
        self._lock = threading.Lock()  # one call at a time: TF's CPU pool is already parallel

    def maps(self, image: np.ndarray) -> dict[str, ConvMaps]:
        """Each conv layer's input and output for one 28x28 image (empty for a model without convs)."""
        if self._call is None:
            return {}
        batch = tf.constant(np.asarray(image, np.float32).reshape((1, 28, 28, 1)))
        with self._lock:
            out = [tensor.numpy()[0] for tensor in self._call(batch)]
        return {name: ConvMaps(out[2 * i], out[2 * i + 1]) for i, name in enumerate(self.layer_names)}

    def layer(self, name: str) -> keras.layers.Conv2D:
        """The conv layer called ``name``.

        Raises:
            ValueError: the model has no conv layer of that name; the message lists those it has.
        """
        if name not in self.layers:
            raise ValueError(f"{name!r} is not a convolution layer of this model; choose one of {self.layer_names}")
        return self.layers[name]

    def step(self, maps: dict[str, ConvMaps], name: str, row: int, col: int, filter: int) -> Step:
        """One value of layer ``name``'s output worked out, from ``maps`` of the same image."""
        return layer_step(self.layer(name), maps[name].input, row, col, filter)


def _compiled_probe(model: keras.Model, convs: list[keras.layers.Conv2D]) -> Callable:
    """One compiled call from the model's input to each conv's input and output, in that order."""
    tensors = [t for layer in convs for t in (layer.input, layer.output)]
    probe = keras.Model(inputs=model.inputs[0], outputs=tensors, name=f"{model.name}_convolutions")
    return tf.function(probe, reduce_retracing=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
