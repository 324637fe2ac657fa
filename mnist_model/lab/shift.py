"""Translation invariance: a convnet keeps reading a moved digit, a dense network loses it.

A convolution slides the same filter over every position, so moving the digit moves its
feature maps with it (equivariance) and the pooling and later layers still find the
strokes. A dense unit is wired to fixed pixels: moved ink lands on other weights. The
functions here move digits (``shift_image``), ask a model about every offset at once
(``shift_grid``), measure test accuracy over shift distances (``shifted_test_accuracy``)
and compare layer outputs of a digit and its moved copy (``conv_equivariance``,
``hidden_units``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..engine.data import load_mnist, prepare_images
from ..engine.inference import batch_size, inner_layers, outputs_probabilities
from ..engine.storage import PRETRAINED_DENSE, PRETRAINED_MODEL, atomic_write, load_model, model_digest
from .inspection import conv_layer_names

MAX_SHIFT = 8  # the grid runs from -MAX_SHIFT to +MAX_SHIFT pixels in x and in y
SHIFTS = tuple(range(MAX_SHIFT + 1))  # distances of the accuracy curves, in pixels
SEED = 0  # picks each test image's direction; the same for every model and distance
BATCH = 1000  # images per forward pass
FORMAT = 1  # of the stored curves; a file in another format is computed again

Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) float32 images -> (N, 10) probabilities


def shift_images(images: np.ndarray, dx: np.ndarray | int, dy: np.ndarray | int) -> np.ndarray:
    """Move each image ``dx`` pixels right and ``dy`` down; what leaves the frame is lost, zeros enter.

    Args:
        images: (N, H, W) images, or (N, H, W, C) ones (feature maps) moved with all their channels.
        dx: one horizontal shift for all images, or one per image (negative: left).
        dy: the same for vertical shifts (negative: up).

    Returns:
        The moved images, same shape and dtype as ``images``.

    Raises:
        ValueError: not a batch of 2-D images, or a shift per image that does not match N.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C), got shape {images.shape}")
    n, h, w = images.shape[:3]
    dx, dy = _per_image(dx, n), _per_image(dy, n)
    pad = int(min(max(np.abs(dx).max(initial=0), np.abs(dy).max(initial=0)), max(h, w)))
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad)] + [(0, 0)] * (images.ndim - 3))
    rows = np.clip(pad - dy, 0, 2 * pad)[:, None] + np.arange(h)  # a shift past the frame reads only padding
    cols = np.clip(pad - dx, 0, 2 * pad)[:, None] + np.arange(w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _per_image(shift: np.ndarray | int, n: int) -> np.ndarray:
    shift = np.asarray(shift, int)
    if shift.ndim == 0:
        return np.full(n, shift)
    if shift.shape != (n,):
        raise ValueError(f"expected one shift or one per image ({n}), got shape {shift.shape}")
    return shift


def shift_image(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """One 2-D image moved ``dx`` pixels right and ``dy`` down, clipped at the borders (see ``shift_images``)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected one 2-D image, got shape {image.shape}")
    return shift_images(image[None], dx, dy)[0]


def probability_function(model: keras.Model) -> Predict:
    """The model as one compiled call from a batch of images to class probabilities.

    A model that ends in logits gets a softmax. Batches of any size share one trace.
    """
    softmax_in_model = outputs_probabilities(model)

    @tf.function(reduce_retracing=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    def probabilities(images):
        out = model(images, training=False)
        return out if softmax_in_model else tf.nn.softmax(out)

    return lambda images: probabilities(tf.constant(_batch(images))).numpy()


def _batch(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape((-1, 28, 28, 1))


def _predictor(predict: keras.Model | Predict) -> Predict:
    return probability_function(predict) if isinstance(predict, keras.Model) else predict


def grid_offsets(max_shift: int = MAX_SHIFT) -> tuple[np.ndarray, np.ndarray]:
    """Every (dx, dy) of the grid, row by row: dy from -max_shift (up) down, dx from left to right."""
    dy, dx = np.mgrid[-max_shift:max_shift + 1, -max_shift:max_shift + 1]
    return dx.ravel(), dy.ravel()


def shift_grid(predict: keras.Model | Predict, image: np.ndarray, digit: int | None = None,
               max_shift: int = MAX_SHIFT) -> np.ndarray:
    """The probability of ``digit`` for the image moved to every offset, in one batch.

    Args:
        predict: a model, or a function from (N, 28, 28, 1) images to (N, 10) probabilities.
        image: one 28x28 image in [0, 1].
        digit: the class whose probability is mapped; None for the class predicted unmoved.
        max_shift: the grid spans -max_shift..+max_shift pixels both ways.

    Returns:
        (2 * max_shift + 1, 2 * max_shift + 1) probabilities; row i is dy = i - max_shift,
        column j is dx = j - max_shift, so the centre is the unmoved image.

    Raises:
        ValueError: ``digit`` is not 0-9 or None, or ``max_shift`` is negative.
    """
    if digit is not None and digit not in range(10):
        raise ValueError(f"digit must be 0-9 or None (the predicted digit), got {digit!r}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be 0 or more, got {max_shift}")
    dx, dy = grid_offsets(max_shift)
    batch = shift_images(np.repeat(np.asarray(image, np.float32)[None], len(dx), axis=0), dx, dy)
    probs = _predictor(predict)(batch)
    side = 2 * max_shift + 1
    if digit is None:
        digit = int(probs[side * side // 2].argmax())
    return probs[:, digit].reshape(side, side)


def random_offsets(n: int, distance: float, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``n`` images, ``distance`` pixels in a random direction, rounded to whole pixels.

    The directions depend on ``seed`` and ``n`` only, so every distance and every model
    sees each image moved the same way.
    """
    angles = np.random.default_rng(seed).uniform(0.0, 2 * math.pi, n)
    return (np.rint(distance * np.cos(angles)).astype(int), np.rint(distance * np.sin(angles)).astype(int))


def shifted_test_accuracy(model: keras.Model | Predict, images: np.ndarray, labels: np.ndarray,
                          shifts: Sequence[float] = SHIFTS, seed: int = SEED,
                          on_shift: Callable[[int], None] | None = None) -> np.ndarray:
    """Accuracy on ``images`` moved each distance in ``shifts``, each image in its own random direction.

    Args:
        model: a model, or a function from (N, 28, 28, 1) images to (N, 10) probabilities.
        images: uint8 (N, 28, 28) MNIST images, or float ones in [0, 1].
        labels: integer or one-hot labels.
        shifts: distances in pixels; 0 is the unmoved test set.
        seed: picks the directions (see ``random_offsets``).
        on_shift: called with how many distances are done.

    Returns:
        (len(shifts),) accuracies.
    """
    images = prepare_images(images) if np.asarray(images).dtype == np.uint8 else _batch(images)
    labels = np.asarray(labels)
    labels = labels.argmax(1) if labels.ndim == 2 else labels
    predict = _predictor(model)
    step = batch_size(model, BATCH) if isinstance(model, keras.Model) else BATCH
    accuracies = []
    for done, distance in enumerate(shifts, start=1):
        moved = shift_images(images, *random_offsets(len(images), distance, seed))
        predicted = np.concatenate([predict(moved[i:i + step]).argmax(1) for i in range(0, len(moved), step)])
        accuracies.append(float((predicted == labels).mean()))
        if on_shift:
            on_shift(done)
    return np.array(accuracies)


@dataclass(frozen=True)
class Equivariance:
    """A conv layer's maps of a moved digit against its maps of the digit, moved afterwards."""

    layer: str  # the conv layer compared
    of_shifted: np.ndarray  # (channels, h, w): the layer's maps of the moved digit
    shifted: np.ndarray  # (channels, h, w): its maps of the original digit, then moved
    inside: np.ndarray  # (h, w) bool: away from the borders, where the two must agree

    @property
    def max_difference(self) -> float:
        """The largest difference between the two inside the borders."""
        return float(np.abs(self.of_shifted - self.shifted)[:, self.inside].max(initial=0.0))


def conv_equivariance(model: keras.Model, image: np.ndarray, dx: int, dy: int,
                      layer: str | None = None) -> Equivariance:
    """The first conv layer's maps of the moved digit, and its maps of the digit moved afterwards.

    Away from the borders (``inside``) they are equal: moving the input moves the maps.

    Args:
        model: a model with at least one Conv2D layer.
        image: one 28x28 image.
        dx: pixels right (negative: left); a multiple of the layer's stride.
        dy: pixels down (negative: up); likewise.
        layer: the conv layer; default the model's first.

    Raises:
        ValueError: the model has no conv layer, ``layer`` is not one of them, it does not read
            the 28x28 image at full size, or the shift is not a multiple of its stride.
    """
    names = conv_layer_names(model)
    layer = layer or (names[0] if names else None)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a convolution layer of this model; choose one of {names}")
    conv = model.get_layer(layer)
    _check_aligned(conv, dx, dy)
    (sy, sx), (h, w) = conv.strides, conv.output.shape[1:3]
    maps = _outputs(model, conv, np.stack([image, shift_image(image, dx, dy)]))
    moved = shift_images(maps[:1], dx // sx, dy // sy)[0]
    margin = _edge_margin(conv)
    rows = _inside(h, dy // sy, margin)[:, None]
    cols = _inside(w, dx // sx, margin)[None, :]
    return Equivariance(layer, np.moveaxis(maps[1], -1, 0), np.moveaxis(moved, -1, 0), rows & cols)


def _check_aligned(conv: keras.layers.Conv2D, dx: int, dy: int) -> None:
    if tuple(conv.input.shape[1:3]) != (28, 28):
        raise ValueError(f"{conv.name} reads a {tuple(conv.input.shape[1:3])} input, not the 28x28 image, "
                         f"so a shift of the digit is not a whole shift of its maps")
    sy, sx = conv.strides
    if dx % sx or dy % sy:
        raise ValueError(f"{conv.name} moves {sx}x{sy} pixels per step, so the shift must be a multiple of that; "
                         f"got ({dx}, {dy})")


def _edge_margin(conv: keras.layers.Conv2D) -> int:
    """Output positions near the frame whose 'same' padding would read the clipped ink."""
    if conv.padding != "same":
        return 0
    return max((k - 1) * d for k, d in zip(conv.kernel_size, conv.dilation_rate)) // 2


def _inside(size: int, shift: int, margin: int) -> np.ndarray:
    """Positions that are ``margin`` away from the frame and came from inside it before the shift."""
    index = np.arange(size)
    return (index >= margin) & (index < size - margin) & (index - shift >= 0) & (index - shift < size)


def _outputs(model: keras.Model, layer: keras.layers.Layer, images: np.ndarray) -> np.ndarray:
    """One layer's outputs for a few 28x28 images."""
    upstream = keras.Model(inputs=model.inputs[0], outputs=layer.output)
    return keras.ops.convert_to_numpy(upstream(_batch(images), training=False))


def hidden_layer(model: keras.Model) -> str:
    """The first Dense layer before the output layer: the units a dense network reads pixels with.

    Raises:
        ValueError: the model has no Dense layer before its output.
    """
    layers = inner_layers(model)
    hidden = [layer.name for layer in layers[:-1] if isinstance(layer, keras.layers.Dense)]
    if not hidden:
        raise ValueError(f"{model.name} has no hidden Dense layer before its output layer")
    return hidden[0]


def hidden_units(model: keras.Model, image: np.ndarray, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """The first hidden Dense layer's units for the digit and for the digit moved (dx, dy), flattened.

    Raises:
        ValueError: the model has no Dense layer before its output.
    """
    layer = model.get_layer(hidden_layer(model))
    moved = shift_image(image, dx, dy)
    if np.array_equal(moved, image):  # computed once: a second pass may differ in its last bits (oneDNN)
        units = _outputs(model, layer, image[None])[0].ravel()
        return units, units.copy()
    out = _outputs(model, layer, np.stack([image, moved]))
    return out[0].ravel(), out[1].ravel()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two activation patterns: 1 the same pattern, 0 nothing in common."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if np.array_equal(a, b):  # exactly 1, not 1 less a rounding error that would read ">99%"
        return 1.0
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else float(np.array_equal(a, b))


@dataclass(frozen=True)
class ShiftCurves:
    """Test accuracy of a convnet and a dense network at each shift distance."""

    shifts: np.ndarray  # distances in pixels
    conv_accuracy: np.ndarray  # the convnet's accuracy at each
    dense_accuracy: np.ndarray  # the dense network's
    n: int  # test images
    seconds: float  # how long the measurement took

    def to_dict(self) -> dict:
        return {"shifts": self.shifts.tolist(), "conv_accuracy": self.conv_accuracy.tolist(),
                "dense_accuracy": self.dense_accuracy.tolist(), "n": self.n, "seconds": round(self.seconds, 1)}


def measure_shift_curves(conv: keras.Model, dense: keras.Model, images: np.ndarray, labels: np.ndarray,
                         progress: Callable[[float, str], None] | None = None) -> ShiftCurves:
    """Both models' ``shifted_test_accuracy`` over SHIFTS, the images moved the same way for both."""
    start = time.perf_counter()
    curves = []
    for i, (model, name) in enumerate(((conv, "convnet"), (dense, "dense network"))):
        def report(done, i=i, name=name):
            if progress:
                progress((i * len(SHIFTS) + done) / (2 * len(SHIFTS)), name)
        curves.append(shifted_test_accuracy(model, images, labels, SHIFTS, SEED, on_shift=report))
    return ShiftCurves(np.array(SHIFTS), curves[0], curves[1], len(images), time.perf_counter() - start)


def shift_curves_path(conv_path: str | os.PathLike, dense_path: str | os.PathLike) -> Path:
    """Where a pair's curves are stored: beside the convnet (``x.keras`` -> ``x.shift.npz``), or
    beside the dense network when only the convnet is bundled, so bundled files never change."""
    conv_path, dense_path = Path(conv_path), Path(dense_path)
    bundled = PRETRAINED_MODEL.parent.resolve()
    if conv_path.resolve().parent == bundled and dense_path.resolve().parent != bundled:
        return dense_path.with_suffix(".shift.npz")
    return conv_path.with_suffix(".shift.npz")


def load_or_compute_shift_curves(conv_model: keras.Model, conv_path: str | os.PathLike,
                                 dense_model: keras.Model, dense_path: str | os.PathLike,
                                 progress: Callable[[float, str], None] | None = None,
                                 compute: bool = True, digits: int | None = None) -> ShiftCurves | None:
    """The pair's accuracy-against-shift curves on the 10,000 MNIST test images, measured once and stored.

    Args:
        conv_model: the loaded convnet.
        conv_path: its file.
        dense_model: the loaded dense network.
        dense_path: its file; the stored curves are used only if both files are unchanged.
        progress: called with (fraction done, which network) while measuring.
        compute: if False, only a stored result is returned, else None: the app's server never computes it.
        digits: measure on the first this many test digits (all by default): fewer for a slow model.

    Raises:
        DataError: measuring is needed and MNIST cannot be read (see ``load_mnist``).
    """
    cache = shift_curves_path(conv_path, dense_path)
    digests = (model_digest(conv_path), model_digest(dense_path))
    saved = _read_curves(cache, digests)
    if saved is not None or not compute:
        return saved
    images, labels = load_mnist()[1]
    curves = measure_shift_curves(conv_model, dense_model, images[:digits], labels[:digits], progress)
    with contextlib.suppress(OSError):  # a read-only model folder: the curves still show, just not kept
        atomic_write(cache, lambda tmp: np.savez(
            tmp, format=np.array(FORMAT), conv_sha256=np.array(digests[0]), dense_sha256=np.array(digests[1]),
            shifts=curves.shifts, conv_accuracy=curves.conv_accuracy, dense_accuracy=curves.dense_accuracy,
            n=np.array(curves.n), seconds=np.array(curves.seconds)))
    return curves


def _read_curves(cache: Path, digests: tuple[str, str]) -> ShiftCurves | None:
    """The stored curves if they were measured on this very pair of files; None otherwise."""
    try:
        with np.load(cache) as saved:
            if (saved.get("format") != FORMAT or str(saved["conv_sha256"]) != digests[0]
                    or str(saved["dense_sha256"]) != digests[1] or saved["shifts"].tolist() != list(SHIFTS)):
                return None
            return ShiftCurves(saved["shifts"], saved["conv_accuracy"], saved["dense_accuracy"],
                               int(saved["n"]), float(saved["seconds"]))
    except (OSError, ValueError, KeyError):  # missing, damaged or incomplete: measured again
        return None


def cli_shift(args, argv) -> int:
    """``python -m mnist_model experiment shift [--json] [--data NPZ]``: the bundled pair's curves."""
    from ..engine.jsonio import print_json

    images, labels = load_mnist(args.data)[1]
    curves = measure_shift_curves(load_model(PRETRAINED_MODEL), load_model(PRETRAINED_DENSE), images, labels)
    if args.json:
        print_json(curves.to_dict())
        return 0
    print(f"Test accuracy on {curves.n:,} images, each moved in a random direction (seed {SEED}):")
    print(f"{'shift (px)':>10}  {'convnet':>8}  {'dense':>8}")
    for shift, conv, dense in zip(curves.shifts, curves.conv_accuracy, curves.dense_accuracy):
        print(f"{shift:>10}  {conv:>8.2%}  {dense:>8.2%}")
    print(f"({curves.seconds:.1f} s)")
    return 0
