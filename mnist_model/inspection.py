"""Looking inside: learned kernels, the patterns each filter responds to, saliency."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .storage import atomic_write

PATTERN_STEPS = 120  # gradient-ascent steps per filter
PATTERN_STEP_SIZE = 1.5  # length of each step (L2 over the whole 28x28 image)
PATTERN_DECAY = 0.99  # pull towards grey each step, so only what the filter needs survives


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

    Every filter is optimised at once, one image per filter (Deep Learning with Python,
    section 5.4.2), with a little decay towards grey and blur so the patterns stay smooth.

    Returns:
        (filters, 28, 28) float32 images scaled to [0, 1].
    """
    names = conv_layer_names(model)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a convolution layer; choose one of {names}")
    index = model.layers.index(model.get_layer(layer))
    objective = _filter_objective(model, index)
    n = model.layers[index].filters
    low, high = (0.0, 1.0) if index == 0 else (0.45, 0.55)  # the first layer needs contrast to respond
    images = tf.Variable(np.random.default_rng(seed).uniform(low, high, (n, 28, 28, 1)).astype("float32"))
    own = tf.one_hot(tf.range(n), n)[:, None, None, :]  # image i looks at filter i only

    @tf.function
    def ascend(blur):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.reduce_mean(objective(images) * own, axis=(1, 2)))
        grads = tape.gradient(loss, images)
        grads /= tf.sqrt(tf.reduce_sum(tf.square(grads), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x = 0.5 + (images + PATTERN_STEP_SIZE * grads - 0.5) * PATTERN_DECAY
        if blur:
            x = 0.5 * x + 0.5 * tf.nn.avg_pool2d(x, 3, 1, "SAME")
        images.assign(tf.clip_by_value(x, 0.0, 1.0))

    for step in range(steps):
        ascend(tf.constant(step % 4 == 0))
        if on_step:
            on_step(step + 1)
    return _stretch(images.numpy()[..., 0])


def _filter_objective(model: keras.Model, index: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """What gradient ascent maximises for the filters of the conv layer at ``index``.

    Deeper layers use the response before the ReLU, so a filter that is silent on the
    grey start still has a gradient. The first layer keeps its ReLU: before it, the
    response is linear in the pixels and its maximum is a flat black or white image.
    """
    conv = model.layers[index]
    if index == 0:
        return keras.Model(inputs=model.inputs[0], outputs=conv.output)
    upstream = keras.Model(inputs=model.inputs[0], outputs=model.layers[index - 1].output)
    kernel, bias = tf.convert_to_tensor(conv.kernel), tf.convert_to_tensor(conv.bias)
    return lambda x: tf.nn.conv2d(upstream(x), kernel, strides=1, padding="VALID") + bias


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
        model_path: its file; the stored patterns are used only if they were made from
            a file with the same contents (a retrained model gets new ones).
        on_progress: called with (fraction done, layer name) while computing.
    """
    cache = patterns_path(model_path)
    layers = conv_layer_names(model)
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    saved = _read_patterns(cache, digest, layers)
    if saved is not None:
        return saved
    total = len(layers) * PATTERN_STEPS
    patterns = {}
    for i, name in enumerate(layers):
        def report(step, i=i, name=name):
            if on_progress:
                on_progress((i * PATTERN_STEPS + step) / total, name)
        patterns[name] = filter_patterns(model, name, on_step=report)
    with contextlib.suppress(OSError):  # a read-only model folder: patterns still show, just not kept
        atomic_write(cache, lambda tmp: np.savez_compressed(
            tmp, model_sha256=np.array(digest), **{k: v.astype(np.float16) for k, v in patterns.items()}))
    return patterns


def _read_patterns(cache: Path, digest: str, layers: list[str]) -> dict[str, np.ndarray] | None:
    """The stored patterns if they belong to the model with this digest; None otherwise."""
    try:
        with np.load(cache) as saved:
            if str(saved.get("model_sha256", "")) != digest or not all(n in saved for n in layers):
                return None
            return {name: saved[name].astype(np.float32) for name in layers}
    except (OSError, ValueError):  # missing or damaged: computed again
        return None
