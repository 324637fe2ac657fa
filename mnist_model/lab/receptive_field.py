"""Receptive fields: how much of the 28x28 input one unit of each layer sees, and where.

A unit of the first 3x3 convolution sees 3x3 pixels. A unit one layer up sees a window of
the layer below, and each of those units sees its own patch, so the field grows:

    field = field before + (kernel - 1) x jump before
    jump  = jump before x stride

where the jump is how many input pixels lie between two neighbouring units. For the seed
network: conv_1 3, pool_1 4, conv_2 8, pool_2 10, conv_3 18 pixels, jumps 1, 2, 2, 4, 4
(Araujo, Norris and Sim, "Computing receptive fields of convolutional neural networks",
Distill 2019). The sizes come from the layers' configurations, never from their names.

A dilated kernel skips pixels: its field is the square it spans, holes included.
With "valid" padding every field lies inside the image. With "same" padding the border
units' fields reach past it, over the zeros the layer pads with: ``unit_field`` clips them
to the image, ``unit_box`` does not.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import keras

from ..engine.inference import inner_layers
from ..engine.network import INPUT_SHAPE
from .inspection import TRAINING_ONLY

IMAGE = INPUT_SHAPE[:2]  # the input's height and width in pixels
WINDOWS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
           keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)  # a unit sees a window of the layer below
PIXELWISE = (keras.layers.BatchNormalization, keras.layers.Dropout, keras.layers.Activation, keras.layers.ReLU,
             keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU, keras.layers.Rescaling,
             *TRAINING_ONLY)  # each output value comes from the input value at the same place
MERGES = (keras.layers.Concatenate, keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
          keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum)
MIXERS = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.GlobalAveragePooling2D,
          keras.layers.GlobalMaxPooling2D, keras.layers.Dense)  # from here on, every unit may see every position
WHOLE_TEXT = "the whole 28x28 image (from here on, a unit can mix all positions)"


@dataclass(frozen=True)
class FieldRow:
    """One layer's receptive field on the input; every pair is (along the height, along the width)."""

    name: str  # the layer's name
    type: str  # its Keras class, e.g. "Conv2D"
    size: tuple[int, int]  # the field of one unit, in input pixels
    jump: tuple[int, int] | None  # input pixels between neighbouring units; None: each unit sees the whole image
    offset: tuple[int, int]  # the top-left pixel of unit (0, 0)'s field; below 0 it starts past the border
    grid: tuple[int, int] | None  # the layer's map of units (height, width); None when it has no map
    arithmetic: str  # how the size follows from the layer before, for the page

    @property
    def start(self) -> tuple[float, float] | None:
        """The centre of unit (0, 0)'s field in input pixels (None for a whole-image layer)."""
        if self.jump is None:
            return None
        return tuple(o + (s - 1) / 2 for o, s in zip(self.offset, self.size))

    def to_dict(self) -> dict:
        """The row as JSON-ready values, for the CLI."""
        return {"name": self.name, "type": self.type, "size": list(self.size),
                "jump": list(self.jump) if self.jump else None,
                "start": list(self.start) if self.start else None, "whole_image": self.jump is None}


@dataclass(frozen=True)
class _Geometry:
    """What a tensor's units see: field size, jump and offset along (height, width); jump None: everything."""

    size: tuple[int, int]
    jump: tuple[int, int] | None
    offset: tuple[int, int]


_PIXELS = _Geometry((1, 1), (1, 1), (0, 0))  # the input: each unit is one pixel
_WHOLE = _Geometry(IMAGE, None, (0, 0))


def receptive_fields(model: keras.Model) -> list[FieldRow]:
    """Every inner layer's receptive field, from the layers' kernel sizes, strides, padding and dilation.

    Convolutions and poolings grow the field; layers that work pixel by pixel (batch norm,
    dropout, activations, rescaling) keep it; padding and cropping layers move it; merges
    (concatenate, add) take the union of their inputs' fields. Flatten, Dense, global
    pooling and any layer not known here see the whole image.

    Args:
        model: any model taking (None, 28, 28, 1) images.

    Returns:
        One row per layer, in the model's order, the InputLayer left out.
    """
    seen = {model.inputs[0]._keras_history.operation.name: _PIXELS}  # Keras notes which layer made each tensor
    rows = []
    for layer in inner_layers(model):
        inputs = _inputs_of(layer)
        before = [seen.get(name, _WHOLE) for name, _ in inputs] if inputs else [_WHOLE]
        geometry, arithmetic = _step(layer, before, [shape for _, shape in inputs])
        seen[layer.name] = geometry
        shape = tuple(layer.output.shape)
        grid = tuple(shape[1:3]) if len(shape) == 4 and geometry.jump else None
        rows.append(FieldRow(layer.name, type(layer).__name__, geometry.size, geometry.jump, geometry.offset,
                             grid, f"{layer.name}: {arithmetic}"))
    return rows


def _inputs_of(layer) -> list[tuple[str, tuple]]:
    """(producing layer's name, shape) of each tensor the layer reads; empty when that is unclear."""
    try:
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        return [(t._keras_history.operation.name, tuple(t.shape)) for t in tensors]
    except (AttributeError, ValueError):  # a layer shared between several inputs: no single geometry
        return []


def _step(layer, before: list[_Geometry], shapes: list[tuple]) -> tuple[_Geometry, str]:
    """The geometry of ``layer``'s output from its inputs' and the arithmetic that gives it."""
    if any(g.jump is None for g in before) or not all(len(s) == 4 for s in shapes) or isinstance(layer, MIXERS):
        return _WHOLE, WHOLE_TEXT
    if isinstance(layer, WINDOWS):
        return _window(layer, before[0], shapes[0][1:3])
    if isinstance(layer, PIXELWISE):
        return before[0], f"{_size_text(before[0].size)} (unchanged: it works pixel by pixel)"
    if isinstance(layer, MERGES):
        return _union(before)
    if isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
        return _shifted(layer, before[0])
    return _WHOLE, "the whole 28x28 image (taken as a whole: the app cannot follow this layer's wiring)"


def _window(layer, before: _Geometry, input_size: tuple) -> tuple[_Geometry, str]:
    """A convolution or pooling: each unit sees a kernel-sized window of the layer below."""
    kernel = tuple(getattr(layer, "kernel_size", None) or layer.pool_size)
    strides = tuple(layer.strides)
    dilation = tuple(getattr(layer, "dilation_rate", (1, 1)))
    pads = [_pad_before(layer.padding, n, k, s, d) for n, k, s, d in zip(input_size, kernel, strides, dilation)]
    size = tuple(r + d * (k - 1) * j for r, k, d, j in zip(before.size, kernel, dilation, before.jump))
    jump = tuple(j * s for j, s in zip(before.jump, strides))
    offset = tuple(o - p * j for o, p, j in zip(before.offset, pads, before.jump))
    text = _axes_text([f"{r} + ({k}-1) x {f'{d} x ' if d > 1 else ''}{j} = {r + d * (k - 1) * j}"
                       for r, k, d, j in zip(before.size, kernel, dilation, before.jump)])
    text += f"; jump {_axes_text([f'{j} x {s} = {j * s}' for j, s in zip(before.jump, strides)])}"
    if any(pads):
        text += " (padding 'same': the border units' fields reach past the image)"
    return _Geometry(size, jump, offset), text


def _pad_before(padding: str, n: int, kernel: int, stride: int, dilation: int) -> int:
    """Zeros added before the first row or column: none for 'valid', TensorFlow's split for 'same'."""
    if padding != "same":
        return 0
    total = max((math.ceil(n / stride) - 1) * stride + dilation * (kernel - 1) + 1 - n, 0)
    return total // 2  # TensorFlow puts the odd one at the end


def _union(before: list[_Geometry]) -> tuple[_Geometry, str]:
    """Several maps side by side (concatenate, add): a unit sees what any of its inputs sees."""
    if len({g.jump for g in before}) > 1:  # maps of different spacing: no one window fits them all
        return _WHOLE, "the whole 28x28 image (its inputs' units are spaced differently)"
    offset = tuple(min(g.offset[axis] for g in before) for axis in (0, 1))
    size = tuple(max(g.offset[axis] + g.size[axis] for g in before) - offset[axis] for axis in (0, 1))
    return _Geometry(size, before[0].jump, offset), f"{_size_text(size)}, the largest of its inputs' fields"


def _shifted(layer, before: _Geometry) -> tuple[_Geometry, str]:
    """Zero padding moves every unit's field up and left by the padding; cropping moves it down and right."""
    padding = isinstance(layer, keras.layers.ZeroPadding2D)
    (top, _), (left, _) = layer.padding if padding else layer.cropping
    sign = -1 if padding else 1
    offset = (before.offset[0] + sign * top * before.jump[0], before.offset[1] + sign * left * before.jump[1])
    verb = "padding" if padding else "cropping"
    return _Geometry(before.size, before.jump, offset), f"{_size_text(before.size)} (unchanged; the {verb} moves it)"


def _axes_text(parts: list[str]) -> str:
    return parts[0] if parts[0] == parts[1] else f"{parts[0]} down, {parts[1]} across"


def _size_text(size: tuple[int, int]) -> str:
    return str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"


def field_row(rows: list[FieldRow], layer: str) -> FieldRow:
    """The row of ``layer``.

    Raises:
        ValueError: no row has that name.
    """
    for row in rows:
        if row.name == layer:
            return row
    raise ValueError(f"{layer!r} is not a layer of this model; choose one of {[r.name for r in rows]}")


def unit_box(rows: list[FieldRow], layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """The field of unit (``row``, ``col``) of ``layer`` as (top, left, bottom, right), not clipped.

    Bottom and right are exclusive, as in ``image[top:bottom, left:right]``; with 'same'
    padding they may lie outside the image (top or left below 0, bottom or right past 28).

    Raises:
        ValueError: no such layer, or the unit lies outside the layer's map.
    """
    found = field_row(rows, layer)
    if found.jump is None:
        return 0, 0, *IMAGE
    if found.grid and not (0 <= row < found.grid[0] and 0 <= col < found.grid[1]):
        raise ValueError(f"{layer}'s map has {found.grid[0]}x{found.grid[1]} units; got unit ({row}, {col}): "
                         f"rows and columns go from 0 to {found.grid[0] - 1} and {found.grid[1] - 1}")
    top = found.offset[0] + row * found.jump[0]
    left = found.offset[1] + col * found.jump[1]
    return top, left, top + found.size[0], left + found.size[1]


def unit_field(rows: list[FieldRow], layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """The input pixels unit (``row``, ``col``) of ``layer`` sees: (top, left, bottom, right), clipped to 28x28.

    Bottom and right are exclusive (``image[top:bottom, left:right]`` is the field). A field
    lies inside the image with 'valid' padding (the seed network); with 'same' padding the
    border units' fields reach past it and are cut at the border here (see ``unit_box``); a unit
    that sees only padding (a ZeroPadding2D layer's) gets an empty field.

    Raises:
        ValueError: no such layer, or the unit lies outside the layer's map.
    """
    top, left, bottom, right = unit_box(rows, layer, row, col)
    top, bottom = (min(max(v, 0), IMAGE[0]) for v in (top, bottom))
    left, right = (min(max(v, 0), IMAGE[1]) for v in (left, right))
    return top, left, bottom, right


def arithmetic_lines(rows: list[FieldRow], upto: str | None = None) -> list[str]:
    """The arithmetic of each layer's field, from the first layer down to ``upto`` (all when None)."""
    names = [row.name for row in rows]
    end = names.index(field_row(rows, upto).name) + 1 if upto else len(rows)
    return [row.arithmetic for row in rows[:end]]


def window_layer_names(model: keras.Model) -> list[str]:
    """The convolution and pooling layers whose units each see part of the image, by type."""
    return [row.name for row, layer in zip(receptive_fields(model), inner_layers(model))
            if isinstance(layer, WINDOWS) and row.jump is not None]


def cli_receptive_field(args, argv) -> int:
    """``python -m mnist_model receptive-field [--model PATH] [--json]``: each layer's field and jump."""
    from ..engine.jsonio import print_json
    from ..engine.storage import PRETRAINED_MODEL, load_model

    path = os.fspath(args.model or PRETRAINED_MODEL)
    rows = receptive_fields(load_model(path))
    if args.json:
        print_json({"model": path, "layers": [row.to_dict() for row in rows]})
        return 0
    print(f"{path}: what one unit of each layer sees of the 28x28 input")
    print(f"{'layer':<24}{'type':<24}{'field':>12}{'jump':>6}")
    for row in rows:
        jump = _size_text(row.jump) if row.jump else "-"
        size = "whole image" if row.jump is None else _size_text(row.size)
        print(f"{row.name:<24}{row.type:<24}{size:>12}{jump:>6}")
    print("\nfield = field before + (kernel - 1) x jump before; jump = jump before x stride")
    print("\n".join(arithmetic_lines(rows)))
    return 0
