"""Does a drawing look like the digits the network learnt from? An out-of-distribution check for any model.

A network answers for any input, and confidently: a zigzag of crossing lines comes out as
"8" at 99.9%. This check compares what the network sees in a drawing with what it sees in
real MNIST digits, layer by layer, and says when the drawing is unlike all of them.

The method is deep nearest neighbours (Sun et al. 2022, "Out-of-distribution detection with
deep nearest neighbors"): each layer's output is shrunk to at most MAX_VALUES numbers,
scaled to unit length, and compared with the same for 1,000 training digits; the distance
to the nearest one, over the layers, makes the score. Mahalanobis distance on the
penultimate layer (Lee et al. 2018) was tried first and fails here: scribbles give weak
activations that lie near the class means, so the zigzag and random noise passed as digits.
Earlier layers see the strokes themselves and catch what the last one misses.

With the bundled model, 0.5% of MNIST test digits and about 2% of real pen-drawn digits
count as unfamiliar; the zigzag, random noise and about two scribbles in three do too.
The page shows UNFAMILIAR beside the prediction: ``FamiliarityCheck(model,
load_or_fit_familiarity(model, path)).unfamiliar(prep.image)``.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..engine.data import load_mnist, prepare_images
from ..engine.inference import batch_size, inner_layers
from ..engine.storage import atomic_write, model_digest
from .words import UNFAMILIAR as UNFAMILIAR  # re-exported: the sentence for a score over the threshold

MAX_VALUES = 576  # an image-shaped layer output is averaged down to a grid of at most this many numbers
REFERENCES_PER_CLASS = 100  # training digits of each class whose features are kept
CALIBRATION_IMAGES = 5000  # test digits that set the threshold (every other one of the 10,000)
PERCENTILE = 99.5  # share of those test digits that count as familiar
MAX_LAYERS = 4  # layers compared at most, spread from the first to the last, so a deep model stays cheap
FORMAT = 1  # of the stored file; a file in another format is computed again
BATCH = 500  # images per forward pass while fitting
LEARNING_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv2DTranspose,
                   keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Dense,
                   keras.layers.EinsumDense)  # layers whose outputs are features the network learnt


@dataclass(frozen=True, eq=False)
class Familiarity:
    """How far a drawing's features may lie from the training digits' before it counts as unfamiliar."""

    layers: tuple[str, ...]  # the layers compared, in order; empty: the pixels themselves
    references: tuple[np.ndarray, ...]  # per layer, (n, d) unit-length features of training digits
    scales: np.ndarray  # per layer, the PERCENTILE distance of test digits, so every layer weighs alike
    threshold: float  # a score above this is unfamiliar: the PERCENTILE score of test digits

    def scores(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Each image's score: the largest over layers of its scaled distance to the nearest training digit.

        Args:
            features: per layer, the (N, d) features of N images, as ``feature_function`` gives them.

        Returns:
            (N,) scores; those above ``threshold`` are unfamiliar.
        """
        distances = [nearest_distance(f, refs) / scale
                     for f, refs, scale in zip(features, self.references, self.scales)]
        return np.max(distances, axis=0)


def feature_layers(model: keras.Model) -> list[str]:
    """The layers whose outputs are compared: the convolution and dense layers before the classifier.

    The classifier is the last Dense layer and whatever follows it (a softmax). Of more than
    MAX_LAYERS, the first, the last and some spread between them are kept. A network with
    none (Flatten -> Dense 10) gets an empty list: then the pixels, which are what its one
    Dense layer reads, are compared instead.
    """
    layers = inner_layers(model)
    dense = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Dense)]
    head = dense[-1] if dense else len(layers) - 1
    names = [layer.name for layer in layers[:head] if isinstance(layer, LEARNING_LAYERS)]
    if len(names) <= MAX_LAYERS:
        return names
    return [names[round(i)] for i in np.linspace(0, len(names) - 1, MAX_LAYERS)]


def feature_function(model: keras.Model) -> Callable[[tf.Tensor], list[tf.Tensor]]:
    """A compiled function from (N, 28, 28, 1) float32 images to the features of each ``feature_layers``
    layer, (N, d) each: image-shaped outputs averaged over areas down to MAX_VALUES numbers."""
    names = feature_layers(model)
    tensors = [model.get_layer(name).output for name in names] or [model.inputs[0]]
    upstream = keras.Model(inputs=model.inputs[0], outputs=tensors)
    grids = [_grid(tuple(t.shape)) for t in tensors]

    @tf.function(reduce_retracing=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    def features(images):
        outputs = tf.nest.flatten(upstream(images, training=False))
        return [_shrink(out, grid) for out, grid in zip(outputs, grids)]

    return features


def _grid(shape: tuple) -> tuple[int, int] | None:
    """The (height, width) an output of this shape is averaged down to; None to keep it as it is."""
    if len(shape) == 3:  # (N, length, channels): a sequence, pooled along its length
        return min(shape[1], max(1, MAX_VALUES // shape[2])), 1
    if len(shape) == 4:
        side = max(1, math.isqrt(MAX_VALUES // shape[3]))
        return min(shape[1], side), min(shape[2], side)
    return None


def _shrink(output: tf.Tensor, grid: tuple[int, int] | None) -> tf.Tensor:
    if grid is not None:
        image = output[:, :, None, :] if output.shape.rank == 3 else output
        output = tf.image.resize(image, grid, method="area")
    return tf.reshape(output, (tf.shape(output)[0], -1))


def nearest_distance(features: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Cosine distance (1 - cosine similarity) from each row of ``features`` to its nearest reference.

    Args:
        features: (N, d) features; an all-zero row is at distance 1 from everything.
        references: (n, d) features of unit length.
    """
    return 1.0 - (_unit(features) @ references.T).max(axis=1)


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _batch(images: np.ndarray) -> np.ndarray:
    """Images as (N, 28, 28, 1) float32 in [0, 1]: uint8 ones are scaled, float ones must be in [0, 1].

    Raises:
        ValueError: not 28x28 images, or float values outside [0, 1].
    """
    images = np.asarray(images)
    if images.shape[-2:] != (28, 28) and images.shape[-3:] != (28, 28, 1):
        raise ValueError(f"expected 28x28 images shaped (28, 28), (28, 28, 1), (N, 28, 28) or "
                         f"(N, 28, 28, 1), got shape {images.shape}")
    if images.dtype == np.uint8:
        return prepare_images(images)
    images = images.astype(np.float32).reshape((-1, 28, 28, 1))
    if images.size and not 0.0 <= images.min() <= images.max() <= 1.0:
        raise ValueError(f"expected pixel values in [0, 1] (as canvas_to_mnist gives) or uint8, "
                         f"got values from {images.min():g} to {images.max():g}")
    return images


def _features(function, images: np.ndarray, on_batch: Callable[[float], None] | None = None,
              step: int = BATCH) -> list[np.ndarray]:
    """``function`` over ``images`` in batches of ``step``, joined per layer."""
    parts = []
    for start in range(0, len(images), step):
        parts.append([out.numpy() for out in function(tf.constant(images[start:start + step]))])
        if on_batch:
            on_batch(min(start + step, len(images)) / len(images))
    return [np.concatenate(layer) for layer in zip(*parts)]


def fit_familiarity(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                    on_progress: Callable[[float, str], None] | None = None) -> Familiarity:
    """Learn what the model's features of real digits look like.

    Args:
        model: any model from 28x28x1 images to 10 classes.
        x_train: training images; REFERENCES_PER_CLASS of each class become the references.
        y_train: their labels, as integers or one-hot.
        x_test: held-out images; the threshold lets PERCENTILE of them pass as familiar.
        on_progress: called with (fraction done, what is being computed).

    Raises:
        ValueError: images not 28x28, labels that do not match the images, or no test images.
    """
    labels = np.asarray(y_train)
    labels = labels.argmax(1) if labels.ndim == 2 else labels
    if len(labels) != len(x_train):
        raise ValueError(f"got {len(x_train)} training images but {len(labels)} labels; give one label per image")
    if len(x_test) == 0:
        raise ValueError("no test images: the threshold is set on held-out digits, give at least one")
    function, step = feature_function(model), batch_size(model, BATCH)
    train = _features(function, _batch(x_train[_reference_indices(labels)]),
                      _step(on_progress, 0.0, 0.2, "training digits"), step)
    references = [_unit(f) for f in train]
    held_out = _features(function, _batch(x_test), _step(on_progress, 0.2, 1.0, "test digits"), step)
    distances = [nearest_distance(f, refs) for f, refs in zip(held_out, references)]
    scales = np.array([max(np.percentile(d, PERCENTILE), 1e-6) for d in distances], np.float32)
    threshold = float(np.percentile(np.max([d / s for d, s in zip(distances, scales)], axis=0), PERCENTILE))
    return Familiarity(tuple(feature_layers(model)), tuple(references), scales, threshold)


def _reference_indices(labels: np.ndarray) -> np.ndarray:
    """REFERENCES_PER_CLASS images of each class, picked at random but the same every time."""
    order = np.random.default_rng(0).permutation(len(labels))
    return np.concatenate([order[labels[order] == c][:REFERENCES_PER_CLASS] for c in np.unique(labels)])


def _step(on_progress, start: float, end: float, what: str) -> Callable[[float], None] | None:
    """Progress within one stage, reported as a share of the whole fit."""
    if on_progress is None:
        return None
    return lambda fraction: on_progress(start + (end - start) * fraction, what)


class FamiliarityCheck:
    """A model with its Familiarity, ready for single drawings: compiled once, safe to share between threads.

    The whole score (features, nearest training digit per layer, the worst layer) is one
    TensorFlow call: done in numpy, the nearest-neighbour products go through the BLAS
    library's own thread pool, which thirty sessions calling at once turn into spinning.
    """

    def __init__(self, model: keras.Model, familiarity: Familiarity):
        """Compile the model's scoring function once.

        Raises:
            ValueError: ``familiarity`` was fitted on a model with other layers.
        """
        if list(familiarity.layers) != feature_layers(model):
            raise ValueError(f"this familiarity compares layers {list(familiarity.layers)}, but the model's are "
                             f"{feature_layers(model)}: fit it on this model")
        self.familiarity = familiarity
        self._score = _score_function(feature_function(model), familiarity)
        shapes = [tuple(model.get_layer(name).output.shape[1:]) for name in familiarity.layers]
        self._shrinks = [_AreaShrink(shape) for shape in shapes]  # for score_activations
        self._references = [np.ascontiguousarray(refs, np.float32) for refs in familiarity.references]
        self._lock = threading.Lock()  # one call at a time: TensorFlow's CPU pool is already parallel
        self._score(tf.zeros((1, 28, 28, 1)))  # trace now, not on the first drawing

    def score(self, image: np.ndarray) -> float:
        """The image's score: under ``familiarity.threshold`` it looks like a training digit.

        Args:
            image: the network's 28x28 input (``canvas_to_mnist(...).image``), (28, 28) or (28, 28, 1).

        Raises:
            ValueError: ``image`` is not one 28x28 image.
        """
        batch = _batch(image)
        if len(batch) != 1:
            raise ValueError(f"expected one 28x28 image, got {len(batch)}; use Familiarity.scores for a batch")
        with self._lock:
            return float(self._score(tf.constant(batch))[0])

    def score_activations(self, image: np.ndarray, activations: Mapping[str, np.ndarray]) -> float:
        """``score(image)`` from the layer outputs a forward pass already gave (``Predictor.activations``):
        the network is not run a second time for the same drawing.

        Args:
            image: the network's 28x28 input, compared as it is when the model has no layer to compare.
            activations: one image's output of each layer, by layer name, batch axis removed.
        """
        if not self.familiarity.layers:  # the pixels are the features
            return self.score(image)
        distances = []
        for name, shrink, refs, scale in zip(self.familiarity.layers, self._shrinks, self._references,
                                             self.familiarity.scales):
            feature = shrink(np.asarray(activations[name], np.float32))
            unit = feature / max(float(np.sqrt(feature @ feature)), 1e-12)
            # einsum, not BLAS: thirty sessions calling BLAS at once turn its thread pool into spinning
            distances.append((1.0 - float(np.einsum("nd,d->n", refs, unit).max())) / float(scale))
        return max(distances)

    def unfamiliar(self, image: np.ndarray, activations: Mapping[str, np.ndarray] | None = None) -> bool:
        """Whether the image is unlike the digits the network learnt from (then show UNFAMILIAR); given the
        image's ``activations``, without running the network again."""
        score = self.score(image) if activations is None else self.score_activations(image, activations)
        return score > self.familiarity.threshold


def _score_function(features, familiarity: Familiarity):
    """``Familiarity.scores`` of ``features(images)``, as one compiled function of the images."""
    scores = _scores(familiarity)

    @tf.function(reduce_retracing=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    def score(images):
        return scores(features(images))

    return score


class _AreaShrink:
    """``_shrink`` of one image's layer output in numpy: the same area averaging as ``tf.image.resize(...,
    method="area")``, as two small matrices, flattened in the same order. Microseconds, where a TensorFlow
    call costs a millisecond or two on a busy server."""

    def __init__(self, shape: tuple):
        grid = _grid((None, *shape))
        self.rows = self.cols = None
        if grid is not None:
            height, width = shape[0], (shape[1] if len(shape) == 3 else 1)
            self.rows, self.cols = _area_weights(height, grid[0]), _area_weights(width, grid[1])

    def __call__(self, output: np.ndarray) -> np.ndarray:
        if self.rows is None:
            return output.reshape(-1)
        image = output[:, None, :] if output.ndim == 2 else output
        return np.einsum("ih,hwc,jw->ijc", self.rows, image, self.cols).reshape(-1)


def _area_weights(size: int, out: int) -> np.ndarray:
    """(out, size) weights: output cell i averages input cells by how much of them its span i*scale to
    (i+1)*scale covers, scale = size / out (TensorFlow's resize_area, align_corners=False)."""
    scale = size / out
    weights = np.zeros((out, size), np.float64)
    for i in range(out):
        start, end = i * scale, (i + 1) * scale
        for j in range(int(np.floor(start)), min(size, int(np.ceil(end)))):
            weights[i, j] = (min(j + 1, end) - max(j, start)) / scale
    return weights.astype(np.float32)


def _scores(familiarity: Familiarity) -> Callable[[list[tf.Tensor]], tf.Tensor]:
    """``Familiarity.scores`` in TensorFlow, from the (N, d) features of each compared layer."""
    references = [tf.constant(refs.T, tf.float32) for refs in familiarity.references]
    scales = [float(scale) for scale in familiarity.scales]

    def scores(features):
        distances = []
        for feature, refs, scale in zip(features, references, scales):
            unit = feature / tf.maximum(tf.norm(feature, axis=1, keepdims=True), 1e-12)
            distances.append((1.0 - tf.reduce_max(unit @ refs, axis=1)) / scale)
        return tf.reduce_max(tf.stack(distances), axis=0)

    return scores


def familiarity_path(model_path: str | os.PathLike) -> Path:
    """Where a model's familiarity is stored: ``x.keras`` -> ``x.familiarity.npz``."""
    return Path(model_path).with_suffix(".familiarity.npz")


def load_or_fit_familiarity(model: keras.Model, model_path: str | os.PathLike,
                            on_progress: Callable[[float, str], None] | None = None,
                            compute: bool = True) -> Familiarity | None:
    """The model's familiarity, fitted once on MNIST and stored beside the model.

    Args:
        model: the loaded model.
        model_path: its file; the stored familiarity is used only if it was made from a file
            with the same contents (a retrained model gets a new one).
        on_progress: called with (fraction done, what is being computed) while fitting.
        compute: if False, only a stored result is returned, else None: the app's server never computes it.

    Raises:
        DataError: fitting is needed and MNIST cannot be read (see ``load_mnist``).
    """
    cache = familiarity_path(model_path)
    digest = model_digest(model_path)
    saved = _read(cache, digest, feature_layers(model))
    if saved is not None or not compute:
        return saved
    (x_train, y_train), (x_test, _) = load_mnist()
    held_out = x_test[::2][:CALIBRATION_IMAGES]  # every other one: both halves of MNIST's test set
    familiarity = fit_familiarity(model, x_train, y_train, held_out, on_progress)
    with contextlib.suppress(OSError):  # a read-only model folder: the check still works, just not kept
        atomic_write(cache, lambda tmp: _write(tmp, familiarity, digest))
    return familiarity


def _write(path: Path, familiarity: Familiarity, digest: str) -> None:
    np.savez_compressed(
        path, format=np.array(FORMAT), model_sha256=np.array(digest), layers=np.array(familiarity.layers, str),
        scales=familiarity.scales, threshold=np.array(familiarity.threshold),
        **{f"references_{i}": refs.astype(np.float16) for i, refs in enumerate(familiarity.references)})


def _read(cache: Path, digest: str, layers: list[str]) -> Familiarity | None:
    """The stored familiarity if it belongs to the model with this digest and layers; None otherwise."""
    try:
        with np.load(cache) as saved:
            if (saved.get("format") != FORMAT or str(saved.get("model_sha256", "")) != digest
                    or list(saved["layers"]) != layers):
                return None
            count = len(saved["scales"])
            references = tuple(saved[f"references_{i}"].astype(np.float32) for i in range(count))
            return Familiarity(tuple(layers), references, saved["scales"], float(saved["threshold"]))
    except (OSError, ValueError, KeyError):  # missing, damaged or incomplete: fitted again
        return None
