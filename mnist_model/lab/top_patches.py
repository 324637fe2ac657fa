"""What excites each filter: the test digits where it responds most, cropped to what its unit sees.

For every filter of every convolution layer, each of the 10,000 MNIST test digits gets its
strongest response (the filter's largest output over all positions), and the 9 digits with
the strongest ones are kept, each cropped to the receptive field of the unit that fired
(Zeiler and Fergus, "Visualizing and understanding convolutional networks", 2014). conv_1's
3x3 patches show bits of stroke and edge; conv_3's 18x18 ones show parts of digits.

Computed in one batched pass over the test digits, once per model, and stored beside it:
``load_or_compute_top_patches(model, path)``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..engine.data import load_mnist, prepare_images
from ..engine.inference import batch_size
from ..engine.storage import atomic_write, model_digest
from .inspection import conv_layer_names
from .receptive_field import IMAGE, receptive_fields, unit_box

TOP = 9  # digits kept per filter: a 3x3 block on the page
BATCH = 500  # test digits per forward pass
FORMAT = 1  # of the stored file; a file in another format is computed again
FIELDS = ("patches", "image", "row", "col", "activation")  # TopPatches' arrays, stored under these names


@dataclass(frozen=True, eq=False)
class TopPatches:
    """One convolution layer's strongest responses: for each filter, its TOP digits, strongest first."""

    layer: str  # the layer's name
    patches: np.ndarray  # (filters, TOP, h, w) uint8: each digit cropped to the unit's field, zeros past the border
    image: np.ndarray  # (filters, TOP) index of the digit among the test images
    row: np.ndarray  # (filters, TOP) the responding unit's row in the layer's map
    col: np.ndarray  # (filters, TOP) and its column
    activation: np.ndarray  # (filters, TOP) float32: the layer's output there; 0 everywhere: the filter never fires


def strongest_responses(model: keras.Model, images: np.ndarray,
                        on_progress: Callable[[float, str], None] | None = None
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each image's strongest response per filter of every convolution layer, and where it is.

    Args:
        model: any model taking (None, 28, 28, 1) images.
        images: (N, 28, 28) uint8 digits, as MNIST stores them.
        on_progress: called with (fraction done, what is being computed) after each batch.

    Returns:
        For each conv layer, (values, positions): (N, filters) float32 maxima over the map,
        and (N, filters) flat positions in the map (row * width + column) where they are.
    """
    layers = conv_layer_names(model)
    function = _maxima_function(model, layers)
    parts, step = [], batch_size(model, BATCH)
    for start in range(0, len(images), step):
        batch = tf.constant(prepare_images(images[start:start + step]))
        parts.append([(v.numpy(), p.numpy()) for v, p in function(batch)])
        if on_progress:
            on_progress(min(start + BATCH, len(images)) / len(images), "test digits")
    return {name: (np.concatenate([part[i][0] for part in parts]), np.concatenate([part[i][1] for part in parts]))
            for i, name in enumerate(layers)}


def _maxima_function(model: keras.Model, layers: list[str]):
    """A compiled function from images to each conv layer's (max, argmax) over positions, per filter."""
    upstream = keras.Model(inputs=model.inputs[0], outputs=[model.get_layer(name).output for name in layers])

    @tf.function(reduce_retracing=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    def maxima(images):
        results = []
        for out in tf.nest.flatten(upstream(images, training=False)):
            flat = tf.reshape(tf.cast(out, tf.float32), (tf.shape(out)[0], -1, out.shape[-1]))
            results.append((tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32)))
        return results

    return maxima


def top_patches(model: keras.Model, images: np.ndarray, on_progress: Callable[[float, str], None] | None = None,
                top: int = TOP) -> dict[str, TopPatches]:
    """For every filter of every conv layer, the ``top`` images it responds to most, cropped to its unit's field.

    Each image counts once per filter, at its strongest position; ties go to the lower image index.

    Args:
        model: any model taking (None, 28, 28, 1) images.
        images: (N, 28, 28) uint8 digits.
        on_progress: called with (fraction done, what is being computed).
        top: images kept per filter (fewer if there are fewer images).

    Returns:
        TopPatches by conv layer name, in the model's order; empty for a model without convolutions.

    Raises:
        ValueError: ``images`` are not (N, 28, 28) uint8 with N >= 1.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE or not len(images):
        raise ValueError(f"expected (N, 28, 28) uint8 images with N >= 1, as MNIST stores them; "
                         f"got {images.dtype} of shape {images.shape}")
    rows = receptive_fields(model)
    result = {}
    for name, (values, positions) in strongest_responses(model, images, on_progress).items():
        best = np.argsort(-values, axis=0, kind="stable")[:top].T  # (filters, top)
        width = model.get_layer(name).output.shape[2]
        where = np.take_along_axis(positions.T, best, axis=1)
        row, col = where // width, where % width
        patches = np.stack([[crop(images[i], unit_box(rows, name, r, c)) for i, r, c in zip(*unit)]
                            for unit in zip(best, row, col)])
        result[name] = TopPatches(name, patches, best.astype(np.int32), row, col,
                                  np.take_along_axis(values.T, best, axis=1))
    return result


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image[top:bottom, left:right]`` for a box that may reach past the border, with zeros there."""
    top, left, bottom, right = box
    patch = np.zeros((bottom - top, right - left), image.dtype)
    inside = max(top, 0), max(left, 0), min(bottom, image.shape[0]), min(right, image.shape[1])
    patch[inside[0] - top:inside[2] - top, inside[1] - left:inside[3] - left] = \
        image[inside[0]:inside[2], inside[1]:inside[3]]
    return patch


def top_patches_path(model_path: str | os.PathLike) -> Path:
    """Where a model's top patches are stored: ``x.keras`` -> ``x.top_patches.npz``."""
    return Path(model_path).with_suffix(".top_patches.npz")


def load_or_compute_top_patches(model: keras.Model, model_path: str | os.PathLike,
                                on_progress: Callable[[float, str], None] | None = None,
                                compute: bool = True
                                ) -> dict[str, TopPatches] | None:
    """Every conv filter's top test-digit patches, computed once and stored beside the model.

    Args:
        model: the loaded model.
        model_path: its file; the stored patches are used only if they were made from a file
            with the same contents (a retrained model gets new ones).
        on_progress: called with (fraction done, what is being computed) while computing.
        compute: if False, only a stored result is returned, else None: the app's server never computes it.

    Returns:
        TopPatches by conv layer name; empty (and nothing written) for a model without convolutions.

    Raises:
        DataError: computing is needed and the MNIST test digits cannot be read.
    """
    layers = conv_layer_names(model)
    if not layers:
        return {}
    cache = top_patches_path(model_path)
    digest = model_digest(model_path)
    saved = _read(cache, digest, layers)
    if saved is not None or not compute:
        return saved
    found = top_patches(model, load_mnist()[1][0], on_progress)
    with contextlib.suppress(OSError):  # a read-only model folder: the patches still show, just not kept
        atomic_write(cache, lambda tmp: _write(tmp, found, digest))
    return found


def _write(path: Path, found: dict[str, TopPatches], digest: str) -> None:
    arrays = {f"{field}_{i}": getattr(patches, field) for i, patches in enumerate(found.values()) for field in FIELDS}
    np.savez_compressed(path, format=np.array(FORMAT), model_sha256=np.array(digest),
                        layers=np.array(list(found), str), **arrays)


def _read(cache: Path, digest: str, layers: list[str]) -> dict[str, TopPatches] | None:
    """The stored patches if they belong to the model with this digest and conv layers; None otherwise."""
    try:
        with np.load(cache) as saved:
            if (saved.get("format") != FORMAT or str(saved.get("model_sha256", "")) != digest
                    or list(saved["layers"]) != layers):
                return None
            return {name: TopPatches(name, *(saved[f"{field}_{i}"] for field in FIELDS))
                    for i, name in enumerate(layers)}
    except (OSError, ValueError, KeyError):  # missing, damaged or incomplete: computed again
        return None
