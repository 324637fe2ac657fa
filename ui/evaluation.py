"""The evaluation page's shared resource: each model's Evaluation, kept in memory per model file version."""

from __future__ import annotations

import os
import threading

import streamlit as st

from mnist_model.evaluation import Evaluation, load_or_compute_evaluation

from . import resources

KEPT_MODELS = 8  # evaluations kept in memory; each is about 60 kB


@st.cache_resource
def _evaluations_cache() -> tuple[threading.Lock, dict]:
    return threading.Lock(), {}


def evaluation(path: str | os.PathLike, progress=None) -> Evaluation:
    """The model's answers on the 10,000 test digits, computed once per model and stored beside it.

    Kept in memory per model file version, so the page's reruns (a click on the confusion
    matrix) neither hash the model nor read the file again; the lock makes a class that opens
    the page at once wait for one computation instead of starting thirty.
    """
    key = resources.model_key(path)
    lock, store = _evaluations_cache()
    with lock:
        if key not in store:
            while len(store) >= KEPT_MODELS:
                store.pop(next(iter(store)))
            store[key] = load_or_compute_evaluation(resources.get_predictor(path).model, path, on_progress=progress)
        return store[key]
