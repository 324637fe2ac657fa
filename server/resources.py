"""Everything shared by all sessions of one server, created once and cached."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import streamlit as st

from mnist_model.engine.check_process import check_isolated
from mnist_model.engine.data import load_mnist
from mnist_model.engine.layer_sizes import ModelCost
from mnist_model.engine.light import LightPredictor
from mnist_model.engine.storage import (
    PRETRAINED_DIR,
    PRETRAINED_MODEL,
    is_ready,
    list_models,
    load_model,
    model_digest,
    ready_path,
)
from mnist_model.figures.common import probability_bars

from .preparer import ModelPreparer
from .training_job import TrainingJob

if TYPE_CHECKING:  # TensorFlow is imported where a model is loaded: a page can be drawn without it
    from mnist_model.engine.inference import Predictor
    from mnist_model.lab.familiarity import FamiliarityCheck

APP_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def models_dir() -> Path:
    """Where models trained in the app go ($CONVNET_LAB_MODELS, else models/ beside app.py)."""
    return Path(os.environ.get("CONVNET_LAB_MODELS") or APP_ROOT / "models")


def model_key(path: str | os.PathLike) -> tuple[str, float]:
    """A model file's cache key: its path and modification time, so a rewritten file reloads."""
    path = Path(path)
    return str(path), path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading the model ...")
def _predictor(path: str, mtime: float) -> Predictor:
    from mnist_model.engine.inference import Predictor

    predictor = Predictor(load_model(path))
    predictor.forward(np.zeros((1, 28, 28), np.float32))  # trace the compiled call now, not on the first drawing
    probability_bars(np.full(10, 0.1)).to_json()  # and let plotly import what a figure needs
    return predictor


_WARMING = threading.Event()  # set while the server's warm-up loads TensorFlow and the bundled model


def _cores() -> int:
    """The cores this process may run on (all of them where the system cannot say)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_TURNS = threading.BoundedSemaphore(_cores())  # drawings read at once: one per core


@contextlib.contextmanager
def drawing_turn():
    """Hold one of the server's few turns to read a drawing (decode, preprocess, predict, show).

    Each session's run has its own thread. Sixty at once share the interpreter lock in 5 ms slices,
    so every one of them finishes near the end of the burst, and the event loop that sends the
    answers waits behind all of them. With a turn each, drawings are read a few at a time, the first
    answers leave at once, and the server does less switching. On one core, 60 sessions drawing at
    once (two rounds each, runs alternated): p95 0.52-0.96 s with one turn, 0.51-1.12 s with two,
    1.0-2.1 s without turns (``benchmarks``, ``concurrent_one_core_p95_ms``).
    """
    with _TURNS:
        yield


def get_predictor(path: str | os.PathLike = PRETRAINED_MODEL) -> Predictor | LightPredictor:
    """The one cached Predictor for a model file (raises ModelFileError for a bad file).

    While the server warms up, a bundled model answers from ``LightPredictor`` (numpy) instead
    of waiting seconds for TensorFlow: the page swaps it for the full one when that is ready
    (``warming``).
    """
    if _WARMING.is_set() and Path(path).resolve().parent == PRETRAINED_DIR:
        light = _light_predictor(*model_key(path))
        if light is not None:
            return light
    return _predictor(*model_key(path))


@st.cache_resource(max_entries=4, show_spinner=False)
def _light_predictor(path: str, mtime: float) -> LightPredictor | None:
    return LightPredictor.load(path, full=lambda: _predictor(path, mtime))


def start_warming() -> None:
    """The server starts warming up: until ``warm_predictor`` returns, pages read drawings with the numpy
    predictor of a bundled model."""
    _WARMING.set()


def warm_predictor() -> Predictor:
    """The bundled model's full Predictor, for the server's warm-up; pages use it from now on."""
    try:
        return _predictor(*model_key(PRETRAINED_MODEL))
    finally:
        stop_warming()


def stop_warming() -> None:
    _WARMING.clear()


def warming() -> bool:
    """Whether the warm-up is still loading TensorFlow (pages then use what needs no TensorFlow)."""
    return _WARMING.is_set()


class NotPrepared(LookupError):
    """A per-model result is not stored (yet): the model's preparation has been asked for."""


@st.cache_resource(max_entries=4, show_spinner=False)
def _familiarity(path: str, mtime: float) -> FamiliarityCheck:
    from mnist_model.lab.familiarity import FamiliarityCheck, load_or_fit_familiarity

    model = _predictor(path, mtime).model
    familiarity = load_or_fit_familiarity(model, path, compute=False)
    if familiarity is None:
        raise NotPrepared(path)  # not cached: asked again once the preparation has stored it
    return FamiliarityCheck(model, familiarity)


def familiarity_check(path: str | os.PathLike = PRETRAINED_MODEL) -> FamiliarityCheck | None:
    """The model's check for drawings unlike its training digits, stored beside it; None (and the
    model's preparation asked for) while it is not stored."""
    if not Path(path).exists() or warming():
        return None  # renamed or deleted by someone else: the next full run falls back; or not loaded yet
    try:
        return _familiarity(*model_key(path))
    except NotPrepared:
        preparer().prepare(path)
        return None


@st.cache_resource
def preparer() -> ModelPreparer:
    """The server's one queue of models to check and prepare before anyone can pick them."""
    return ModelPreparer()


@st.cache_resource(show_spinner="Loading MNIST test images ...")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8) and labels."""
    return load_mnist()[1]


@st.cache_resource
def training_job() -> TrainingJob:
    """The server's single training job, shared by every session."""
    return TrainingJob(models_dir(), train_limit=_env_int("CONVNET_LAB_TRAIN_LIMIT"), lease=_store_lease(),
                       preparer=preparer())


def _store_lease():
    """The class store's one-job lease when a store is in use ($CONVNET_LAB_DB, or the SQLite file
    exists): a training here and a class fine-tune, or trainings on two servers, never run at once."""
    import classroom
    from classroom.db import DEFAULT_DB, ENV_VAR

    def store_in_use():
        return classroom.connect() if os.environ.get(ENV_VAR) or Path(DEFAULT_DB).exists() else None

    return classroom.StoreLease(store_in_use)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


@st.cache_resource
def _kept_results(kind: str) -> tuple[threading.Lock, dict, dict]:
    return threading.Lock(), {}, {}  # guards the two dicts; results by key; a lock per key being computed


def once_per_model(kind: str, key: Hashable, compute: Callable[[], T], kept: int = 4) -> T:
    """``compute()``'s result for ``key``, computed once per server and kept in memory.

    For what a page computes from a model once and stores beside it (``load_or_compute_...``):
    kept per model file version (``key`` holds ``model_key`` of each file), so the page's reruns
    neither hash the model nor read the file again. A lock per key makes a class that opens the
    page at once wait for one computation instead of starting thirty, while a session asking
    about another model is not held up by it.

    Args:
        kind: what is kept ("filter patterns"): each kind has its own store.
        key: the model file version(s) the result belongs to.
        compute: loads the stored result, or returns None (not kept) when there is none.
        kept: how many results of this kind to keep; the oldest goes first.
    """
    guard, store, computing = _kept_results(kind)
    with guard:
        if key in store:
            return store[key]
        lock = computing.setdefault(key, threading.Lock())
    with lock:
        with guard:
            if key in store:  # computed by whoever held the lock before us
                return store[key]
        result = compute()
        with guard:
            computing.pop(key, None)
            if result is None:
                return None
            while len(store) >= kept:
                store.pop(next(iter(store)))
            store[key] = result
        return result


def stored(kind: str, paths: tuple, load: Callable[[], T | None], kept: int = 4) -> T | None:
    """What the preparation of the models at ``paths`` stored (``load`` reads it, or gives None);
    None, and their preparation asked for again, when it is not there. Never computed here."""
    result = once_per_model(kind, tuple(model_key(path) for path in paths), load, kept)
    if result is None:
        for path in paths:
            preparer().prepare(path)
    return result


def filter_patterns(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """Each conv filter's preferred input, as the model's preparation stored it (None while it is not)."""
    from mnist_model.lab.inspection import load_or_compute_patterns

    return stored("filter patterns", (path,),
                  lambda: load_or_compute_patterns(get_predictor(path).model, path, compute=False))


@st.cache_resource(max_entries=8, show_spinner=False)
def _models_in(folder: str, folder_mtime: float):
    return list_models(folder)


def available_models():
    """The bundled models and every other model once it is prepared (the rest are queued for it);
    re-listed only when the folder changes (saves land by rename, which updates its modification time)."""
    folder = models_dir()
    entries = _models_in(str(folder), folder.stat().st_mtime if folder.exists() else 0.0)
    return [entry for entry in entries if entry.bundled or _usable(entry.path)]


def _usable(path: Path) -> bool:
    mark = ready_path(path)
    if _ready(*model_key(path), mark.stat().st_mtime if mark.exists() else 0.0):
        return True
    preparer().prepare(path)
    return False


@st.cache_data(max_entries=256, show_spinner=False)
def _ready(path: str, mtime: float, mark_mtime: float) -> bool:
    return bool(mark_mtime) and is_ready(path, digest(path))


def forget_models() -> None:
    """Re-list the models now: a rename within the same second may not move the folder's mtime."""
    _models_in.clear()


@st.cache_data(max_entries=64, show_spinner=False)
def _cost(path: str, mtime: float) -> ModelCost:
    return check_isolated(path, Path(path).name)


def model_cost(path: str | os.PathLike) -> ModelCost:
    """What one image costs the model at ``path`` (FLOPs, values, weights), from its config; read once per file."""
    return _cost(*model_key(path))


@st.cache_data(max_entries=256, show_spinner=False)
def _digest(path: str, mtime: float) -> str:
    return model_digest(path)


def digest(path: str | os.PathLike) -> str:
    """A model file's SHA-256, computed once per file version."""
    return _digest(*model_key(path))
