"""One background training job per server; sessions poll it, the worker never touches st.*."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras

from mnist_model.config import TrainConfig
from mnist_model.storage import make_card, save_model
from mnist_model.training import TrainingCancelled, TrainingDiverged, train

log = logging.getLogger(__name__)
CURVE_POINTS_PER_EPOCH = 20  # how often the live curves get a point


@dataclass
class JobState:
    """What a page needs to draw the job; copied out under the lock."""

    status: str = "idle"  # idle, running, stopping, done, cancelled, failed
    config: TrainConfig | None = None
    epoch: int = 0  # epochs finished
    step: int = 0  # batches finished in the current epoch
    steps: int = 0  # batches per epoch
    curves: dict[str, list[float]] = field(default_factory=dict)  # x, loss, accuracy, val_x, val_loss, ...
    message: str = ""
    model_path: str | None = None
    test_accuracy: float | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")

    @property
    def fraction(self) -> float:
        if not self.config or not self.steps:
            return 0.0
        return min(1.0, (self.epoch + self.step / self.steps) / self.config.epochs)


class _Progress(keras.callbacks.Callback):
    def __init__(self, job: TrainingJob):
        super().__init__()
        self.job = job
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.job._update(epoch=epoch, step=0, steps=self.params.get("steps") or 0)

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 1
        every = max(1, steps // CURVE_POINTS_PER_EPOCH)
        self.job._update(step=batch + 1)
        if (batch + 1) % every == 0 and logs:
            self.job._append(x=self.epoch + (batch + 1) / steps, loss=float(logs["loss"]),
                             accuracy=float(logs["accuracy"]))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.job._update(epoch=epoch + 1)
        if "val_loss" in logs:
            self.job._append(val_x=epoch + 1.0, val_loss=float(logs["val_loss"]),
                             val_accuracy=float(logs["val_accuracy"]))


class TrainingJob:
    """Starts at most one training at a time and keeps its progress for every session to read."""

    def __init__(self, models_dir: Path, train_limit: int | None = None):
        self.models_dir = Path(models_dir)
        self.train_limit = train_limit  # tests shrink the data through this
        self._lock = threading.Lock()
        self._state = JobState()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def state(self) -> JobState:
        """A snapshot: every session polls this each second, so only the curve lists are copied."""
        with self._lock:
            return replace(self._state, curves={k: list(v) for k, v in self._state.curves.items()})

    def start(self, config: TrainConfig) -> bool:
        """Start training in the background; False (and nothing started) if one is running."""
        if self.train_limit:
            config = replace(config, train_limit=self.train_limit)
        with self._lock:
            if self._state.active:
                return False
            self._cancel.clear()
            self._state = JobState(status="running", config=config, started=time.time(),
                                   message="Loading data ...")
            self._thread = threading.Thread(target=self._run, args=(config,), name="training", daemon=True)
            self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the running job to stop after its current batch."""
        with self._lock:
            if self._state.active:
                self._cancel.set()
                self._state.status = "stopping"
                self._state.message = "Stopping after this batch ..."

    def _update(self, **changes) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self._state, name, value)
            if self._state.status == "running":
                self._state.message = ""

    def _append(self, **points) -> None:
        with self._lock:
            for name, value in points.items():
                self._state.curves.setdefault(name, []).append(value)

    def _run(self, config: TrainConfig) -> None:
        try:
            result = train(config, callbacks=[_Progress(self)], cancel=self._cancel)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.models_dir / f"{config.recipe}-{stamp}.keras"
            save_model(result.model, path, make_card(result, command="trained in the app"))
            self._finish("done", f"Test accuracy {result.test_accuracy:.2%}. Saved as {path.name}.",
                         model_path=str(path), test_accuracy=result.test_accuracy)
        except TrainingCancelled as err:
            self._finish("cancelled", f"{err} The previous models are untouched.")
        except TrainingDiverged as err:
            self._finish("failed", str(err))
        except Exception as err:  # the worker must always leave a readable state behind
            log.exception("training failed")
            self._finish("failed", f"Training failed: {err}")

    def _finish(self, status: str, message: str, **extra) -> None:
        with self._lock:
            self._state.status = status
            self._state.message = message
            self._state.finished = time.time()
            for name, value in extra.items():
                setattr(self._state, name, value)
