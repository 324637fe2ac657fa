"""A fine-tune on a class's digits in its own process: ``python -m classroom.finetune_worker``.

It speaks the app's worker protocol (``mnist_model/engine/worker.py``): the request is
``{"db": URL, "code": CODE, "model_path": ..., "models_dir": ..., "config": {...}}``; progress
comes back as ``progress`` events with ``done`` and ``message``; the outcome is ``done`` (with
the accuracies before and after, and the paired counts behind them: ``held_out`` and ``mnist``,
see ``paired.PairedAccuracy``), ``cancelled`` or ``failed``. While it runs the worker holds
the store's job lease and renews it, so only one training runs per store, whichever server
started it, and every server can show its progress.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from pathlib import Path

from mnist_model.engine.worker import failure, serve, warm_tensorflow

from .db import connect
from .export import drawing_arrays
from .leases import acquire_job_lease, describe_owner, job_lease, owner_id, release_job_lease, renew_job_lease
from .summary import class_drawings

LEASE_TTL_S = 60.0  # a crashed worker frees the store this long after its last renewal
RENEW_EVERY_S = 10.0


def new_model_path(models_dir: Path, code: str) -> Path:
    """``class-CODE-{date-time}.keras``, never overwriting a model."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = models_dir / f"class-{code}-{stamp}.keras", 2
    while path.exists():
        path, n = models_dir / f"class-{code}-{stamp}-{n}.keras", n + 1
    return path


class Renewer:
    """Renews the lease in a thread and records the latest progress there for other servers to read."""

    def __init__(self, store, owner: str, code: str):
        self.store, self.owner, self.code = store, owner, code
        self.state = {"code": code, "done": 0.0, "message": "Starting ..."}
        self.lost, self._stop = threading.Event(), threading.Event()

    def report(self, done: float, message: str) -> None:
        self.state = {"code": self.code, "done": round(float(done), 3), "message": message}

    def run(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            if not renew_job_lease(self.store, self.owner, LEASE_TTL_S, self.state):
                self.lost.set()  # another job took over a lapsed lease: this one must stop
                return

    def start(self) -> None:
        threading.Thread(target=self.run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def run_job(request: dict, emit, cancel: threading.Event) -> dict:
    """Fine-tune as ``request`` says, holding the store's lease; returns the outcome event (never raises)."""
    try:
        store = connect(request["db"])
        owner = owner_id("finetune")
        if not acquire_job_lease(store, owner, LEASE_TTL_S):
            return {"event": "failed", "message": f"Another training job is running on this class store "
                                                  f"({describe_owner(job_lease(store))}); wait for it to finish."}
    except Exception as err:  # the outcome must always reach the server as a sentence
        return {"event": "failed", "message": f"The class store could not be used: {err}"}
    renewer = Renewer(store, owner, request["code"])
    renewer.start()
    try:
        return _finetune(request, store, renewer, emit, cancel)
    finally:
        renewer.stop()
        with contextlib.suppress(Exception):  # the lease lapses on its own if the store is gone
            release_job_lease(store, owner)
        store.close()


def _finetune(request: dict, store, renewer: Renewer, emit, cancel: threading.Event) -> dict:
    from mnist_model.engine.data import load_prepared
    from mnist_model.engine.storage import load_model, save_model
    from mnist_model.engine.timeline import write_timeline
    from mnist_model.engine.training import TrainingCancelled, TrainingDiverged

    from .finetune import FinetuneConfig, finetune

    def progress(done: float, message: str) -> None:
        renewer.report(done, message)
        emit({"event": "progress", "done": done, "message": message})
        if renewer.lost.is_set():
            cancel.set()

    try:
        code = request["code"]
        records = class_drawings(store, code)
        x, y, _ = drawing_arrays(records)
        students = [record.writer for record in records]  # one person on two devices, one writer
        config = FinetuneConfig(**request.get("config", {}))
        progress(0.0, "Loading the model and MNIST ...")
        model = load_model(request["model_path"])
        mnist = load_prepared()
        result = finetune(model, x, y, students, mnist, config, progress, cancel)
        progress(1.0, "Saving the new model ...")
        models_dir = Path(request["models_dir"])
        models_dir.mkdir(parents=True, exist_ok=True)
        path = new_model_path(models_dir, code)
        save_model(result.model, path, _card(result, request, len(records), len(set(students))))
        progress(1.0, "Scoring the weights after each epoch, for the training timeline ...")
        write_timeline(result, path, mnist)
    except TrainingCancelled as err:
        return {"event": "cancelled", "message": f"{err} The previous models are untouched."}
    except (TrainingDiverged, ValueError) as err:
        return {"event": "failed", "message": str(err)}
    except Exception as err:  # the outcome must always reach the server as a sentence
        return failure(err, "Fine-tuning")
    scores = {k: getattr(result, k) for k in ("class_accuracy_before", "class_accuracy_after",
                                              "mnist_accuracy_before", "mnist_accuracy_after")}
    return {"event": "done", "model_path": str(path), **scores, "held_out": result.held_out.to_dict(),
            "mnist": result.mnist.to_dict(), "held_out_writers": len(result.held_out_students),
            "message": f"Saved as {path.name}. {result.summary()}"}


def _card(result, request: dict, n_drawings: int, n_students: int) -> dict:
    """The new model's card: what the picker shows, and which class data it saw."""
    return {
        "recipe": f"class {request['code']} fine-tune",
        "test_accuracy": result.mnist_accuracy_after,
        "params": result.model.count_params(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "fine-tuned on a class in the app",
        "fine_tuned_from": Path(request["model_path"]).name,
        "class_code": request["code"],
        "class_drawings": n_drawings,
        "class_students": n_students,
        "finetune": result.card(),
    }


def main() -> None:
    serve(run_job, warm_up=warm_tensorflow)


if __name__ == "__main__":
    main()
