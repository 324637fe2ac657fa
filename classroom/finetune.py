"""Fine-tuning on a class's own digits: the data side and the training, without any Streamlit.

The class's drawings are split by writer: half the writers' drawings train, the other half's
measure, so the accuracy after says how the model reads writers it never saw. A writer is a
student, or all students with the same nickname (one person on two devices joins twice;
see ``summary.writer_key``). The check reports each accuracy with its interval and whether
the change is beyond noise (``paired``).
Training continues from a copy of the model on fresh MNIST images each epoch mixed with
the class's training drawings, repeated so they make a fixed share of every epoch.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.data import prepare_images, prepare_labels
from mnist_model.engine.inference import EVAL_BATCH, outputs_probabilities
from mnist_model.engine.training import Guard, TrainingCancelled, TrainingDiverged, make_dataset
from mnist_model.figures.numbers import count

from .paired import PairedAccuracy

MIN_DRAWINGS = 20  # fewer, and the held-out half is a handful of digits: its accuracy means nothing
MIN_STUDENTS = 4  # fewer, and two writers on each side cannot say whether other writers gain

Progress = Callable[[float, str], None]  # (share done in [0, 1], what is happening)


@dataclass(frozen=True)
class FinetuneConfig:
    """How a fine-tune trains; saved in the new model's card."""

    epochs: int = 8  # passes, each over mnist_per_epoch MNIST images plus the class's share
    mnist_per_epoch: int = 12_000  # MNIST training images drawn afresh for each epoch
    class_share: float = 0.25  # share of each epoch made of the class's training drawings (repeated)
    batch_size: int = 64  # images per gradient step
    learning_rate: float = 1e-4  # Adam's first step: small, so the model keeps what it knew
    cosine: bool = True  # the step decays to 0 along a cosine, so training ends settled
    augment: bool = False  # random shifts, rotations, zoom: on pen digits they cost MNIST accuracy, gained nothing
    held_out_share: float = 0.5  # share of the students whose drawings only measure
    seed: int = 0  # seeds the student split, the sampling and the augmentation

    def __post_init__(self):
        if self.epochs < 1 or self.mnist_per_epoch < 1 or self.batch_size < 1:
            raise ValueError(f"epochs, mnist_per_epoch and batch_size must be positive, got {self}")
        if not 0 < self.class_share < 1 or not 0 < self.held_out_share < 1:
            raise ValueError(f"class_share and held_out_share must be between 0 and 1, got {self}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class FinetuneResult:
    """The fine-tuned copy and how it compares with the model it started from."""

    model: keras.Model
    config: FinetuneConfig
    held_out: PairedAccuracy  # the held-out writers' drawings, read before and after
    mnist: PairedAccuracy  # the MNIST test set, read before and after
    train_students: list[str]
    held_out_students: list[str]
    n_train_drawings: int
    n_held_out_drawings: int
    seconds: float  # wall time of the training, without the measurements
    snapshots: list[list[np.ndarray]] = dataclasses.field(default_factory=list)  # weights after each epoch

    @property
    def class_accuracy_before(self) -> float:
        return self.held_out.before

    @property
    def class_accuracy_after(self) -> float:
        return self.held_out.after

    @property
    def mnist_accuracy_before(self) -> float:
        return self.mnist.before

    @property
    def mnist_accuracy_after(self) -> float:
        return self.mnist.after

    def summary(self) -> str:
        """The check in plain sentences: what trained, what measured, what the model could already read,
        how the intervals count, and why nothing could change when nothing could."""
        held, k_train, k_held = self.held_out, len(self.train_students), len(self.held_out_students)
        right = held.both + held.lost
        said = (f"It trained on {count(self.n_train_drawings, 'drawing')} by {count(k_train, 'student')} (with "
                f"MNIST) and was checked on {count(self.n_held_out_drawings, 'drawing')} by "
                f"{count(k_held, 'other student')}, of which the model already read {right} right before "
                f"fine-tuning. {held.method()}.")
        if right == held.n and held.after == 1:
            return (f"{said} It read all {held.n} right before and still does, so these drawings cannot show "
                    "whether the fine-tune helped: there was nothing left to gain.")
        if right == held.n:
            return f"{said} It read all {held.n} right before, so these drawings could show a loss but never a gain."
        return said

    def card(self) -> dict:
        """What a model card records about the fine-tune (the caller adds which class it was)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("model", "snapshots", "held_out", "mnist")}
        scores = {name: getattr(self, name) for name in ("class_accuracy_before", "class_accuracy_after",
                                                         "mnist_accuracy_before", "mnist_accuracy_after")}
        return {**fields, **scores, "held_out": self.held_out.to_dict(), "mnist": self.mnist.to_dict(),
                "config": self.config.to_dict()}


def too_few(n_drawings: int, n_students: int) -> str | None:
    """Why a fine-tune on this many drawings and students would mean nothing, or None when it would not."""
    if n_drawings >= MIN_DRAWINGS and n_students >= MIN_STUDENTS:
        return None
    return (f"The class has sent {n_drawings} drawing{'s' * (n_drawings != 1)} from {n_students} "
            f"student{'s' * (n_students != 1)}. A fine-tune needs at least {MIN_DRAWINGS} drawings from at least "
            f"{MIN_STUDENTS} students: half the students' drawings train it, the other half check it.")


def split_by_student(students: Sequence[str], seed: int = 0, held_out_share: float = 0.5
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Which drawings train and which measure, holding out whole writers, never single drawings.

    Args:
        students: the writer of each drawing (``summary.writer_key``), in the drawings' order.
        seed: picks the held-out students reproducibly.
        held_out_share: the share of students held out (at least one, and at least one left to train).

    Returns:
        ``(train, held_out)``: index arrays into the drawings, each in ascending order.

    Raises:
        ValueError: the drawings come from fewer than two students.
    """
    names = np.asarray(students, dtype=str)
    unique = np.unique(names)
    if len(unique) < 2:
        raise ValueError(f"Drawings from at least 2 students are needed to hold some out, got {len(unique)}.")
    shuffled = np.random.default_rng(seed).permutation(unique)
    n_held = min(len(unique) - 1, max(1, round(len(unique) * held_out_share)))
    held = np.isin(names, shuffled[:n_held])
    return np.flatnonzero(~held), np.flatnonzero(held)


def finetune(model: keras.Model, class_x: np.ndarray, class_y: np.ndarray, students: Sequence[str], mnist,
             config: FinetuneConfig = FinetuneConfig(), progress: Progress | None = None,
             cancel: threading.Event | None = None) -> FinetuneResult:
    """Continue training a copy of ``model`` on MNIST plus some students' drawings; measure on the others.

    Args:
        model: the model to start from; it is not changed.
        class_x: the class's drawings, (N, 28, 28) uint8 as the store keeps them.
        class_y: the digit each drawing was meant to be, (N,).
        students: the writer of each drawing, (N,); see ``split_by_student``.
        mnist: ``((x_train, y_train), (x_test, y_test))`` as ``mnist_model.engine.data.load_prepared`` gives.
        config: how to train.
        progress: called with (share done, what is happening) now and then.
        cancel: when set, training stops after the current batch.

    Returns:
        The new model with accuracies before and after, on the held-out drawings and on MNIST's test set.

    Raises:
        ValueError: too few drawings or students (see ``too_few``), or arrays that do not match.
        TrainingCancelled: ``cancel`` was set.
        TrainingDiverged: the loss became NaN or infinite.
    """
    report = progress or (lambda done, text: None)
    x, y = _class_data(class_x, class_y, students)
    names = np.asarray(students, dtype=str)
    train, held = split_by_student(students, config.seed, config.held_out_share)
    (x_train, y_train), (x_test, y_test) = mnist
    report(0.0, "Measuring the model before fine-tuning ...")
    before = (read_right(model, x[held], y[held]), read_right(model, x_test, y_test))
    tuned = copy_for_training(model, config, len(x_train))
    start = time.perf_counter()
    snapshots = _train(tuned, (x_train, y_train), (x[train], y[train]), config, report, Guard(cancel))
    seconds = time.perf_counter() - start
    report(1.0, "Measuring the fine-tuned model ...")
    after = (read_right(tuned, x[held], y[held]), read_right(tuned, x_test, y_test))
    held_out = PairedAccuracy.from_right(before[0], after[0], groups=names[held])
    return FinetuneResult(model=tuned, config=config, held_out=held_out,
                          mnist=PairedAccuracy.from_right(before[1], after[1]),
                          train_students=sorted(set(names[train])), held_out_students=sorted(set(names[held])),
                          n_train_drawings=len(train), n_held_out_drawings=len(held), seconds=seconds,
                          snapshots=snapshots)


def read_right(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether ``model`` reads each prepared image right (labels one-hot or digits), as booleans."""
    if not len(x):
        return np.zeros(0, bool)
    scores = np.concatenate([model.predict_on_batch(x[i:i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])
    return scores.argmax(1) == (y.argmax(1) if y.ndim == 2 else y)


def _class_data(class_x, class_y, students) -> tuple[np.ndarray, np.ndarray]:
    """The drawings prepared like MNIST (float32 N x 28 x 28 x 1, one-hot labels), after checking them."""
    class_x, class_y = np.asarray(class_x), np.asarray(class_y)
    if class_x.ndim != 3 or class_x.shape[1:] != (28, 28) or class_x.dtype != np.uint8:
        raise ValueError(f"class_x must be (N, 28, 28) uint8, got {class_x.shape} {class_x.dtype}")
    if not len(class_x) == len(class_y) == len(students):
        raise ValueError(f"class_x, class_y and students differ in length: {len(class_x)}, {len(class_y)}, "
                         f"{len(students)}")
    if class_y.size and (class_y.min() < 0 or class_y.max() > 9):
        raise ValueError("class_y must hold digits from 0 to 9")
    reason = too_few(len(class_x), len(set(students)))
    if reason:
        raise ValueError(reason)
    return prepare_images(class_x), prepare_labels(class_y)


def copy_for_training(model: keras.Model, config: FinetuneConfig, n_mnist: int) -> keras.Model:
    """A copy with the same layers, names and weights, compiled with Adam as ``config`` says."""
    tuned = keras.models.clone_model(model)
    tuned.set_weights(model.get_weights())
    rate = config.learning_rate
    if config.cosine:
        steps = config.epochs * -(-sum(epoch_sizes(n_mnist, config)) // config.batch_size)
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
    loss = keras.losses.CategoricalCrossentropy(from_logits=not outputs_probabilities(model))
    tuned.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
    return tuned


def epoch_sizes(n_mnist: int, config: FinetuneConfig) -> tuple[int, int]:
    """How many MNIST images and how many (repeated) class drawings make one epoch."""
    from_mnist = min(n_mnist, config.mnist_per_epoch)
    return from_mnist, round(from_mnist * config.class_share / (1 - config.class_share))


def epoch_indices(n_mnist: int, n_class: int, config: FinetuneConfig, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's MNIST images (drawn without repeats) and class drawings (cycled to ``class_share``)."""
    rng = np.random.default_rng((config.seed, epoch))
    from_mnist, n_from_class = epoch_sizes(n_mnist, config)
    mnist = rng.choice(n_mnist, size=from_mnist, replace=False)
    cycles = -(-n_from_class // n_class)  # whole shuffled passes, so every drawing comes equally often
    repeats = np.tile(rng.permutation(n_class), cycles)[:n_from_class]
    return mnist, repeats


def _train(model, mnist_train, class_train, config: FinetuneConfig, report: Progress, guard: Guard
           ) -> list[list[np.ndarray]]:
    """``config.epochs`` passes of fresh MNIST plus the class's drawings; raises if cancelled or diverged.

    Returns:
        the weights after each epoch, for the training timeline.
    """
    (x_mnist, y_mnist), (x_class, y_class) = mnist_train, class_train
    keras.utils.set_random_seed(config.seed)
    snapshots = []
    for epoch in range(config.epochs):
        mnist, repeats = epoch_indices(len(x_mnist), len(x_class), config, epoch)
        x = np.concatenate([x_mnist[mnist], x_class[repeats]])
        y = np.concatenate([y_mnist[mnist], y_class[repeats]])
        recipe = TrainConfig(batch_size=config.batch_size, augment=config.augment, seed=config.seed + epoch)
        model.fit(make_dataset(x, y, recipe), epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                  callbacks=[guard, _Progress(report, epoch, config.epochs)])
        if guard.diverged_at:
            raise TrainingDiverged(f"The loss became NaN in epoch {epoch + 1}; the fine-tuned model was not kept. "
                                   f"Try a smaller learning rate than {config.learning_rate}.")
        if guard.cancelled:
            raise TrainingCancelled("Fine-tuning was stopped; no model was saved.")
        snapshots.append([w.copy() for w in model.get_weights()])
    return snapshots


class _Progress(keras.callbacks.Callback):
    """Reports the share of all epochs done, a few times per epoch."""

    def __init__(self, report: Progress, epoch: int, epochs: int):
        super().__init__()
        self.report, self.epoch, self.epochs = report, epoch, epochs

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 1
        if (batch + 1) % max(1, steps // 20) == 0 or batch + 1 == steps:
            done = (self.epoch + (batch + 1) / steps) / self.epochs
            self.report(done, f"Fine-tuning: epoch {self.epoch + 1} of {self.epochs}")
