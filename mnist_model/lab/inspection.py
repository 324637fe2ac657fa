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

from ..engine.storage import atomic_write

PATTERN_STEPS = 120  # gradient-ascent steps per filter
PATTERN_STEP_SIZE = 1.5  # length of each step (L2 over the whole 28x28 image)
PATTERN_DECAY = 0.99  # pull towards grey each step, so only what the filter needs survives
BLANK_TOLERANCE = 0.05  # pixels this close to a pattern's median (0-1 scale) are of its even tone ...
BLANK_SHARE = 0.9  # ... and a pattern with at least this share of them looks blank
TRAINING_ONLY = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
                 keras.layers.AlphaDropout)  # layers that pass their input through unchanged when predicting


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
    """The model's Conv2D layers by name, in order, whatever they are called."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def training_only_layers(model: keras.Model) -> list[str]:
    """The layers (dropout, noise) whose output equals their input when the model predicts."""
    return [layer.name for layer in model.layers if isinstance(layer, TRAINING_ONLY)]


def feature_maps(output: np.ndarray) -> np.ndarray | None:
    """One layer's output for one image as (channels, height, width) maps, ready to draw.

    Args:
        output: the layer's output without the batch axis.

    Returns:
        (h, w, c) outputs as c maps, a 2-D (h, w) output as one map, and None for
        outputs that are not images (flatten, dense, pooled vectors).
    """
    if output.ndim == 3:
        return np.transpose(output, (2, 0, 1))
    if output.ndim == 2:
        return output[None]
    return None


def filter_patterns(model: keras.Model, layer: str, steps: int = PATTERN_STEPS, seed: int = 0,
                    on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """The 28x28 input that most excites each filter of ``layer``, by gradient ascent.

    Every filter is optimised at once, one image per filter (Deep Learning with Python,
    section 5.4.2), with a little decay towards grey and blur so the patterns stay smooth.

    Returns:
        (filters, 28, 28) float32 images scaled to [0, 1].

    Raises:
        ValueError: ``layer`` is not one of the model's convolution layers.
    """
    names = conv_layer_names(model)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a convolution layer; choose one of {names}")
    conv = model.get_layer(layer)
    upstream = keras.Model(inputs=model.inputs[0], outputs=conv.input)
    first = _sees_pixels(upstream)
    objective = _filter_objective(model, conv, upstream, first)
    n = conv.filters
    low, high = (0.0, 1.0) if first else (0.45, 0.55)  # the first layer needs contrast to respond
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


def nearly_blank(patterns: np.ndarray, tolerance: float = BLANK_TOLERANCE, share: float = BLANK_SHARE) -> np.ndarray:
    """Indices of the ``filter_patterns`` that are nearly one even tone: at least ``share`` of their pixels
    within ``tolerance`` of their median (on the patterns' [0, 1] scale), a speck at most besides.

    Raises:
        ValueError: not a stack of 2-D patterns.
    """
    patterns = np.asarray(patterns, np.float32)
    if patterns.ndim != 3:
        raise ValueError(f"expected patterns shaped (filters, h, w), got {patterns.shape}")
    median = np.median(patterns, axis=(1, 2), keepdims=True)
    return np.flatnonzero((np.abs(patterns - median) <= tolerance).mean(axis=(1, 2)) >= share)


def _sees_pixels(upstream: keras.Model) -> bool:
    """True when no conv or dense layer comes before the conv: it reads the pixels themselves
    (at most rescaled or reshaped), as the seed's conv_1 does."""
    return not any(isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) for layer in upstream.layers)


def _filter_objective(model: keras.Model, conv: keras.layers.Conv2D, upstream: keras.Model,
                      first: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """What gradient ascent maximises for the filters of ``conv``, fed by ``upstream``.

    Deeper layers use the response before the activation, so a filter that is silent on
    the grey start still has a gradient. The first layer keeps its activation: before it,
    the response is linear in the pixels and its maximum is a flat black or white image.
    """
    if first:
        return keras.Model(inputs=model.inputs[0], outputs=conv.output)
    kernel = tf.convert_to_tensor(conv.kernel)
    bias = tf.convert_to_tensor(conv.bias) if conv.use_bias else 0.0
    return lambda x: conv.convolution_op(upstream(x), kernel) + bias  # the layer's own strides and padding


def _stretch(images: np.ndarray) -> np.ndarray:
    """Scale each image to span [0, 1] so faint patterns stay visible."""
    lo = images.min(axis=(1, 2), keepdims=True)
    hi = images.max(axis=(1, 2), keepdims=True)
    return ((images - lo) / np.maximum(hi - lo, 1e-8)).astype(np.float32)


def patterns_path(model_path: str | os.PathLike) -> Path:
    """Where a model's filter patterns are cached: ``x.keras`` -> ``x.patterns.npz``."""
    return Path(model_path).with_suffix(".patterns.npz")


def load_or_compute_patterns(model: keras.Model, model_path: str | os.PathLike,
                             on_progress: Callable[[float, str], None] | None = None,
                             compute: bool = True
                             ) -> dict[str, np.ndarray] | None:
    """Every conv layer's filter patterns, computed once and stored beside the model.

    Args:
        model: the loaded model.
        model_path: its file; the stored patterns are used only if they were made from
            a file with the same contents (a retrained model gets new ones).
        on_progress: called with (fraction done, layer name) while computing.
        compute: if False, only a stored result is returned, else None: the app's server never computes it.

    Returns:
        (filters, 28, 28) patterns by conv layer name; empty for a model without convolutions.
    """
    layers = conv_layer_names(model)
    if not layers:
        return {}
    cache = patterns_path(model_path)
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    saved = _read_patterns(cache, digest, layers)
    if saved is not None or not compute:
        return saved
    total = len(layers) * PATTERN_STEPS
    patterns = {}
    for i, name in enumerate(layers):
        def report(step, i=i, name=name):
            if on_progress:
                on_progress((i * PATTERN_STEPS + step) / total, name)
        # PATTERN_STEPS read now, not when filter_patterns was defined, so it can be turned down
        patterns[name] = filter_patterns(model, name, steps=PATTERN_STEPS, on_step=report)
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
