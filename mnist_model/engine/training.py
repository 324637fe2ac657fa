"""Training from a TrainConfig: seed and improved recipes, progress, cancellation, NaN guard."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .config import TrainConfig
from .data import load_prepared
from .network import build_from_config
from .timeline import EpochSnapshots

EVAL_BATCH = 1024


class TrainingCancelled(RuntimeError):
    """Training was stopped on request; no model was produced."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model is useless and is not saved."""


@dataclass
class TrainResult:
    """A trained model and how it got there."""

    model: keras.Model
    config: TrainConfig
    history: dict[str, list[float]]  # per-epoch loss, accuracy, val_loss, val_accuracy
    test_loss: float
    test_accuracy: float
    seconds: float  # wall time of fit, without evaluation
    n_train: int
    extra: dict = field(default_factory=dict)
    snapshots: list[list[np.ndarray]] = field(default_factory=list)  # the weights after each epoch


class Guard(keras.callbacks.Callback):
    """Stops training between batches on cancellation or a non-finite loss."""

    def __init__(self, cancel: threading.Event | None):
        super().__init__()
        self.cancel = cancel
        self.cancelled = False
        self.diverged_at: tuple[int, int] | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = (self.epoch + 1, batch + 1)
            self.model.stop_training = True
        elif self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
            self.model.stop_training = True


def augmenter(seed: int) -> keras.Sequential:
    """Small random shifts (up to 2 px), rotations (up to 10 degrees) and zoom (up to 10%)."""
    return keras.Sequential([
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed),
        keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
    ], name="augment")


def make_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tf.data.Dataset:
    """Shuffled, batched (and optionally augmented) training data, prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    if config.augment:
        aug = augmenter(config.seed)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_optimizer(config: TrainConfig, steps: int) -> keras.optimizers.Optimizer:
    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps))
    return {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD}[config.optimizer](learning_rate=rate)


def split_validation(x, y, fraction: float, seed: int):
    """A seeded random hold-out of ``fraction`` of the images; (x, y, None) when fraction is 0."""
    if fraction <= 0:
        return x, y, None
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * fraction)))
    val, keep = order[:n_val], order[n_val:]
    return x[keep], y[keep], (x[val], y[val])


def train(config: TrainConfig, data=None, callbacks: Sequence[keras.callbacks.Callback] = (),
          cancel: threading.Event | None = None, verbose: int | str = 0,
          on_model: Callable[[keras.Model], None] | None = None) -> TrainResult:
    """Build and train the convnet described by ``config``.

    Args:
        config: architecture and recipe.
        data: ``((x_train, y_train), (x_test, y_test))`` already prepared, or a path to an
            MNIST npz, or None for the default MNIST file.
        callbacks: extra Keras callbacks (progress reporting); called from this thread.
        cancel: when set, training stops after the current batch.
        verbose: passed to ``model.fit`` (1 shows Keras' progress bar).
        on_model: called with the compiled model before fitting (e.g. to show its summary).

    Returns:
        The trained model with its history and test-set loss and accuracy.

    Raises:
        TrainingCancelled: ``cancel`` was set before training finished.
        TrainingDiverged: the loss became NaN or infinite.
    """
    (x_train, y_train), (x_test, y_test) = data if isinstance(data, tuple) else load_prepared(data)
    if config.train_limit:
        x_train, y_train = x_train[:config.train_limit], y_train[:config.train_limit]
    x_fit, y_fit, validation = split_validation(x_train, y_train, config.validation_split, config.seed)

    keras.utils.set_random_seed(config.seed)
    model = build_from_config(config)
    steps = math.ceil(len(x_fit) / config.batch_size) * config.epochs
    model.compile(optimizer=make_optimizer(config, steps), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    if on_model:
        on_model(model)
    guard, snapshots = Guard(cancel), EpochSnapshots()
    start = time.perf_counter()
    history = model.fit(make_dataset(x_fit, y_fit, config), epochs=config.epochs,
                        validation_data=validation, callbacks=[guard, snapshots, *callbacks], shuffle=False,
                        verbose=verbose)
    seconds = time.perf_counter() - start
    if guard.diverged_at:
        epoch, batch = guard.diverged_at
        raise TrainingDiverged(f"The loss became NaN at epoch {epoch}, batch {batch}; the model was "
                               f"not saved. Try a smaller learning rate than {config.learning_rate}.")
    if guard.cancelled:
        raise TrainingCancelled("Training was stopped; no model was saved.")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=EVAL_BATCH, verbose=0)
    return TrainResult(model=model, config=config,
                       history={k: [float(v) for v in vals] for k, vals in history.history.items()},
                       test_loss=float(test_loss), test_accuracy=float(test_accuracy),
                       seconds=seconds, n_train=len(x_fit), snapshots=snapshots.weights)
