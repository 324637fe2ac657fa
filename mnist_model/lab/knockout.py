"""Knock-out: switch off conv filters or dense units and watch the answer and the test accuracy move.

A filter whose kernel and bias are all zero outputs ``activation(0)`` everywhere, whatever
it is shown. So instead of zeroing weights in a copy, ``Switchboard`` runs the model's own
layers and replaces each switched-off unit's output by that constant: the same numbers,
one compiled call for any set of switches (a different set per image, even), and the
model, which every session shares, is never changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..engine.inference import batch_size, inner_layers, outputs_probabilities, softmax

EVAL_BATCH = 1000  # test images per call
SWITCHABLE = (keras.layers.Conv2D, keras.layers.Dense)
NOT_ELEMENTWISE = ("softmax", "log_softmax")  # activations that mix units: a unit cannot be swapped alone

Hook = Callable[[keras.layers.Layer, tuple, tf.Tensor], tf.Tensor]  # (layer, its inputs, its output) -> output
Off = Mapping[str, Iterable[int]]  # layer name -> the units switched off in it


def run_layers(model: keras.Model, images: tf.Tensor, hook: Hook) -> tf.Tensor:
    """The model's output for ``images``, computed layer by layer through the model's own graph.

    After each top-level layer, ``hook(layer, inputs, output)`` is called and what it
    returns is passed on, so a caller can read or replace any layer's output. Nothing is
    added to the model: building ``keras.Model(model.inputs, layer.output)`` instead would
    pick a loaded Sequential model's first, partial graph for inner layers (Keras 3 builds
    it once per added layer), whose tensors do not lead to the model's output.

    Raises:
        ValueError: the model has no graph of layers (a subclassed model).
    """
    graph = model._functional if isinstance(model, keras.Sequential) else model
    if not isinstance(graph, keras.Model) or not hasattr(graph, "_run_through_graph"):
        raise ValueError(f"{model.name} has no graph of layers to follow; use a Sequential or functional model")

    def wrap(layer):
        def call(*args, **kwargs):
            if "training" in getattr(layer, "_call_context_args", ()):
                kwargs["training"] = False  # as when predicting: dropout off, batch norm's stored statistics
            return hook(layer, args, layer(*args, **kwargs))
        return call
    return graph._run_through_graph(images, operation_fn=wrap)


def class_scores(model: keras.Model, images: tf.Tensor, hook: Hook | None = None) -> tf.Tensor:
    """The 10 class scores before the softmax for ``images``, with ``hook`` as in ``run_layers``.

    Scores do not saturate: a 100%-sure answer's probability often stays 1.0 in float32
    when some of its evidence goes, but its score falls, and its gradient points at
    its own evidence rather than at the other classes'. A model that ends in logits gives
    them as they are; a final Dense or Softmax layer gives its input's logits; any other
    ending falls back to the log of the probabilities (the same up to a constant per image).
    """
    last = inner_layers(model)[-1]
    before_last = []

    def watch(layer, inputs, output):
        if layer is last:
            before_last.append(inputs[0])
        return hook(layer, inputs, output) if hook else output
    out = run_layers(model, images, watch)
    if not outputs_probabilities(model):
        return out
    if isinstance(last, keras.layers.Dense):
        return tf.matmul(before_last[0], last.kernel) + (last.bias if last.use_bias else 0.0)
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        return before_last[0]
    return tf.math.log(out + 1e-30)


def switchable_layers(model: keras.Model) -> dict[str, int]:
    """The layers whose units can be switched off, by name, with their number of units.

    Every Conv2D layer (its filters) and every Dense layer but the last (its units): the
    last layer's units are the 10 answers themselves. Layers are found by type, never by name.
    """
    last = inner_layers(model)[-1]
    return {layer.name: int(layer.filters if isinstance(layer, keras.layers.Conv2D) else layer.units)
            for layer in model.layers
            if isinstance(layer, SWITCHABLE) and layer is not last
            and getattr(layer.activation, "__name__", "") not in NOT_ELEMENTWISE}


def lead(scores: np.ndarray, digit: int) -> np.ndarray:
    """How far ``digit``'s score is ahead of the best other digit's (negative: behind), per row."""
    scores = np.asarray(scores, np.float64)
    return scores[..., digit] - np.delete(scores, digit, axis=-1).max(axis=-1)


@dataclass(frozen=True)
class Ranking:
    """What switching off each unit of one layer, on its own, costs one digit."""

    lead: float  # the digit's score minus the best other digit's, before
    lead_drop: np.ndarray  # (units,) how much that lead shrinks; beyond ``lead`` the answer changes
    probability_drop: np.ndarray  # (units,) how much the digit's probability falls (float64)


class Switchboard:
    """A model whose conv filters and hidden dense units can be switched off; its weights stay as they are.

    Safe to share between threads: every call brings its own switches.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.units = switchable_layers(model)
        self._fill = {name: float(model.get_layer(name).activation(tf.zeros(1))[0]) for name in self.units}
        masks = {name: tf.TensorSpec((None, n), tf.float32) for name, n in self.units.items()}
        self._call = tf.function(self._scores, reduce_retracing=True,
                                 input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32), masks])
        self._lock = threading.Lock()  # one call at a time: TensorFlow's CPU pool is already parallel

    def _scores(self, images: tf.Tensor, masks: dict[str, tf.Tensor]) -> tf.Tensor:
        def switch(layer, inputs, output):
            if layer.name not in masks:
                return output
            mask = masks[layer.name]  # (1 or N, units): 1 on, 0 off
            mask = tf.reshape(mask, tf.concat([tf.shape(mask)[:1], tf.ones([output.shape.rank - 2], tf.int32),
                                               tf.shape(mask)[1:]], axis=0))
            return output * mask + self._fill[layer.name] * (1.0 - mask)
        return class_scores(self.model, images, switch)

    def masks(self, off: Off, copies: int = 1) -> dict[str, np.ndarray]:
        """``copies`` rows of 1 (on) and 0 (off) per switchable layer.

        Raises:
            ValueError: a layer that cannot be switched off, or a unit it does not have.
        """
        masks = {name: np.ones((copies, n), np.float32) for name, n in self.units.items()}
        for name, units in off.items():
            if name not in self.units:
                raise ValueError(f"{name!r} has no units to switch off; choose one of {list(self.units)}")
            units = list(units)
            if any(not 0 <= u < self.units[name] for u in units):
                raise ValueError(f"{name} has units 0 to {self.units[name] - 1}; got {units}")
            masks[name][:, units] = 0.0
        return masks

    def scores(self, images: np.ndarray, off: Off | None = None,
               masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The 10 class scores (before the softmax) for each of (N, 28, 28) images with the ``off``
        units switched off (or one row of ``masks`` per image, as ``masks`` makes them)."""
        batch = tf.constant(np.asarray(images, np.float32).reshape((-1, 28, 28, 1)))
        masks = self.masks(off or {}) if masks is None else masks
        with self._lock:
            return self._call(batch, {k: tf.constant(v) for k, v in masks.items()}).numpy()

    def probabilities(self, images: np.ndarray, off: Off | None = None) -> np.ndarray:
        """The 10 probabilities for each of (N, 28, 28) images with the ``off`` units switched off, in
        float64 from the scores, where a 99.99999% answer is not rounded to 100%."""
        return softmax(self.scores(images, off).astype(np.float64))

    def accuracy(self, images: np.ndarray, labels: np.ndarray, off: Off | None = None) -> float:
        """The share of ``images`` (N, 28, 28) in [0, 1] read as their ``labels`` with ``off`` switched off."""
        masks, step = self.masks(off or {}), batch_size(self.model, EVAL_BATCH)
        right = sum(int((self.scores(images[i:i + step], masks=masks).argmax(1)
                         == labels[i:i + step]).sum()) for i in range(0, len(images), step))
        return right / len(images)

    def ranking(self, image: np.ndarray, digit: int, layer: str, off: Off | None = None) -> Ranking:
        """What switching off each unit of ``layer`` in turn costs ``digit`` on one image.

        All units are tried in one batch: the image once as it is (with ``off`` switched off)
        and once per unit with that unit switched off as well. For a digit read 100% sure,
        switching off one unit often leaves the probability at 1.0 in float32; the lead of
        its score over the runner-up still shows which units it leans on.

        Returns:
            A ``Ranking``; units ``off`` already holds cost nothing more.

        Raises:
            ValueError: ``layer`` cannot be switched off, or a bad digit or ``off``.
        """
        if layer not in self.units:
            raise ValueError(f"{layer!r} has no units to switch off; choose one of {list(self.units)}")
        if not 0 <= digit <= 9:
            raise ValueError(f"the class must be a digit from 0 to 9, got {digit!r}")
        n = self.units[layer]
        masks = self.masks(off or {}, copies=n + 1)
        masks[layer][1:] *= 1.0 - np.eye(n, dtype=np.float32)
        scores = self.scores(np.repeat(np.asarray(image, np.float32)[None], n + 1, axis=0), masks=masks)
        leads, probs = lead(scores, digit), softmax(scores.astype(np.float64))[:, digit]
        return Ranking(float(leads[0]), leads[0] - leads[1:], probs[0] - probs[1:])
