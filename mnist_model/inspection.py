"""Looking inside: learned kernels, the patterns each filter responds to, saliency."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .storage import atomic_write

PATTERN_STEPS = 80  # gradient-ascent steps per filter
PATTERN_STEP_SIZE = 0.05  # step size on the L2-normalised gradient, in image units


def conv_kernels(model: keras.Model, layer: str) -> np.ndarray:
    """The layer's kernels as (filters, in_channels, kh, kw), ready to draw.

    Raises:
        ValueError: ``layer`` is not one of the model's convolution layers.
    """
    names = conv_layer_names(model)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a convolution layer; choose one of {names}")
    kernel = model.get_layer(layer).get_weights()[0]  # (kh, kw, in, out)
    return np.transpose(kernel, (3, 2, 0, 1))


def conv_layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def filter_patterns(model: keras.Model, layer: str, steps: int = PATTERN_STEPS, seed: int = 0,
                    on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """The 28x28 input that most excites each filter of ``layer``, by gradient ascent.

    Every filter is optimised at once, one image per filter, starting from faint noise
    (Deep Learning with Python, section 5.4.2).

    Returns:
        (filters, 28, 28) float32 images scaled to [0, 1].
    """
    conv = model.get_layer(layer)
    if layer not in conv_layer_names(model):
        raise ValueError(f"{layer!r} is not a convolution layer; choose one of {conv_layer_names(model)}")
    extractor = keras.Model(inputs=model.inputs[0], outputs=conv.output)
    n = conv.filters
    rng = np.random.default_rng(seed)
    images = tf.Variable(rng.uniform(0.4, 0.6, size=(n, 28, 28, 1)).astype("float32"))
    mask = tf.one_hot(tf.range(n), n)[:, None, None, :]  # image i looks at filter i

    @tf.function
    def ascend():
        with tf.GradientTape() as tape:
            acts = extractor(images, training=False)
            loss = tf.reduce_sum(tf.reduce_mean(acts * mask, axis=(1, 2)))
        grads = tape.gradient(loss, images)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=(1, 2, 3), keepdims=True)) + 1e-8
        images.assign(tf.clip_by_value(images + PATTERN_STEP_SIZE * grads / norms * 28.0, 0.0, 1.0))

    for step in range(steps):
        ascend()
        if on_step:
            on_step(step + 1)
    return _stretch(images.numpy()[..., 0])


def _stretch(images: np.ndarray) -> np.ndarray:
    """Scale each image to span [0, 1] so faint patterns stay visible."""
    lo = images.min(axis=(1, 2), keepdims=True)
    hi = images.max(axis=(1, 2), keepdims=True)
    return ((images - lo) / np.maximum(hi - lo, 1e-8)).astype(np.float32)


def patterns_path(model_path: str | os.PathLike) -> Path:
    """Where a model's filter patterns are cached: ``x.keras`` -> ``x.patterns.npz``."""
    return Path(model_path).with_suffix(".patterns.npz")


def load_or_compute_patterns(model: keras.Model, model_path: str | os.PathLike,
                             on_progress: Callable[[float, str], None] | None = None
                             ) -> dict[str, np.ndarray]:
    """Every conv layer's filter patterns, computed once and stored beside the model.

    Args:
        model: the loaded model.
        model_path: its file; the cache is valid only while it is newer than the model.
        on_progress: called with (fraction done, layer name) while computing.
    """
    cache = patterns_path(model_path)
    layers = conv_layer_names(model)
    if cache.exists() and cache.stat().st_mtime >= Path(model_path).stat().st_mtime:
        try:
            with np.load(cache) as saved:
                if all(name in saved for name in layers):
                    return {name: saved[name].astype(np.float32) for name in layers}
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed below
    total = len(layers) * PATTERN_STEPS
    patterns = {}
    for i, name in enumerate(layers):
        def report(step, i=i, name=name):
            if on_progress:
                on_progress((i * PATTERN_STEPS + step) / total, name)
        patterns[name] = filter_patterns(model, name, on_step=report)
    try:
        atomic_write(cache, lambda tmp: np.savez_compressed(
            tmp, **{k: v.astype(np.float16) for k, v in patterns.items()}))
    except OSError:
        pass  # a read-only model folder: the patterns still show, they are just not kept
    return patterns


def saliency(model: keras.Model, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """|d p(class) / d pixel| for one 28x28 image: which pixels sway the prediction most.

    Args:
        image: (28, 28) float input.
        class_index: the class to explain; defaults to the predicted one.
    """
    x = tf.constant(np.asarray(image, np.float32).reshape(1, 28, 28, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        probs = model(x, training=False)
        target = int(tf.argmax(probs[0])) if class_index is None else class_index
        score = probs[0, target]
    grad = np.abs(tape.gradient(score, x).numpy()[0, ..., 0])
    return grad / grad.max() if grad.max() > 0 else grad

