"""One background training job per server, in its own process; sessions poll its state."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from mnist_model.engine.config import TrainConfig

from .worker_process import SharedJob, WorkerProcess

LEASE_RENEW_S = 10  # how often a running job renews the class store's lease (which lapses after 60 s)
FINISHING = ("testing", "saving", "timeline", "preparing")  # after the last batch: a Stop comes too late
TOO_LATE = ("Your Stop came too late: every epoch was already trained, so the model was tested and saved all the "
            "same. Delete it in the sidebar if you do not want it.")


@dataclass
class JobState:
    """What a page needs to draw the job; copied out under the lock."""

    status: str = "idle"  # idle, running, stopping, done, cancelled, failed
    config: TrainConfig | None = None
    epoch: int = 0  # epochs finished
    step: int = 0  # batches finished in the current epoch
    steps: int = 0  # batches per epoch
    curves: dict[str, list[float]] = field(default_factory=dict)  # x, loss, accuracy, val_x, val_loss, ...
    stage: str = ""  # between batches: "checking", then after the last epoch "testing", "saving", "timeline"
    message: str = ""
    model_path: str | None = None
    test_accuracy: float | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")

    @property
    def trained(self) -> bool:
        """Every epoch is trained and the model is being tested and saved: too late to stop."""
        return self.stage in FINISHING

    @property
    def fraction(self) -> float:
        if self.trained:
            return 1.0
        if not self.config or not self.steps:
            return 0.0
        return min(1.0, (self.epoch + self.step / self.steps) / self.config.epochs)


class TrainingJob(SharedJob):
    """Starts at most one training at a time, in its own low-priority process, and keeps its
    progress for every session to read. The worker thread only reads the process' reports."""

    def __init__(self, models_dir: Path, train_limit: int | None = None, lease=None, preparer=None):
        self.models_dir = Path(models_dir)
        self.train_limit = train_limit  # tests shrink the data through this
        self.lease = lease  # the class store's one-job lease (classroom.StoreLease), when a store is in use
        self.preparer = preparer  # server.preparer.ModelPreparer: a new model is done once the picker can offer it
        super().__init__(JobState())

    def state(self) -> JobState:
        """A snapshot: every session polls this each second, so only the curve lists are copied."""
        with self._lock:
            return replace(self._state, curves={k: list(v) for k, v in self._state.curves.items()})

    def start(self, config: TrainConfig) -> bool:
        """Start training in the background; False (and nothing started) if one is running."""
        if self.train_limit:
            config = replace(config, train_limit=self.train_limit)
        with self._lock:
            if self._state.active or (self.lease is not None and not self.lease.acquire()):
                return False  # running here, or (a fine-tune, another server) on the class store
            self._state = JobState(status="running", config=config, started=time.time(),
                                   message="Starting: loading TensorFlow and MNIST ...")
            try:
                self._worker = WorkerProcess("mnist_model.engine.train_worker",
                                             {"config": config.to_dict(), "models_dir": str(self.models_dir),
                                              "command": "trained in the app"},
                                             on_event=self._apply, on_end=self._end, what="training")
            except OSError as err:
                self._state = replace(self._state, status="failed", finished=time.time(),
                                      message=f"Training could not start: {err}")
                self._release()
                return True
            if self.lease is not None:
                threading.Thread(target=self._keep_lease, args=(self._worker,), name="training-lease",
                                 daemon=True).start()
        return True

    def _release(self) -> None:
        if self.lease is not None:
            self.lease.release()

    def _keep_lease(self, worker: WorkerProcess) -> None:
        """Renew the store's lease while the worker lives; if this server dies, the lease lapses."""
        while worker.running():
            self.lease.renew()
            time.sleep(LEASE_RENEW_S)

    def _end(self, outcome: dict) -> None:
        """The worker's outcome (on its follower thread): free the lease, then show how it ended."""
        message = outcome.get("message", "")
        if outcome.get("crashed"):
            message += " The previous models are untouched."
        with self._lock:
            stopped = self._state.status == "stopping"
        if outcome["event"] == "done" and (outcome.get("stop_too_late") or stopped):
            message = f"{message} {TOO_LATE}"
        extra = {k: outcome[k] for k in ("model_path", "test_accuracy") if k in outcome}
        self._release()
        if outcome["event"] == "done" and self.preparer is not None and "model_path" in outcome:
            self._prepare(outcome["model_path"], message, extra)
        else:
            self._finish(outcome["event"], message, **extra)

    def _prepare(self, path: str, message: str, extra: dict) -> None:
        """The model is saved: wait (on this follower thread) until it is prepared and in every picker."""
        with self._lock:
            self._state.stage = "preparing"
        job = self.preparer.wait(path)
        if job is not None and job.status == "ready":
            self._finish("done", f"{message} It is in the model picker.", **extra)
        else:
            why = job.message if job is not None else "it was forgotten"
            self._finish("failed", f"{message} But it could not be prepared for the lab's pages, so the picker "
                                   f"does not offer it: {why}", **extra)

    def _apply(self, event: dict) -> None:
        kind = event.pop("event", None)
        with self._lock:
            state = self._state
            if kind == "begin":
                state.epoch, state.step, state.steps, state.stage = event["epoch"], 0, event["steps"], ""
            elif kind == "batch":
                state.step = event["step"]
            elif kind == "epoch":
                state.epoch = event["epoch"]
            elif kind in ("point", "val"):
                for name, value in event.items():
                    state.curves.setdefault(name, []).append(value)
            elif kind in ("checking", "testing", "saving"):
                state.stage = event.get("what", kind)  # saving: the model, then ("timeline") its epochs
            if state.status == "running":
                state.message = ""
            elif state.status == "stopping" and state.trained:
                state.message = "Too late to stop: every epoch is trained; the model is being tested and saved."

    def _finish(self, status: str, message: str, **extra) -> None:
        with self._lock:
            self._state.status = status
            self._state.message = message
            self._state.finished = time.time()
            for name, value in extra.items():
                setattr(self._state, name, value)

