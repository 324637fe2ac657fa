"""The data-efficiency page's shared pieces: the bundled results, and one live run per server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import streamlit as st

from mnist_model import data_efficiency
from mnist_model.data import load_mnist
from mnist_model.data_efficiency import DataEfficiency, EfficiencyPlan, Run

LIVE_SIZES = (500, 1_000)  # sizes a student can train live: a minute at most on the server


@st.cache_resource(max_entries=2, show_spinner=False)
def _results(path: str, mtime: float) -> DataEfficiency:
    return data_efficiency.load_results(path)


def bundled_results() -> DataEfficiency:
    """The results shipped with the app, read once per file version (ValueError when missing)."""
    path = data_efficiency.BUNDLED_RESULTS
    return _results(str(path), path.stat().st_mtime if path.exists() else 0.0)


@st.cache_resource
def live_run_lock() -> threading.Lock:
    """Held while a live run trains: training takes every core, so the server runs one at a time."""
    return threading.Lock()


def train_live(plan: EfficiencyPlan, size: int, on_progress: Callable[[int, int, str], None]) -> list[Run] | None:
    """Both networks trained on ``size`` fresh random images with ``plan``'s recipe, so the runs
    compare with ``plan``'s; None, without training, when another session's run holds the server."""
    lock = live_run_lock()
    if not lock.acquire(blocking=False):
        return None
    try:
        seed = int(np.random.default_rng().integers(1_000, 1_000_000))  # not 0..2: a pick of digits unlike the bundled
        live = replace(plan, sizes=(size,), seeds=1, first_seed=seed)
        return list(data_efficiency.run_experiment(load_mnist(), live, on_progress=on_progress).runs)
    finally:
        lock.release()
