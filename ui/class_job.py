"""The server side of a fine-tune on a class's digits: one worker process, its progress, the teacher's panel."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import streamlit as st

import classroom
from classroom.finetune import too_few

from . import resources
from .current import active_model_path
from .text import plain
from .worker_process import SharedJob, WorkerProcess

POLL_S = 1.0


@dataclass(frozen=True)
class FinetuneState:
    """What the panel shows of this server's fine-tune."""

    status: str = "idle"  # idle, running, stopping, done, cancelled, failed
    code: str = ""
    done: float = 0.0
    message: str = ""
    outcome: dict | None = None  # the worker's last line, with the accuracies before and after
    started: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")


class FinetuneJob(SharedJob):
    """At most one fine-tune per server process (the store's lease makes it one per store)."""

    def __init__(self):
        super().__init__(FinetuneState())

    def start(self, code: str, model_path: str) -> bool:
        """Start the worker; False when this server already runs one."""
        with self._lock:
            if self._state.active:
                return False
            self._state = FinetuneState("running", code, message="Starting: loading TensorFlow ...",
                                        started=time.time())
            request = {"db": classroom.default_url(), "code": code, "model_path": model_path,
                       "models_dir": str(resources.models_dir()), "config": _config()}
            try:
                self._worker = WorkerProcess("classroom.finetune_worker", request, self._progress, self._end,
                                              what="fine-tune")
            except OSError as err:
                self._state = FinetuneState("failed", code, message=f"The fine-tune could not start: {err}")
                return False
        return True

    def _progress(self, event: dict) -> None:
        if event.get("event") == "progress":
            with self._lock:
                self._state = replace(self._state, done=event["done"], message=event["message"])

    def _end(self, outcome: dict) -> None:
        with self._lock:
            self._state = replace(self._state, status=outcome["event"], message=outcome.get("message", ""),
                                  outcome=outcome)
        resources.forget_models()


def _config() -> dict:
    """Tests shrink the fine-tune with $CONVNET_LAB_TRAIN_LIMIT, as they shrink training."""
    limit = os.environ.get("CONVNET_LAB_TRAIN_LIMIT")
    return {"epochs": 1, "mnist_per_epoch": int(limit)} if limit else {}


@st.cache_resource
def finetune_job() -> FinetuneJob:
    """This server's fine-tune, shared by its sessions."""
    return FinetuneJob()


def panel(store: classroom.Store, code: str) -> None:
    """The teacher's fine-tune: why not yet, or the button; then progress and before/after."""
    st.caption("Train a copy of the active model a little more on MNIST plus half the students' drawings, "
               "then check it on the other half's drawings, which it never saw.")
    st.fragment(_controls, run_every=POLL_S)(store, code)


def _controls(store: classroom.Store, code: str) -> None:
    """Redrawn every POLL_S like the dashboard: the button comes on as soon as enough drawings arrive."""
    summary = classroom.class_summary(store, code)
    reason = too_few(summary.n_drawings, summary.n_students)
    job = finetune_job()
    state = job.state()
    start, stop = st.columns(2)
    start.button("Fine-tune on this class", key="finetune", type="primary", disabled=bool(reason) or state.active,
                 on_click=_start, args=(job, store, code), width="stretch")
    stop.button("Stop", key="stop_finetune", disabled=not state.active, on_click=job.stop, width="stretch")
    if reason:
        st.info(reason)
    _progress(store)


def _start(job: FinetuneJob, store: classroom.Store, code: str) -> None:
    lease = classroom.job_lease(store)
    if lease is not None:
        st.toast("A training job is already running on this class store; wait for it to finish.")
        return
    job.start(code, str(active_model_path()))


def _progress(store: classroom.Store) -> None:
    state = finetune_job().state()
    if state.active:
        st.progress(min(1.0, state.done), text=plain(state.message, limit=200))
    elif state.status == "done":
        _before_after(state.outcome)
    elif state.status in ("failed", "cancelled"):
        st.warning(plain(state.message, limit=600))
    else:
        lease = classroom.job_lease(store)
        if lease is not None and lease.state.get("message"):
            st.progress(min(1.0, lease.state.get("done", 0.0)),
                        text=f"On another server: {plain(lease.state['message'], limit=200)}")


def _before_after(outcome: dict) -> None:
    st.success(plain(outcome["message"], limit=600))
    held, mnist = st.columns(2)
    held.metric("Held-out class drawings", f"{outcome['class_accuracy_after']:.1%}",
                f"{outcome['class_accuracy_after'] - outcome['class_accuracy_before']:+.1%} "
                f"(was {outcome['class_accuracy_before']:.1%})")
    mnist.metric("MNIST test set", f"{outcome['mnist_accuracy_after']:.2%}",
                 f"{outcome['mnist_accuracy_after'] - outcome['mnist_accuracy_before']:+.2%} "
                 f"(was {outcome['mnist_accuracy_before']:.2%})")
    st.caption("The new model is in the model picker in the sidebar; choose it to use it.")
