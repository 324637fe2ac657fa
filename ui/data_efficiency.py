"""The data-efficiency page's shared pieces: the bundled results, and one live run per server."""

from __future__ import annotations

import streamlit as st

from mnist_model.lab import data_efficiency
from mnist_model.lab.data_efficiency import DataEfficiency
from server.live_run import LiveRunState

LIVE_SIZES = (500, 1_000)  # sizes a student can train live: a minute at most on the server


@st.cache_resource(max_entries=2, show_spinner=False)
def _results(path: str, mtime: float) -> DataEfficiency:
    return data_efficiency.load_results(path)


def bundled_results() -> DataEfficiency:
    """The results shipped with the app, read once per file version (ValueError when missing)."""
    path = data_efficiency.BUNDLED_RESULTS
    return _results(str(path), path.stat().st_mtime if path.exists() else 0.0)


def duration(seconds: float) -> str:
    """``"40 s"``, or ``"2 min 35 s"`` (to 5 s) from a minute on."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(5 * round(seconds / 5), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def how_long(state: LiveRunState) -> str:
    """What this server has measured about a live run's length; no number it has not measured."""
    if state.status == "done" and state.started and state.finished:
        return (f"The last run on this server took {duration(state.finished - state.started)}; "
                "the bar shows the time left as the run goes.")
    return ("How long it takes depends on how busy the server is: once it runs, the bar shows the time left, "
            "measured on this server as it goes.")


def time_left(state: LiveRunState) -> str:
    """", about 2 min 35 s left" while the run has measured its speed, else nothing."""
    return "" if state.seconds_left is None else f", about {duration(state.seconds_left)} left"
