"""The per-session input every page looks at: a drawing, a test digit or an upload."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from mnist_model.engine.preprocess import Preprocessed, canvas_to_mnist
from mnist_model.engine.storage import PRETRAINED_MODEL
from server import resources

_INPUT = "current_input"
MODEL_PATH = "model_path"


@dataclass(frozen=True)
class CurrentInput:
    """The image being looked at, with every preprocessing step and, if known, its true label."""

    source: str  # "drawing", "test digit" or "upload"
    prep: Preprocessed
    label: int | None = None  # the true digit, for MNIST test images
    caption: str = ""


def set_input(current: CurrentInput | None) -> None:
    st.session_state[_INPUT] = current


def get_input() -> CurrentInput | None:
    return st.session_state.get(_INPUT)


def input_or_test_digit() -> CurrentInput:
    """The session's input, or MNIST test image #0 (saying so) when nothing is drawn, picked or uploaded."""
    current = get_input()
    if current is not None and not current.prep.empty:
        return current
    images, labels = resources.test_images()
    st.info("Nothing drawn yet, so here is MNIST test image #0. Draw a digit on the **Draw & predict** "
            "page and come back to see how the network reads yours.")
    return CurrentInput("test digit", canvas_to_mnist(images[0]), int(labels[0]), "test image #0")


_KEPT = "kept_inputs"


def keep(name: str, value) -> None:
    """Remember something a student made (a drawing, an upload, a choice) for this session.

    Streamlit drops a widget's state when its page is not shown; what is kept here
    survives a visit to other pages and goes back into the widget when the page returns.
    """
    st.session_state.setdefault(_KEPT, {})[name] = value


def kept(name: str, default=None):
    """What ``keep`` stored under ``name``, or ``default``."""
    return st.session_state.get(_KEPT, {}).get(name, default)


def active_model_path() -> Path:
    """The model this session has picked in the sidebar (the bundled one by default)."""
    return Path(st.session_state.get(MODEL_PATH) or PRETRAINED_MODEL)


PREDICTOR = "predictor"


def predictor():
    """The active model's Predictor, set by app.py's sidebar on every run.

    When another session has renamed or deleted the model file meanwhile (a drawing fragment
    reruns without the sidebar), the whole app reruns: the sidebar says what happened and
    falls back, instead of a page failing on a file that is gone. A numpy predictor handed out
    while the server warmed up (``resources.get_predictor``) gives way to the full one once it is in.
    """
    if not active_model_path().exists():
        st.rerun(scope="app")
    chosen = st.session_state[PREDICTOR]
    if getattr(chosen, "light", False) and not resources.warming():  # TensorFlow is in: the full one
        chosen = st.session_state[PREDICTOR] = resources.get_predictor(active_model_path())
    return chosen


def kept_toggle(label: str, key: str, default: bool = False) -> bool:
    """A toggle whose setting survives visits to other pages."""
    value = st.toggle(label, value=kept(key, default), key=key)
    keep(key, value)
    return value
