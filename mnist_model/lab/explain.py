"""Why this answer: three maps of where in the image a model found the evidence for a class.

* **Grad-CAM** (Selvaraju et al. 2017; keras-io's ``make_gradcam_heatmap``): a conv layer's
  maps, each weighted by how much the class score (before the softmax) rises with it,
  summed and clipped at zero.
  It is as coarse as the layer's map, so it is drawn back onto the pixels where each unit's
  receptive field lies.
* **Occlusion** (Zeiler and Fergus 2014): slide a square of empty paper over the image, so it
  wipes out the ink under it, and record how much the class probability drops. It only needs
  the model's answers: a model-free check. Zeiler and Fergus used grey, the mean of their
  photos; on MNIST's black paper a grey square would add ink where there was none, and the
  map would mix "without this ink" with "with a grey blot here".
* **Integrated gradients** (Sundararajan et al. 2017): see ``integrated_gradients``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from ..engine.inference import outputs_probabilities
from .inspection import conv_layer_names
from .knockout import class_scores
from .receptive_field import field_row, receptive_fields

SIDE = 28  # the input images are SIDE x SIDE
MIN_CAM_SIDE = 7  # a Grad-CAM map smaller than this is too coarse to point at strokes
OCCLUSION_PATCH = 8  # side of the square, in pixels: smaller ones rarely move a sure answer
OCCLUSION_STRIDE = 2  # pixels between neighbouring patch positions
OCCLUSION_FILL = 0.0  # the square's level: empty paper, so it only takes ink away
IG_STEPS = 16  # even steps the path from black to the input starts with
IG_MAX_STEPS = 256  # gradients at most: the cost of a map when the probability turns sharply
IG_TOLERANCE = 0.005  # how far the shares may miss the change in probability: half a point

INK = 0.1  # a pixel at least this bright is ink; darker is empty paper

Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) float32 images -> (N, 10) probabilities


def _check_digit(digit: int) -> int:
    """``digit`` as an int, if it names one of the 10 classes.

    Raises:
        ValueError: ``digit`` is not 0 to 9.
    """
    if not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"the class must be a digit from 0 to 9, got {digit!r}")
    return int(digit)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.shape != (SIDE, SIDE):
        raise ValueError(f"expected one 28x28 image, got shape {image.shape}")
    return image


def grad_cam(model: keras.Model, image: np.ndarray, digit: int, layer: str) -> np.ndarray:
    """Grad-CAM of ``digit`` on conv layer ``layer``, on that layer's own grid.

    Args:
        model: any model from 28x28x1 images to 10 classes.
        image: one 28x28 image in [0, 1].
        digit: the class to explain.
        layer: one of the model's convolution layers.

    Returns:
        (h, w) float32 map of the layer's grid, scaled so its maximum is 1 (all zero when
        nothing in the layer speaks for the class).

    Raises:
        ValueError: ``layer`` is not a convolution layer, or a bad image or digit.
    """
    digit, image = _check_digit(digit), _check_image(image)
    names = conv_layer_names(model)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a convolution layer; choose one of {names}")
    found = []

    def keep_maps(passed, inputs, output):
        if passed.name == layer:
            found.append(output)
        return output
    with tf.GradientTape() as tape:
        target = class_scores(model, tf.constant(image[None, ..., None]), keep_maps)[0, digit]
    maps = found[0]
    weights = tf.reduce_mean(tape.gradient(target, maps)[0], axis=(0, 1))  # one per channel
    cam = tf.nn.relu(tf.reduce_sum(maps[0] * weights, axis=-1)).numpy()
    return cam / cam.max() if cam.max() > 0 else cam


def cam_layer(model: keras.Model) -> str | None:
    """The conv layer Grad-CAM is best read on: the deepest whose map is at least MIN_CAM_SIDE wide.

    Deeper layers know more about the class, but a 3x3 map (the seed's conv_3) can only
    say "upper left" or "middle"; the seed's conv_2 (11x11) can point at strokes. None for
    a model without convolution layers; the first conv when every map is small.
    """
    names = conv_layer_names(model)
    wide = [n for n in names if min(model.get_layer(n).output.shape[1:3]) >= MIN_CAM_SIDE]
    return (wide or names or [None])[-1]


def on_pixels(cam: np.ndarray, model: keras.Model, layer: str) -> np.ndarray:
    """A layer's (h, w) map drawn on the 28x28 input: each unit's value placed at the centre of the
    pixels it sees, linear in between, held flat beyond the outermost centres.

    A plain resize to 28x28 would put an 11x11 map's corner units on the image's corners,
    though they see pixels 2 to 4 further in (the seed's conv_2 units see 8x8 pixels, 2 apart).
    """
    field = field_row(receptive_fields(model), layer)
    if field.jump is None:  # a layer the geometry cannot follow: stretch it over the image
        start, jump = (0.0, 0.0), tuple((SIDE - 1) / max(n - 1, 1) for n in cam.shape)
    else:
        start, jump = field.start, field.jump
    pixel = np.arange(SIDE, dtype=np.float32)
    rows = np.array([np.interp(pixel, start[1] + jump[1] * np.arange(cam.shape[1]), line) for line in cam])
    return np.array([np.interp(pixel, start[0] + jump[0] * np.arange(cam.shape[0]), col)
                     for col in rows.T]).T.astype(np.float32)


@dataclass(frozen=True)
class OnInk:
    """A map kept only where there is ink, and how much of it lay on empty paper."""

    values: np.ndarray  # (28, 28): the map on ink, NaN on empty paper
    off_ink: float  # the share of the map's total that lay on empty paper, 0 to 1 (0 for an all-zero map)


def on_ink(values: np.ndarray, image: np.ndarray, level: float = INK) -> OnInk:
    """``values`` (a 28x28 map of zero and up, such as ``on_pixels(grad_cam(...))``) where the image has ink.

    Grad-CAM's map is as coarse as its layer, so drawn back on the pixels it also covers the
    empty paper near a stroke; kept to the ink, it says which strokes the evidence came from.

    Raises:
        ValueError: not a 28x28 map and image.
    """
    values, ink = np.asarray(values, np.float32), _check_image(image) >= level
    if values.shape != ink.shape:
        raise ValueError(f"expected a 28x28 map, got shape {values.shape}")
    total = float(values.sum(dtype=np.float64))
    off = float(values[~ink].sum(dtype=np.float64)) / total if total > 0 else 0.0
    return OnInk(np.where(ink, values, np.nan).astype(np.float32), off)


def occlusion(predict: Predict, image: np.ndarray, digit: int, patch: int = OCCLUSION_PATCH,
              stride: int = OCCLUSION_STRIDE, fill: float = OCCLUSION_FILL) -> np.ndarray:
    """How much ``digit``'s probability drops when a square of empty paper hides each part of the image.

    The square slides over the image ``stride`` pixels at a time, the last position flush
    with the far edge; all copies go to ``predict`` in one batch together with the image
    itself. Each pixel gets the mean drop of the positions whose square covered it.

    Args:
        predict: from (N, 28, 28, 1) images to (N, 10) probabilities.
        image: one 28x28 image in [0, 1].
        digit: the class whose probability is watched.
        patch: the square's side in pixels, 1 to 28.
        stride: pixels between neighbouring positions, at least 1.
        fill: the square's level in [0, 1]; the default, 0, is empty paper: where the
            square finds no ink, the image and so the drop stay as they were (0).

    Returns:
        (28, 28) float32 drops: positive where hiding the ink hurts the class, negative where it helps.

    Raises:
        ValueError: a bad patch, stride, image or digit.
    """
    digit, image = _check_digit(digit), _check_image(image)
    if not 1 <= patch <= SIDE or stride < 1:
        raise ValueError(f"patch must be 1 to {SIDE} pixels and stride at least 1, got patch={patch}, stride={stride}")
    starts = sorted({*range(0, SIDE - patch + 1, stride), SIDE - patch})
    corners = [(top, left) for top in starts for left in starts]
    batch = np.repeat(image[None], len(corners) + 1, axis=0)
    for i, (top, left) in enumerate(corners, start=1):
        batch[i, top:top + patch, left:left + patch] = fill
    probs = np.asarray(predict(batch[..., None]))[:, digit]
    drops, covered = np.zeros((SIDE, SIDE), np.float32), np.zeros((SIDE, SIDE), np.float32)
    for (top, left), p in zip(corners, probs[1:]):
        drops[top:top + patch, left:left + patch] += probs[0] - p
        covered[top:top + patch, left:left + patch] += 1
    return drops / covered


@dataclass(frozen=True)
class Attribution:
    """Integrated gradients of one class for one image: each pixel's share, and what they add up to."""

    shares: np.ndarray  # (28, 28) float32: positive for the class, negative against it
    change: float  # the class's probability for the image minus that for a black image
    steps: int  # gradients computed on the path

    @property
    def gap(self) -> float:
        """How far the shares' total misses ``change`` (completeness; the quadrature's error)."""
        return abs(float(self.shares.sum(dtype=np.float64)) - self.change)


def integrated_gradients(model: keras.Model, image: np.ndarray, digit: int, steps: int = IG_STEPS,
                         max_steps: int = IG_MAX_STEPS, tolerance: float = IG_TOLERANCE) -> Attribution:
    """Each pixel's share of ``digit``'s probability, by integrated gradients from a black image.

    The gradient of the probability is integrated along the straight path from black to the
    input and multiplied by the pixel's ink, so a pixel without ink gets no share and the
    shares add up to the probability of the input minus that of a black image. That is why
    this was kept: the plain gradient (even SmoothGrad's average of them) is large over empty
    background, where no ink is there to use it, and gradient x input (one gradient, at the
    input itself) flickers between neighbouring pixels on real digits and drawings, as one
    gradient of a ReLU network does. See ``spread`` for the map a student is shown.

    The probability saturates: it climbs from about 10% to nearly 100% within the first
    third of the path and stays flat after, so even steps miss the total (32 of them by a
    median 2.3 points on test digits). The path starts in ``steps`` even steps, each
    measured by the gradient at its middle; the probability at both ends of every step is
    known, so each step's own miss is too, and the steps that miss most are halved until
    the shares add up within ``tolerance`` or ``max_steps`` gradients are spent.

    Args:
        model: any model from 28x28x1 images to 10 classes (logits get a softmax).
        image: one 28x28 image in [0, 1].
        digit: the class to explain.
        steps: even steps the path starts with, at least 1.
        max_steps: gradients at most, at least ``steps``; equal to it, this is the plain
            midpoint rule.
        tolerance: how far the total may miss the change in probability.

    Returns:
        The shares with the change they add up to (see ``Attribution.gap``).

    Raises:
        ValueError: a bad image, digit or step count.
    """
    digit, image = _check_digit(digit), _check_image(image)
    if steps < 1 or max_steps < steps:
        raise ValueError(f"steps must be at least 1 and max_steps at least steps, got steps={steps}, "
                         f"max_steps={max_steps}")
    along = _along_path(model, image, digit)
    knots = np.linspace(0.0, 1.0, steps + 1)
    ends, _ = along(knots)
    path = _Path(knots[:-1], knots[1:], ends[:-1], ends[1:]).measured(along)
    while path.miss() > tolerance and path.gradients + 2 <= max_steps:
        path = path.halved(max(1, min(len(path.left) // 2, (max_steps - path.gradients) // 2))).measured(along)
    return Attribution(path.shares(), float(ends[-1] - ends[0]), path.gradients)


def _along_path(model: keras.Model, image: np.ndarray, digit: int) -> Callable:
    """``alphas -> (probabilities, ink gradients)`` of ``digit`` for ``alpha * image``: the
    gradients (n, 28, 28) are those of the probability, times the image."""
    compiled = _path_function(model)

    def along(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = (np.reshape(alphas, (-1, 1, 1, 1)) * image[None, ..., None]).astype(np.float32)
        probs, gradients = compiled(tf.constant(batch), tf.constant(digit))
        return probs.numpy().astype(np.float64), gradients.numpy()[..., 0].astype(np.float64) * image
    return along


_PATH_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its compiled call
_PATH_LOCK = threading.Lock()


def _path_function(model: keras.Model):
    """The model's ``(images, digit) -> (probabilities, gradients)``, compiled once per model:
    a map takes several rounds of gradients, and an eager call costs twice a compiled one. The
    function holds the model weakly, so a model the app lets go of takes its function with it."""
    with _PATH_LOCK:
        if model not in _PATH_FUNCTIONS:
            softmax, weak = not outputs_probabilities(model), weakref.ref(model)

            def call(images, digit):
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    out = weak()(images, training=False)
                    probs = (tf.nn.softmax(out) if softmax else out)[:, digit]
                    total = tf.reduce_sum(probs)
                return probs, tape.gradient(total, images)
            _PATH_FUNCTIONS[model] = tf.function(call, reduce_retracing=True, input_signature=[
                tf.TensorSpec((None, SIDE, SIDE, 1), tf.float32), tf.TensorSpec((), tf.int32)])
        return _PATH_FUNCTIONS[model]


@dataclass(frozen=True)
class _Path:
    """Steps of the path from black (alpha 0) to the image (alpha 1), with the probability at each
    step's ends and, once measured, the probability and ink gradient at its middle."""

    left: np.ndarray  # (n,) alpha where each step starts
    right: np.ndarray  # (n,) and ends
    p_left: np.ndarray  # (n,) the probability there
    p_right: np.ndarray
    p_mid: np.ndarray | None = None  # (n,) at each middle
    ink: np.ndarray | None = None  # (n, 28, 28) the gradient there, times the image
    gradients: int = 0  # gradients computed so far, over all rounds

    def measured(self, along: Callable) -> _Path:
        """Every step measured at its middle; steps measured before keep what they have."""
        todo = np.flatnonzero(np.isnan(self.p_mid)) if self.p_mid is not None else np.arange(len(self.left))
        p_mid = np.full(len(self.left), np.nan) if self.p_mid is None else self.p_mid.copy()
        ink = np.zeros((len(self.left), SIDE, SIDE)) if self.ink is None else self.ink.copy()
        p_mid[todo], ink[todo] = along((self.left[todo] + self.right[todo]) / 2)
        return replace(self, p_mid=p_mid, ink=ink, gradients=self.gradients + len(todo))

    def misses(self) -> np.ndarray:
        """Each step's change in probability minus what its middle gradient says it is."""
        return (self.p_right - self.p_left) - (self.right - self.left) * self.ink.sum(axis=(1, 2))

    def miss(self) -> float:
        return abs(float(self.misses().sum()))

    def halved(self, count: int) -> _Path:
        """The ``count`` steps that miss most cut in two at their (measured) middle, to be measured."""
        cut = np.zeros(len(self.left), bool)
        cut[np.argsort(-np.abs(self.misses()))[:count]] = True
        middle = (self.left + self.right) / 2
        order = np.argsort(np.concatenate([self.left, middle[cut]]), kind="stable")
        halves = np.full(cut.sum(), np.nan)
        fields = [np.concatenate(pair)[order] for pair in (
            (self.left, middle[cut]), (np.where(cut, middle, self.right), self.right[cut]),
            (self.p_left, self.p_mid[cut]), (np.where(cut, self.p_mid, self.p_right), self.p_right[cut]),
            (np.where(cut, np.nan, self.p_mid), halves))]
        ink = np.concatenate([self.ink, np.zeros((cut.sum(), SIDE, SIDE))])[order]
        return _Path(*fields, ink=ink, gradients=self.gradients)

    def shares(self) -> np.ndarray:
        """The composite midpoint rule: each step's width times its middle's ink gradient, summed."""
        return np.tensordot(self.right - self.left, self.ink, axes=1).astype(np.float32)


def spread(shares: np.ndarray) -> np.ndarray:
    """Each pixel's share spread evenly over its 3x3 neighbourhood; the total stays the same.

    Integrated gradients on a digit alternate for and against from one pixel to the next
    along a stroke; spread, a stroke's pieces show one colour each and can be read.
    Shares within a pixel of the border lose what falls outside the image.
    """
    padded = np.pad(np.asarray(shares, np.float32), 1)
    side_r, side_c = np.shape(shares)
    return sum(padded[r:r + side_r, c:c + side_c] for r in range(3) for c in range(3)) / 9.0
