"""Why this answer: three maps of where in the image a model found the evidence for a class.

* **Grad-CAM** (Selvaraju et al. 2017; keras-io's ``make_gradcam_heatmap``): a conv layer's
  maps, each weighted by how much the class score (before the softmax) rises with it,
  summed and clipped at zero.
  It is as coarse as the layer's map, so it is drawn back onto the pixels where each unit's
  receptive field lies.
* **Occlusion** (Zeiler and Fergus 2014): slide a grey patch over the image and record how
  much the class probability drops. It only needs the model's answers: a model-free check.
* **Integrated gradients** (Sundararajan et al. 2017): see ``integrated_gradients``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from ..engine.inference import outputs_probabilities
from .inspection import conv_layer_names
from .knockout import class_scores
from .receptive_field import field_row, receptive_fields

SIDE = 28  # the input images are SIDE x SIDE
MIN_CAM_SIDE = 7  # a Grad-CAM map smaller than this is too coarse to point at strokes
OCCLUSION_PATCH = 8  # side of the grey square, in pixels: smaller ones rarely move a sure answer
OCCLUSION_STRIDE = 2  # pixels between neighbouring patch positions
OCCLUSION_GREY = 0.5  # the patch's level: half way between paper (0) and ink (1)
IG_STEPS = 32  # images on the path from black to the input

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


def occlusion(predict: Predict, image: np.ndarray, digit: int, patch: int = OCCLUSION_PATCH,
              stride: int = OCCLUSION_STRIDE, grey: float = OCCLUSION_GREY) -> np.ndarray:
    """How much ``digit``'s probability drops when a grey square covers each part of the image.

    The square slides over the image ``stride`` pixels at a time, the last position flush
    with the far edge; all copies go to ``predict`` in one batch together with the image
    itself. Each pixel gets the mean drop of the positions whose square covered it.

    Args:
        predict: from (N, 28, 28, 1) images to (N, 10) probabilities.
        image: one 28x28 image in [0, 1].
        digit: the class whose probability is watched.
        patch: the square's side in pixels, 1 to 28.
        stride: pixels between neighbouring positions, at least 1.
        grey: the square's level in [0, 1].

    Returns:
        (28, 28) float32 drops: positive where covering hurts the class, negative where it helps.

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
        batch[i, top:top + patch, left:left + patch] = grey
    probs = np.asarray(predict(batch[..., None]))[:, digit]
    drops, covered = np.zeros((SIDE, SIDE), np.float32), np.zeros((SIDE, SIDE), np.float32)
    for (top, left), p in zip(corners, probs[1:]):
        drops[top:top + patch, left:left + patch] += probs[0] - p
        covered[top:top + patch, left:left + patch] += 1
    return drops / covered


def integrated_gradients(model: keras.Model, image: np.ndarray, digit: int, steps: int = IG_STEPS) -> np.ndarray:
    """Each pixel's share of ``digit``'s probability, by integrated gradients from a black image.

    The gradient of the probability is averaged over ``steps`` images on the straight path
    from black to the input (midpoints of equal steps, all in one batch) and multiplied by
    the pixel's ink. The shares add up to the probability of the input minus that of a
    black image, and a pixel without ink gets none. That is why this was kept: the plain
    gradient (even SmoothGrad's average of them) is large over empty background, where no ink is
    there to use it, and gradient x input (one gradient, at the input itself) flickers
    between neighbouring pixels on real digits and drawings, as one gradient of a ReLU
    network does. See ``spread`` for the map a student is shown.

    Args:
        model: any model from 28x28x1 images to 10 classes (logits get a softmax).
        image: one 28x28 image in [0, 1].
        digit: the class to explain.
        steps: points on the path, at least 1.

    Returns:
        (28, 28) float32 shares of the probability: positive for, negative against ``digit``.

    Raises:
        ValueError: a bad image, digit or step count.
    """
    digit, image = _check_digit(digit), _check_image(image)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    alphas = tf.reshape((tf.range(steps, dtype=tf.float32) + 0.5) / steps, (-1, 1, 1, 1))
    path = alphas * tf.constant(image[None, ..., None])
    softmax = not outputs_probabilities(model)
    with tf.GradientTape() as tape:
        tape.watch(path)
        out = model(path, training=False)
        total = tf.reduce_sum((tf.nn.softmax(out) if softmax else out)[:, digit])
    mean_gradient = tf.reduce_mean(tape.gradient(total, path), axis=0)[..., 0]
    return (mean_gradient.numpy() * image).astype(np.float32)


def spread(shares: np.ndarray) -> np.ndarray:
    """Each pixel's share spread evenly over its 3x3 neighbourhood; the total stays the same.

    Integrated gradients on a digit alternate for and against from one pixel to the next
    along a stroke; spread, a stroke's pieces show one colour each and can be read.
    Shares within a pixel of the border lose what falls outside the image.
    """
    padded = np.pad(np.asarray(shares, np.float32), 1)
    side_r, side_c = np.shape(shares)
    return sum(padded[r:r + side_r, c:c + side_c] for r in range(3) for c in range(3)) / 9.0
