"""What the "Ask the network" pages share: each model's switchboard, measured accuracies, the input in words."""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from mnist_model.lab.knockout import Off, Switchboard
from server import resources

from .current import CurrentInput

_ACCURACIES = "knockout_accuracies"
ACCURACY_FLOPS = 6e10  # a measurement's budget in the server: all 10,000 test digits for the bundled convnet ...
MIN_DIGITS = 1000  # ... and never fewer digits than this, however slow the model (then about 3 s of CPU)


def describe(current: CurrentInput) -> str:
    """The input in a few words: "drawing", "test digit (test image #12)", "upload (photo.png)"."""
    return f"{current.source} ({current.caption})" if current.caption else current.source


def input_name(current: CurrentInput) -> str:
    """The input as a sentence names it: "your drawing", "test image #12", "your image photo.png"."""
    if current.source == "test digit":
        return current.caption or "the test digit"
    if current.source == "upload":
        return f"your image {current.caption}".strip()
    return "your drawing"


@st.cache_resource(max_entries=4, show_spinner=False)
def _switchboard(path: str, mtime: float) -> Switchboard:
    board = Switchboard(resources.get_predictor(path).model)
    board.probabilities(np.zeros((1, 28, 28), np.float32))  # trace the compiled call now, not on the first click
    return board


def switchboard(path: str | os.PathLike) -> Switchboard:
    """The model's switchboard, compiled once per model file version and shared by every session."""
    return _switchboard(*resources.model_key(path))


def _accuracy_key(path: str | os.PathLike, off: Off) -> tuple:
    switches = tuple(sorted((name, tuple(sorted(units))) for name, units in off.items() if units))
    return resources.model_key(path), switches


def measured_accuracy(path: str | os.PathLike, off: Off) -> float | None:
    """The test accuracy with ``off`` switched off, if this session has measured it; None otherwise."""
    return st.session_state.get(_ACCURACIES, {}).get(_accuracy_key(path, off))


def accuracy_digits(path: str | os.PathLike) -> int:
    """How many test digits a measurement reads: all for an MNIST-sized model, fewer for a slow one,
    so that one click costs the server about the same whatever model a student picked."""
    return int(min(10_000, max(MIN_DIGITS, ACCURACY_FLOPS / resources.model_cost(path).flops)))


def measure_accuracy(path: str | os.PathLike, off: Off) -> float:
    """The test accuracy on ``accuracy_digits`` MNIST test images with ``off`` switched off, kept for this session."""
    store = st.session_state.setdefault(_ACCURACIES, {})
    key = _accuracy_key(path, off)
    if key not in store:
        images, labels = resources.test_images()
        n = accuracy_digits(path)
        store[key] = switchboard(path).accuracy(images[:n].astype(np.float32) / 255.0, labels[:n], off)
    return store[key]
