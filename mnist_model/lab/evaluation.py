"""How good is a model: its answer for every MNIST test digit, and the scores that follow from them.

``evaluate_model`` runs a model over a test set once; the ``Evaluation`` it returns gives the
accuracy, the accuracy per digit, the confusion matrix (rows: the true digit, columns: the
digit the model said) and the mistakes, surest first. ``load_or_compute_evaluation`` does
this once per model file and stores the answers beside it (``x.keras`` -> ``x.evaluation.npz``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import keras
import numpy as np

from ..engine.data import load_mnist, prepare_images
from ..engine.inference import batch_size
from ..engine.storage import atomic_write, model_digest
from .shift import probability_function

NUM_CLASSES = 10
BATCH = 500  # images per forward pass; the progress bar moves once per batch
FORMAT = 1  # of the stored file; a file in another format is computed again
LOSS_FLOOR = 1e-7  # probabilities are clipped here before the log, as Keras' cross-entropy does


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model's answer for every test digit; every score is computed from these arrays."""

    labels: np.ndarray  # (n,) uint8: the true digit of each test image
    predicted: np.ndarray  # (n,) uint8: the digit the model said
    confidence: np.ndarray  # (n,) float32: the probability it gave the digit it said
    loss: float  # mean categorical cross-entropy over the n images

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean())

    @cached_property
    def confusion(self) -> np.ndarray:
        """(10, 10) int64 counts: row = the true digit, column = the digit the model said."""
        cells = self.labels.astype(np.int64) * NUM_CLASSES + self.predicted
        return np.bincount(cells, minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """(10,) the share of each digit's test images read right; NaN for a digit with no images."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / totals

    @cached_property
    def misclassified(self) -> np.ndarray:
        """Indices of the images read wrong, the surest mistakes first."""
        return _surest_first(np.flatnonzero(self.predicted != self.labels), self.confidence)

    def cell(self, true: int, said: int) -> np.ndarray:
        """Indices of the images of digit ``true`` that the model read as ``said``, surest first.

        Raises:
            ValueError: ``true`` or ``said`` is not a digit 0-9.
        """
        if true not in range(NUM_CLASSES) or said not in range(NUM_CLASSES):
            raise ValueError(f"a cell is two digits 0-9 (true, said), got ({true!r}, {said!r})")
        return _surest_first(np.flatnonzero((self.labels == true) & (self.predicted == said)), self.confidence)

    def commonest_mistake(self) -> tuple[int, int] | None:
        """The (true, said) pair the model mixes up most often; None when it makes no mistake."""
        off_diagonal = self.confusion * (1 - np.eye(NUM_CLASSES, dtype=np.int64))
        if not off_diagonal.any():
            return None
        true, said = np.unravel_index(off_diagonal.argmax(), off_diagonal.shape)
        return int(true), int(said)

    def to_dict(self) -> dict:
        """The scores as plain Python values (JSON: per-class NaN becomes null via ``json_safe``)."""
        return {"test_accuracy": self.accuracy, "test_loss": self.loss, "n": self.n,
                "per_class_accuracy": [float(a) for a in self.per_class_accuracy],
                "confusion_matrix": self.confusion.tolist()}


def _surest_first(indices: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    order = np.argsort(-confidence[indices], kind="stable")  # ties keep test-set order
    return indices[order]


def evaluation_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """The Evaluation of a model that gave these (n, 10) probabilities for images with these labels.

    Args:
        probabilities: (n, 10) class probabilities, one row per image.
        labels: (n,) digits 0-9, or (n, 10) one-hot rows.

    Raises:
        ValueError: the shapes do not match, or a label is not a digit 0-9.
    """
    probabilities = np.asarray(probabilities, np.float32)
    labels = _digits(labels)
    if probabilities.shape != (len(labels), NUM_CLASSES):
        raise ValueError(f"expected probabilities shaped ({len(labels)}, {NUM_CLASSES}) for {len(labels)} "
                         f"labels, got {probabilities.shape}")
    predicted = probabilities.argmax(axis=1)
    truth = np.clip(probabilities[np.arange(len(labels)), labels], LOSS_FLOOR, 1.0)
    return Evaluation(labels.astype(np.uint8), predicted.astype(np.uint8),
                      probabilities[np.arange(len(labels)), predicted], float(-np.log(truth).mean()))


def _digits(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
    if labels.ndim != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES)):
        raise ValueError(f"labels must be digits 0-9 shaped (n,) or one-hot rows shaped (n, 10), "
                         f"got shape {labels.shape}")
    return labels.astype(np.int64)


def evaluate_model(model: keras.Model, images: np.ndarray, labels: np.ndarray,
                   on_progress: Callable[[float], None] | None = None) -> Evaluation:
    """Run ``model`` over a test set once, in batches, and score its answers.

    Args:
        model: any model from 28x28x1 images to 10 classes; logits get a softmax.
        images: uint8 (n, 28, 28) MNIST images, or float ones in [0, 1], with or without a channel axis.
        labels: (n,) digits or (n, 10) one-hot rows.
        on_progress: called with the fraction of images done after each batch.

    Raises:
        ValueError: images and labels differ in number, or the labels are not digits 0-9.
    """
    images = np.asarray(images)
    x = prepare_images(images) if images.dtype == np.uint8 else images.astype(np.float32).reshape((-1, 28, 28, 1))
    predict, step = probability_function(model), batch_size(model, BATCH)
    parts = []
    for start in range(0, len(x), step):
        parts.append(predict(x[start:start + step]))
        if on_progress:
            on_progress(min(start + step, len(x)) / len(x))
    probabilities = np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)
    return evaluation_from_probabilities(probabilities, labels)


def evaluation_path(model_path: str | os.PathLike) -> Path:
    """Where a model's evaluation is stored: ``x.keras`` -> ``x.evaluation.npz``."""
    return Path(model_path).with_suffix(".evaluation.npz")


def load_or_compute_evaluation(model: keras.Model, model_path: str | os.PathLike,
                               on_progress: Callable[[float], None] | None = None,
                               compute: bool = True) -> Evaluation | None:
    """The model's Evaluation on the 10,000 MNIST test images, computed once and stored beside it.

    Args:
        model: the loaded model.
        model_path: its file; the stored evaluation is used only if it was made from a file
            with the same contents (a retrained model is evaluated again).
        on_progress: called with the fraction of test images done while computing.
        compute: if False, only a stored result is returned, else None: the app's server never computes it.

    Raises:
        DataError: computing is needed and MNIST cannot be read (see ``load_mnist``).
    """
    cache = evaluation_path(model_path)
    digest = model_digest(model_path)
    saved = _read_evaluation(cache, digest)
    if saved is not None or not compute:
        return saved
    result = evaluate_model(model, *load_mnist()[1], on_progress=on_progress)
    with contextlib.suppress(OSError):  # a read-only model folder: the page still shows it, just not kept
        atomic_write(cache, lambda tmp: np.savez_compressed(
            tmp, format=np.array(FORMAT), model_sha256=np.array(digest), labels=result.labels,
            predicted=result.predicted, confidence=result.confidence, loss=np.array(result.loss)))
    return result


def _read_evaluation(cache: Path, digest: str) -> Evaluation | None:
    """The stored evaluation if it was made from the model file with this digest; None otherwise."""
    try:
        with np.load(cache) as saved:
            if saved["format"] != FORMAT or str(saved["model_sha256"]) != digest:
                return None
            return Evaluation(saved["labels"], saved["predicted"], saved["confidence"], float(saved["loss"]))
    except (OSError, ValueError, KeyError):  # missing, damaged or incomplete: computed again
        return None


def confusion_table(evaluation: Evaluation) -> str:
    """The confusion matrix as text, one row per true digit, with each digit's accuracy at the end."""
    header = "true \\ said" + "".join(f"{d:>6}" for d in range(NUM_CLASSES)) + "   accuracy"
    rows = [f"{true:>11}" + "".join(f"{count:>6}" for count in counts) + f"   {accuracy:>8.2%}"
            for true, (counts, accuracy) in enumerate(zip(evaluation.confusion, evaluation.per_class_accuracy))]
    return "\n".join([header, *rows])
