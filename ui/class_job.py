"""The server side of a fine-tune on a class's digits: one worker process, its progress, the teacher's panel."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import streamlit as st

import classroom
from classroom.finetune import too_few
from classroom.paired import PairedAccuracy

from . import resources
from .current import active_model_path
from .text import plain
from .worker_process import SharedJob, WorkerProcess

POLL_S = 1.0
_SEEN = "finetune_seen_status"  # the job's status as this session last drew it


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
        """Runs on the worker's follower thread: a saved model is done once it is prepared and in every picker."""
        message, offered = outcome.get("message", ""), False
        if outcome["event"] == "done" and outcome.get("model_path"):
            with self._lock:
                self._state = replace(self._state, done=1.0,
                                      message="Preparing the new model for the lab's pages (its filters, "
                                              "patterns and scores) ...")
            resources.forget_models()
            prepared = resources.preparer().wait(outcome["model_path"])
            offered = prepared is not None and prepared.status == "ready"
            if offered:
                message = f"{message} It is in the model picker, for everyone; choose it there to use it."
            else:
                why = prepared.message if prepared is not None else "it was forgotten"
                message = (f"{message} It could not be prepared for the lab's pages, so the picker does not "
                           f"offer it: {why}")
        with self._lock:
            self._state = replace(self._state, status=outcome["event"], message=message,
                                  outcome={**outcome, "message": message, "offered": offered})
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
               "then check it on the other half's drawings, which it never saw. Students with the same "
               "nickname count as one person, so someone who joined on two devices is on one side only.")
    st.fragment(_controls, run_every=POLL_S)(store, code)


def _controls(store: classroom.Store, code: str) -> None:
    """Redrawn every POLL_S like the dashboard: the button comes on as soon as enough drawings arrive."""
    try:
        summary = classroom.class_summary(store, code)
    except classroom.ClassStoreError as err:
        st.warning(plain(err))
        return
    reason = too_few(summary.n_drawings, summary.n_writers)
    job = finetune_job()
    state = job.state()
    start, stop = st.columns(2)
    start.button("Fine-tune on this class", key="finetune", type="primary", disabled=bool(reason) or state.active,
                 on_click=_start, args=(job, store, code), width="stretch")
    stop.button("Stop", key="stop_finetune", disabled=not state.active or state.done >= 1.0,  # saved: too late
                on_click=job.stop, width="stretch")
    if reason:
        st.info(reason)
    _progress(store)


def _start(job: FinetuneJob, store: classroom.Store, code: str) -> None:
    try:
        lease = classroom.job_lease(store)
    except classroom.ClassStoreError as err:
        st.toast(f"The fine-tune did not start: {err}")
        return
    if lease is not None:
        st.toast(f"The fine-tune did not start: {plain(classroom.describe_owner(lease))} is running on this class "
                 f"store; wait for it to finish.")
        return
    job.start(code, str(active_model_path()))


def _progress(store: classroom.Store) -> None:
    state = finetune_job().state()
    _rerun_when_done(state)
    if state.active:
        st.progress(min(1.0, state.done), text=plain(state.message))
    elif state.status == "done":
        _before_after(state.outcome)
    elif state.status in ("failed", "cancelled"):
        st.warning(plain(state.message))
    else:
        try:
            lease = classroom.job_lease(store)
        except classroom.ClassStoreError:
            return  # the dashboard says the store is unavailable
        if lease is not None and lease.state.get("message"):
            st.progress(min(1.0, lease.state.get("done", 0.0)),
                        text=f"On another server: {plain(lease.state['message'])}")


def _rerun_when_done(state: FinetuneState) -> None:
    """Redraw the whole page once when a fine-tune ends, so this session's model picker lists the new model."""
    seen = st.session_state.get(_SEEN, state.status)
    st.session_state[_SEEN] = state.status
    if seen != state.status and state.status == "done":
        st.rerun(scope="app")


def _before_after(outcome: dict) -> None:
    (st.success if outcome.get("offered") else st.warning)(plain(outcome["message"]))
    held, mnist = PairedAccuracy(**outcome["held_out"]), PairedAccuracy(**outcome["mnist"])
    writers = outcome.get("held_out_writers", 0)
    left, right = st.columns(2)
    with left:
        _metric("Held-out class drawings", held, 1)
        st.caption(f"{held.n} drawings by {writers} student{'s' * (writers != 1)} the fine-tune never saw. "
                   f"{verdict(held, 1, 'drawings')}")
    with right:
        _metric("MNIST test set", mnist, 2)
        st.caption(f"{mnist.n:,} test digits. {verdict(mnist, 2, 'test digits')}")


def _metric(label: str, pairs: PairedAccuracy, digits: int) -> None:
    quiet = pairs.within_noise
    st.metric(label, f"{pairs.after:.{digits}%}", f"{points(pairs.difference, digits)} (was {pairs.before:.{digits}%})",
              delta_color="off" if quiet else "normal", delta_arrow="off" if quiet else "auto")


def points(share: float, digits: int = 1) -> str:
    """A difference of two accuracies in percentage points: "+6.2 points", "-0.07 points", "0.0 points"
    (a leading "-" is how st.metric knows a change is down)."""
    value = round(100 * share, digits)
    return f"{abs(value):.{digits}f} points" if value == 0 else f"{value:+.{digits}f} points"


def verdict(pairs: PairedAccuracy, digits: int, what: str) -> str:
    """The 95% intervals in words, and whether the change is beyond noise."""
    (b_low, b_high), (a_low, a_high) = pairs.before_interval(), pairs.after_interval()
    low, high = pairs.difference_interval()
    said = (f"95% intervals: before {b_low:.{digits}%} to {b_high:.{digits}%}, after {a_low:.{digits}%} to "
            f"{a_high:.{digits}%}; the change {points(low, digits)} to {points(high, digits)}.")
    if pairs.within_noise:
        return (f"{said} **Within noise**: {pairs.n:,} {what} cannot tell whether the model reads them better or "
                f"worse than before.")
    better = "better" if pairs.difference > 0 else "worse"
    return f"{said} **Beyond noise**: the fine-tuned model reads these {better} than before."
