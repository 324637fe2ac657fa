"""A training run's timeline: the weights after every epoch, kept beside the model.

``train()`` collects one snapshot per epoch; ``save_timeline`` stores them next to the
model as ``<name>.timeline.npz`` (float16: a snapshot is for looking at, and halves the
file), together with each snapshot's MNIST test accuracy measured on those very float16
weights, so what the timeline page shows is what the stored weights score. Renaming or
deleting a model moves or removes the file with it (it is one of the model's ``<name>.*``
files).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .data import load_prepared
from .inference import batch_size
from .storage import atomic_write

EVAL_BATCH = 1000


class EpochSnapshots(keras.callbacks.Callback):
    """Copies the model's weights at the end of every epoch (a few hundred kB each)."""

    def __init__(self):
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


@dataclass(frozen=True)
class Timeline:
    """The weights after each epoch and what each scored on the MNIST test set."""

    weights: list[list[np.ndarray]]  # per epoch, the model's get_weights() (float16 as stored)
    test_accuracy: list[float]  # per epoch, measured with exactly these weights

    @property
    def epochs(self) -> int:
        return len(self.weights)


def timeline_path(model_path: str | os.PathLike) -> Path:
    path = Path(model_path)
    return path.with_name(f"{path.stem}.timeline.npz")


def rounded(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Weights as they will be stored (float16), back in float32 for Keras."""
    return [w.astype(np.float16).astype(np.float32) for w in weights]


def measure_timeline(model: keras.Model, snapshots: list[list[np.ndarray]], x_test: np.ndarray,
                     y_test: np.ndarray, on_progress: Callable[[float], None] | None = None) -> Timeline:
    """Each snapshot's test accuracy, scored with the stored (float16) weights in a copy of ``model``.

    Args:
        model: the trained model (left untouched; a clone takes each snapshot's weights).
        snapshots: per epoch, the weights ``EpochSnapshots`` collected.
        x_test: prepared test images (N, 28, 28, 1); y_test: one-hot or integer labels.
        on_progress: called with the fraction done after each snapshot.
    """
    copy, step = keras.models.clone_model(model), batch_size(model, EVAL_BATCH)
    labels = y_test.argmax(1) if y_test.ndim == 2 else y_test
    stored, scores = [], []
    for i, weights in enumerate(snapshots):
        stored.append(rounded(weights))
        copy.set_weights(stored[-1])
        predicted = np.concatenate([np.asarray(copy(x_test[j:j + step], training=False)).argmax(1)
                                    for j in range(0, len(x_test), step)])
        scores.append(float((predicted == labels).mean()))
        if on_progress:
            on_progress((i + 1) / len(snapshots))
    return Timeline(stored, scores)


def save_timeline(model_path: str | os.PathLike, timeline: Timeline) -> Path:
    """Write the timeline beside the model, atomically; returns its path."""
    arrays = {f"e{e}_w{i}": w.astype(np.float16) for e, weights in enumerate(timeline.weights)
              for i, w in enumerate(weights)}
    arrays["test_accuracy"] = np.asarray(timeline.test_accuracy, np.float64)
    arrays["shape"] = np.asarray([timeline.epochs, len(timeline.weights[0]) if timeline.weights else 0])
    path = timeline_path(model_path)
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))
    return path


def write_timeline(result, model_path: str | os.PathLike, data=None,
                   on_progress: Callable[[float], None] | None = None) -> Path | None:
    """Measure and store a TrainResult's snapshots beside its saved model (None if it has none).

    Args:
        result: what ``train()`` returned.
        model_path: where the model was saved.
        data: the MNIST npz it was trained on (default: the project's), or prepared arrays.
        on_progress: called with the fraction done.
    """
    if not result.snapshots:
        return None
    _, (x_test, y_test) = data if isinstance(data, tuple) else load_prepared(data)
    return save_timeline(model_path, measure_timeline(result.model, result.snapshots, x_test, y_test,
                                                      on_progress))


def load_timeline(model_path: str | os.PathLike) -> Timeline | None:
    """The model's stored timeline, or None when it has none (uploaded, older, or unreadable)."""
    path = timeline_path(model_path)
    try:
        with np.load(path, allow_pickle=False) as data:
            epochs, count = (int(v) for v in data["shape"])
            weights = [[data[f"e{e}_w{i}"].astype(np.float32) for i in range(count)] for e in range(epochs)]
            return Timeline(weights, [float(a) for a in data["test_accuracy"]])
    except (OSError, KeyError, ValueError):
        return None


def model_at(model: keras.Model, timeline: Timeline, epoch: int) -> keras.Model:
    """A copy of ``model`` with the weights it had after ``epoch`` (1-based); the original is untouched.

    Raises:
        ValueError: ``epoch`` is outside 1 .. timeline.epochs, or the snapshot does not fit the model.
    """
    if not 1 <= epoch <= timeline.epochs:
        raise ValueError(f"epoch must be between 1 and {timeline.epochs}, got {epoch}")
    copy = keras.models.clone_model(model)
    shapes = [w.shape for w in model.get_weights()]
    if [w.shape for w in timeline.weights[epoch - 1]] != shapes:
        raise ValueError("this timeline was recorded for a model with other layer shapes")
    copy.set_weights(timeline.weights[epoch - 1])
    return copy
