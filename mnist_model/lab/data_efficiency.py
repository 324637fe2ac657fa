"""Learning from few digits: both networks trained on 500 .. 60,000 images, tested on the same 10,000.

``python -m mnist_model experiment data-efficiency [--json]`` runs it; the app shows the results
bundled in ``pretrained/data_efficiency.json`` and can rerun a small size live.

Which images. Each training set is a seeded random subset with as equal a number of each digit
as MNIST has (50 of each for 500 images), not the first N: the first N images come in the order
MNIST's writers filled in their forms, and a small set could favour some digits by chance. For
one seed the subsets are nested (the 500 images are among the 1,000), so a curve's steps come
from adding images, not from drawing a luckier set; another seed draws other images and other
starting weights.

Which recipe. The seed recipe of listing 5.1 (RMSprop, learning rate 0.001, 64 images per step),
run for 5 epochs or 2,000 gradient steps, whichever is longer. Counting epochs alone is unfair to
small sets: 5 epochs of 500 images are only 40 steps, and the comparison would measure too little
training, not too few images. Measured on 500 images (seed 0): after 40 steps the convnet scores
81.7% and the dense network 84.1%, the opposite of the real ranking; from 400 steps on they
stay at 92.7% and 86.3% (still at 3,200 steps), with every training image right. 2,000 steps give
every size up to 10,000 about the same number of steps (250 epochs of 500 images, 13 of 10,000),
and leave the 60,000-image run exactly the seed recipe (5 epochs, 4,690 steps).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import platform
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.config import ARCHITECTURES, TrainConfig
from ..engine.network import DENSE_MATCHING_UNITS
from ..engine.storage import PRETRAINED_DIR, atomic_write, json_safe
from .time_left import TEST_SHARE, TimeLeft, Training

SIZES = (500, 1_000, 2_000, 5_000, 10_000, 60_000)
BUNDLED_RESULTS = PRETRAINED_DIR / "data_efficiency.json"
SHORT_NAMES = {"convnet": "conv", "dense": "dense"}  # JSON keys: conv_accuracy, dense_accuracy
NETWORK_NAMES = {"convnet": "convnet", "dense": "dense network"}  # in words, for people
NUM_CLASSES = 10
PROGRESS_EVERY_S = 0.2  # how often a run reports its steps

Progress = Callable[[int, int, str, float | None], None]  # (steps done, steps in all, what trains now, seconds left)


@dataclass(frozen=True)
class EfficiencyPlan:
    """Which runs the experiment trains, and the recipe they share."""

    sizes: tuple[int, ...] = SIZES  # training-set sizes, each a class-balanced random subset
    seeds: int = 3  # runs per size and network (seeds first_seed, first_seed + 1, ...)
    seeds_full: int = 1  # runs on the whole training set, where every seed sees the same images
    first_seed: int = 0  # seeds the subset, the starting weights and the shuffling
    epochs: int = 5  # the seed recipe's passes over the images ...
    min_steps: int = 2_000  # ... but at least this many gradient steps (see the module docstring)
    batch_size: int = 64  # images per gradient step
    dense_units: int = DENSE_MATCHING_UNITS  # the dense network's hidden layer: 93,025 weights, as the convnet's 93,322

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(sorted({int(s) for s in self.sizes})))
        for name in ("seeds", "seeds_full", "epochs", "min_steps", "batch_size", "dense_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.sizes or self.sizes[0] < 1:
            raise ValueError(f"sizes must be positive numbers of training images, got {self.sizes}")

    def epochs_for(self, size: int) -> int:
        """The seed recipe's epochs, or more when that many would take fewer than ``min_steps``."""
        steps_per_epoch = math.ceil(size / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))

    def steps_for(self, size: int) -> int:
        return math.ceil(size / self.batch_size) * self.epochs_for(size)

    def runs(self, available: int) -> list[tuple[int, int, str]]:
        """Every (size, seed, architecture) to train, smallest size first, given ``available`` images."""
        too_big = [s for s in self.sizes if s > available]
        if too_big:
            raise ValueError(f"sizes {too_big} exceed the {available:,} training images available; "
                             f"choose sizes from 1 to {available:,}")
        return [(size, seed, architecture) for size in self.sizes
                for seed in range(self.first_seed, self.first_seed + self.seeds_at(size, available))
                for architecture in ARCHITECTURES]

    def seeds_at(self, size: int, available: int) -> int:
        return self.seeds_full if size == available else self.seeds

    def recipe(self) -> dict:
        """The training recipe every run shares, in numbers and in words."""
        base = self.config("convnet", 1, 0)
        return {"name": "seed (listing 5.1)", "optimizer": base.optimizer, "learning_rate": base.learning_rate,
                "lr_schedule": base.lr_schedule, "augment": base.augment, "batch_size": self.batch_size,
                "epochs": self.epochs, "min_steps": self.min_steps,
                "rule": f"{self.epochs} epochs, or more to reach {self.min_steps:,} gradient steps"}

    def config(self, architecture: str, size: int, seed: int) -> TrainConfig:
        """The seed recipe's TrainConfig for one run."""
        units = self.dense_units if architecture == "dense" else TrainConfig.dense_units
        return TrainConfig(architecture=architecture, dense_units=units, epochs=self.epochs_for(size),
                           batch_size=self.batch_size, seed=seed)


@dataclass(frozen=True)
class Run:
    """One network trained on one subset, and how it did on the 10,000 test images."""

    architecture: str  # "convnet" or "dense"
    size: int  # training images
    seed: int
    epochs: int
    steps: int  # gradient steps taken
    test_accuracy: float  # on the 10,000 test images: a whole number of them right, so 4 decimals
    test_loss: float
    seconds: float  # training time, without evaluation


@dataclass(frozen=True)
class DataEfficiency:
    """All runs of the experiment, with the plan that produced them."""

    plan: EfficiencyPlan
    runs: tuple[Run, ...]
    seconds: float = 0.0  # wall time of the whole experiment
    info: dict = dataclasses.field(default_factory=dict)  # when it ran, the command, the versions

    @property
    def sizes(self) -> list[int]:
        return sorted({run.size for run in self.runs})

    def accuracies(self, architecture: str) -> list[list[float]]:
        """Per size, the test accuracy of each seed's run of ``architecture``."""
        return [[r.test_accuracy for r in self.runs if r.architecture == architecture and r.size == size]
                for size in self.sizes]

    def mean_accuracy(self, architecture: str) -> list[float]:
        """Per size, the mean test accuracy over seeds."""
        return [float(np.mean(values)) for values in self.accuracies(architecture)]

    def seconds_per_step(self) -> dict[str, float]:
        """Each network's mean training seconds per gradient step in these runs, on the machine that ran them."""
        return {a: float(np.mean([r.seconds / r.steps for r in self.runs if r.architecture == a]))
                for a in ARCHITECTURES if any(r.architecture == a for r in self.runs)}

    def to_dict(self) -> dict:
        """Per-size means and per-seed values first (what people read), then the recipe and every run."""
        summary = {"sizes": self.sizes}
        for architecture, short in SHORT_NAMES.items():
            summary[f"{short}_accuracy"] = [round(a, 5) for a in self.mean_accuracy(architecture)]
            summary[f"{short}_accuracy_per_seed"] = self.accuracies(architecture)
        return {"experiment": "data-efficiency", **summary, "recipe": self.plan.recipe(),
                "plan": dataclasses.asdict(self.plan), "runs": [dataclasses.asdict(r) for r in self.runs],
                "seconds": self.seconds, "info": self.info}

    @classmethod
    def from_dict(cls, data: dict) -> DataEfficiency:
        plan = data["plan"] | {"sizes": tuple(data["plan"]["sizes"])}
        return cls(plan=EfficiencyPlan(**plan), runs=tuple(Run(**r) for r in data["runs"]),
                   seconds=data.get("seconds", 0.0), info=data.get("info", {}))


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of ``size`` images with as equal a number of each digit as there are, at random.

    Args:
        labels: the integer label of every training image.
        size: how many images to pick, 1 to ``len(labels)``.
        seed: the same seed gives the same images, and a smaller subset lies inside a larger one.

    Returns:
        Sorted indices into ``labels``; all of them when ``size == len(labels)``.

    Raises:
        ValueError: ``size`` is not between 1 and ``len(labels)``.
    """
    labels = np.asarray(labels)
    if not 1 <= size <= len(labels):
        raise ValueError(f"size must be between 1 and the {len(labels):,} images available, got {size}")
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == digit)) for digit in range(NUM_CLASSES)]
    quotas = _quotas(np.array([len(members) for members in by_class]), size)
    return np.sort(np.concatenate([members[:quota] for members, quota in zip(by_class, quotas)]))


def _quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """How many of each class: the same number of each, a class that runs out leaving its share to
    the others; the few left over go one each to the first classes that have more."""
    taken = np.minimum(counts[:, None], np.arange(counts.max() + 1)).sum(axis=0)  # images at each level
    level = np.searchsorted(taken, size, side="right") - 1
    quotas = np.minimum(counts, level)
    quotas[np.flatnonzero(counts > level)[:size - quotas.sum()]] += 1
    return quotas


def run_experiment(data, plan: EfficiencyPlan | None = None, on_progress: Progress | None = None,
                   on_run: Callable[[Run], None] | None = None, cancel: threading.Event | None = None,
                   relative_cost: dict[str, float] | None = None) -> DataEfficiency:
    """Train both networks on every size and seed of ``plan``; test each on all test images.

    Args:
        data: ``((x_train, y_train), (x_test, y_test))`` as ``load_mnist`` returns them: uint8
            images and integer labels. Only the chosen images are converted for training.
        plan: sizes, seeds and recipe; ``EfficiencyPlan()`` (the bundled experiment) by default.
        on_progress: called with (steps done, steps in all, a label for the run, seconds left)
            every fraction of a second, from this thread. The seconds left are measured as the
            runs go (``TimeLeft``), None for the first steps.
        on_run: called with each finished run.
        cancel: when set, training stops after the current batch.
        relative_cost: each architecture's seconds per step elsewhere (``seconds_per_step`` of
            earlier results): how the time left guesses a network's speed before it trains.

    Returns:
        Every run's test accuracy and loss, with the plan.

    Raises:
        ValueError: a size exceeds the training images available.
        TrainingCancelled: ``cancel`` was set before the last run finished.
    """
    from ..engine.data import prepare_images, prepare_labels
    from ..engine.training import train

    plan = plan or EfficiencyPlan()
    (x_train, y_train), (x_test, y_test) = data
    todo = plan.runs(len(x_train))
    clock = TimeLeft([Training(a, plan.steps_for(size), len(x_test) / plan.batch_size * TEST_SHARE)
                      for size, _, a in todo], relative_cost)
    counter = _step_counter(sum(plan.steps_for(size) for size, _, _ in todo), on_progress, clock)
    test = (prepare_images(x_test), prepare_labels(y_test))
    runs, start = [], time.perf_counter()
    for index, (size, seed, architecture) in enumerate(todo):
        subset = balanced_subset(y_train, size, seed)
        counter.index, counter.label = index, f"the {NETWORK_NAMES[architecture]} on {size:,} images"
        result = train(plan.config(architecture, size, seed),
                       ((prepare_images(x_train[subset]), prepare_labels(y_train[subset])), test),
                       callbacks=[counter], cancel=cancel)
        runs.append(Run(architecture, size, seed, result.config.epochs, plan.steps_for(size),
                        round(result.test_accuracy, 4), round(result.test_loss, 5), round(result.seconds, 2)))
        if on_run:
            on_run(runs[-1])
    return DataEfficiency(plan, tuple(runs), time.perf_counter() - start, _info())


def _step_counter(total: int, on_progress: Progress | None, clock: TimeLeft):
    """A Keras callback counting gradient steps over all runs, timing them on ``clock``, reporting at
    most every PROGRESS_EVERY_S."""
    import keras

    class StepCounter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done, self.last, self.label, self.index = 0, 0.0, "", 0

        def on_train_begin(self, logs=None):
            clock.begin(self.index)

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            clock.step()
            now = time.monotonic()
            if on_progress and (now - self.last >= PROGRESS_EVERY_S or self.done == total):
                self.last = now
                on_progress(self.done, total, self.label, clock.seconds_left())

    return StepCounter()


def _info() -> dict:
    import keras
    import tensorflow as tf

    return {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                         "keras": keras.__version__}}


def save_results(results: DataEfficiency, path: str | Path) -> Path:
    """Write ``results`` as JSON, atomically (the bundled file is rewritten this way)."""
    import json

    path = Path(path)
    text = json.dumps(json_safe(results.to_dict()), indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
    return path


def load_results(path: str | Path | None = None) -> DataEfficiency:
    """Read results written by ``save_results``; the bundled ones by default.

    Raises:
        ValueError: the file is missing or is not data-efficiency results.
    """
    import json

    path = Path(path or BUNDLED_RESULTS)
    try:
        return DataEfficiency.from_dict(json.loads(path.read_text()))
    except OSError as err:
        raise ValueError(f"No data-efficiency results at {path} ({err.strerror}). Make them with "
                         f"`python -m mnist_model experiment data-efficiency`.") from err
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} does not hold data-efficiency results ({err}).") from err


def cli_data_efficiency(args, argv) -> int:
    """``python -m mnist_model experiment data-efficiency``: progress on stderr, results on stdout.

    Reads ``--sizes``, ``--seeds``, ``--min-steps`` and ``--out`` when the parser offers them.
    """
    from ..engine.data import load_mnist
    from ..engine.jsonio import print_json

    plan = _plan_from_args(args)
    data = load_mnist(getattr(args, "data", None))
    sizes = ", ".join(f"{s:,}" for s in plan.sizes)
    print(f"Training both networks on {sizes} images: {len(plan.runs(len(data[0][0])))} runs.",
          file=sys.stderr, flush=True)
    results = run_experiment(data, plan, on_run=_print_run)
    command = "python -m mnist_model " + shlex.join(argv)
    results = dataclasses.replace(results, info={**results.info, "command": command})
    if getattr(args, "out", None):
        save_results(results, args.out)
    if getattr(args, "json", False):
        print_json(results.to_dict())
    else:
        print(results_table(results))
    return 0


def _plan_from_args(args) -> EfficiencyPlan:
    chosen = {"sizes": getattr(args, "sizes", None), "seeds": getattr(args, "seeds", None),
              "min_steps": getattr(args, "min_steps", None)}
    return EfficiencyPlan(**{name: value for name, value in chosen.items() if value is not None})


def _print_run(run: Run) -> None:
    print(f"{run.architecture:>8} on {run.size:>6,} images, seed {run.seed}: {run.test_accuracy:.2%} "
          f"({run.epochs} epochs, {run.steps:,} steps, {run.seconds:.0f} s)", file=sys.stderr, flush=True)


def results_table(results: DataEfficiency) -> str:
    """Mean test accuracy per size for both networks, as a text table."""
    lines = [f"{'images':>8}{'convnet':>10}{'dense':>10}{'seeds':>7}"]
    for size, conv, dense, seeds in zip(results.sizes, results.mean_accuracy("convnet"),
                                        results.mean_accuracy("dense"), results.accuracies("convnet")):
        lines.append(f"{size:>8,}{conv:>10.2%}{dense:>10.2%}{len(seeds):>7}")
    return "\n".join(lines)
