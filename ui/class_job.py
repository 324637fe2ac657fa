"""The teacher's fine-tune panel: start and stop this server's fine-tune (``server.finetune_job``), its result."""

from __future__ import annotations

import streamlit as st

import classroom
from classroom.finetune import too_few
from classroom.paired import PairedAccuracy
from server.finetune_job import FinetuneJob, FinetuneState, finetune_job

from .current import active_model_path
from .text import plain

POLL_S = 1.0
_SEEN = "finetune_seen_status"  # the job's status as this session last drew it


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
                   f"{verdict(held, 1, 'drawings')} {held.method()}.")
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
