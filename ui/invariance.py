"""The shift page's shared resources: each model's compiled probability call, and the stored accuracy curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from mnist_model.lab.shift import Predict, ShiftCurves, load_or_compute_shift_curves, probability_function, shift_grid
from server import resources


@st.cache_resource(max_entries=4, show_spinner=False)
def _probabilities(path: str, mtime: float) -> Predict:
    predict = probability_function(resources.get_predictor(path).model)
    predict(np.zeros((1, 28, 28, 1), np.float32))  # trace now, not on the first drawing
    return predict


def probabilities(path: str | os.PathLike) -> Predict:
    """The model's batch call from images to probabilities, compiled once per model file version."""
    return _probabilities(*resources.model_key(path))


@st.cache_data(max_entries=64, show_spinner=False)
def _grid(path: str, mtime: float, image: np.ndarray, digit: int) -> np.ndarray:
    return shift_grid(_probabilities(path, mtime), image, digit)


def grid(path: str | os.PathLike, image: np.ndarray, digit: int) -> np.ndarray:
    """``shift_grid`` of the model at ``path``, kept per image so reruns of the page reuse it."""
    return _grid(*resources.model_key(path), image, digit)


def shift_curves(conv_path: Path, dense_path: Path) -> ShiftCurves | None:
    """The pair's accuracy against shift, as the preparation stored it beside them (None while it has not)."""
    return resources.stored(
        "shift curves", (conv_path, dense_path),
        lambda: load_or_compute_shift_curves(resources.get_predictor(conv_path).model, conv_path,
                                             resources.get_predictor(dense_path).model, dense_path, compute=False))
