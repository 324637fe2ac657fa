"""A model's cost measured, not counted: a forward and a gradient pass timed against the bundled model's.

``engine.layer_sizes`` bounds a model's cost from its config; what the config does not say
(a layer Keras runs slowly, a graph the count reads too kindly) shows in the time. The pages
run forward passes (answers, shift, knock-out) and gradient passes (explanations) on a
student's request, so a model is offered only if those passes cost at most COST_MULTIPLE times
the bundled convnet's, timed the same way in the same process a moment apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..engine.errors import ModelFileError

COST_BATCH = 64  # digits per timed pass: a page's largest request (a shift curve, a knock-out) is of this order
COST_MULTIPLE = 20  # the most a model's passes may cost, as a multiple of the bundled convnet's
RUNS = 3  # timed passes after one that warms up; the fastest counts (the machine may be busy)


@dataclass(frozen=True)
class MeasuredCost:
    """A forward and a gradient pass on COST_BATCH digits, the fastest of RUNS, in milliseconds."""

    ms: float  # the model's
    bundled_ms: float  # the bundled convnet's, measured just before

    @property
    def limit_ms(self) -> float:
        return COST_MULTIPLE * self.bundled_ms


def pass_seconds(model, images: np.ndarray) -> float:
    """Seconds for one forward pass on ``images`` and the gradient of each top score with respect to them."""
    import tensorflow as tf

    batch = tf.constant(images)
    start = time.perf_counter()
    with tf.GradientTape() as tape:
        tape.watch(batch)
        top = tf.reduce_max(model(batch, training=False), axis=-1)
    tape.gradient(top, batch).numpy()
    return time.perf_counter() - start


def fastest_pass_ms(model, images: np.ndarray) -> float:
    """The fastest of RUNS timed passes (``pass_seconds``) after one that warms up, in milliseconds."""
    pass_seconds(model, images)
    return 1000 * min(pass_seconds(model, images) for _ in range(RUNS))


def check_measured_cost(label: str, model, bundled) -> MeasuredCost:
    """Time ``model``'s passes against ``bundled``'s and refuse a model that costs too much.

    Args:
        label: the model file's name, for the sentence.
        model: the loaded model.
        bundled: the loaded bundled convnet.

    Returns:
        Both measurements.

    Raises:
        ModelFileError: ``model``'s passes took more than COST_MULTIPLE times the bundled convnet's.
    """
    images = np.random.default_rng(0).random((COST_BATCH, 28, 28, 1), dtype=np.float32)
    cost = MeasuredCost(fastest_pass_ms(model, images), fastest_pass_ms(bundled, images))
    if cost.ms > cost.limit_ms:
        raise ModelFileError(f"{label} is refused: a forward and a gradient pass on {COST_BATCH} digits took "
                             f"{cost.ms:,.1f} ms, more than {COST_MULTIPLE} times the bundled model's "
                             f"{cost.bundled_ms:,.1f} ms (a limit of {cost.limit_ms:,.1f} ms on this server); every "
                             f"page would be that much slower for everyone while it is picked.")
    return cost
