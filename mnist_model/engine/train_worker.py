"""A training run in its own process, for the app: ``python -m mnist_model.engine.train_worker``.

The app starts one of these per training job, so training never holds the server's
interpreter or starves its predictions: the worker lowers its own priority, and the
server keeps answering drawings at full speed while it runs.

It speaks the protocol of ``mnist_model.engine.worker``: the request is ``{"config": {...},
"models_dir": ...}``; a ``stop`` line, or stdin closing, cancels; the progress events are
``begin``, ``batch``, ``point``, ``checking`` (an epoch's validation starts), ``epoch``, ``val``,
``testing`` (every epoch is trained; the test set is next) and ``saving``, and the last line is
the outcome: ``done``, ``cancelled`` or ``failed``, with a ``message`` for people. A ``stop``
that arrives after ``testing`` is too late: the model is tested and saved all the same, and
``done`` says ``"stop_too_late": true``. A model is saved atomically under a name no other
model has, so a crash at any moment leaves every model in the folder loadable.
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import threading
import time
from pathlib import Path

from .worker import PRIORITY as PRIORITY  # re-exported: classroom.finetune_worker imports it from here
from .worker import Emit, failure, serve, warm_tensorflow

BATCH_EVERY_S = 0.25  # how often batch progress is reported
CURVE_POINTS_PER_EPOCH = 20  # how often the live curves get a point


def progress_callback(emit: Emit):
    """A Keras callback that reports epochs, batches and curve points through ``emit``."""
    import keras

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch, self.last = 0, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            emit({"event": "begin", "epoch": epoch, "steps": self.params.get("steps") or 0})

        def on_train_batch_end(self, batch, logs=None):
            steps = self.params.get("steps") or 1
            now = time.monotonic()
            if now - self.last >= BATCH_EVERY_S or batch + 1 == steps:
                self.last = now
                emit({"event": "batch", "step": batch + 1})
            every = max(1, steps // CURVE_POINTS_PER_EPOCH)
            if (batch + 1) % every == 0 and logs and math.isfinite(logs["loss"]):  # NaN: the guard stops it
                emit({"event": "point", "x": self.epoch + (batch + 1) / steps,
                      "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])})

        def on_test_begin(self, logs=None):  # only fit's validation calls this: the test set is evaluated apart
            emit({"event": "checking"})

        def on_train_end(self, logs=None):
            emit({"event": "testing"})

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            emit({"event": "epoch", "epoch": epoch + 1})
            if "val_loss" in logs and math.isfinite(logs["val_loss"]):
                emit({"event": "val", "val_x": epoch + 1.0, "val_loss": float(logs["val_loss"]),
                      "val_accuracy": float(logs["val_accuracy"])})

    return Progress()


def new_model_path(models_dir: Path, recipe: str) -> Path:
    """``{recipe}-{date-time}.keras``, with a suffix if that name is taken: never overwrite."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = models_dir / f"{recipe}-{stamp}.keras"
    n = 2
    while path.exists():
        path = models_dir / f"{recipe}-{stamp}-{n}.keras"
        n += 1
    return path


def run_job(request: dict, emit: Emit, cancel: threading.Event) -> dict:
    """Train and save as ``request`` says; returns the outcome event (never raises).

    Args:
        request: ``{"config": TrainConfig as a dict, "models_dir": folder, "command": text}``.
        emit: receives each progress event.
        cancel: when set, training stops after the current batch and nothing is saved; once
            every epoch is trained (the ``testing`` event), it is too late and the model is saved.
    """
    from .config import TrainConfig
    from .storage import make_card, remove_stale_temp, save_model
    from .timeline import write_timeline
    from .training import TrainingCancelled, TrainingDiverged, train

    try:
        config = TrainConfig.from_dict(request["config"])
        models_dir = Path(request["models_dir"])
        models_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp(models_dir, older_than_s=600)  # left by a crash long ago
        trained = threading.Event()

        def report(event: dict) -> None:
            if event["event"] == "testing" and not cancel.is_set():
                trained.set()  # from here on a stop is too late: the work is done, testing and saving are next
            emit(event)
        result = train(config, callbacks=[progress_callback(report)], cancel=cancel)
        if not trained.is_set():  # stopped during the last epoch's validation
            raise TrainingCancelled("Training stopped.")
        emit({"event": "saving"})
        path = new_model_path(models_dir, config.recipe)
        save_model(result.model, path, make_card(result, command=request.get("command")))
        emit({"event": "saving", "what": "timeline"})
        write_timeline(result, path)
    except TrainingCancelled as err:
        return {"event": "cancelled", "message": f"{err} The previous models are untouched."}
    except TrainingDiverged as err:
        return {"event": "failed", "message": str(err)}
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return {"event": "failed", "message": "The disk is full, so the new model could not be "
                                                  "saved. The previous models are untouched; free "
                                                  "some space and train again."}
        return {"event": "failed", "message": f"The model could not be saved ({err.strerror or err})."
                                              f" The previous models are untouched."}
    except Exception as err:  # the outcome must always reach the server as a sentence
        return failure(err, "Training")
    return {"event": "done", "model_path": str(path), "test_accuracy": result.test_accuracy,
            "stop_too_late": cancel.is_set(),
            "message": f"Test accuracy {result.test_accuracy:.2%}. Saved as {path.name}."}


def main() -> None:
    serve(run_job, warm_up=warm_tensorflow)


if __name__ == "__main__":
    main()
