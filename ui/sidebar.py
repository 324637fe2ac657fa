"""The sidebar every page shares: which model is active, and training a new one."""

from __future__ import annotations

import time

import streamlit as st

from mnist_model.config import IMPROVED_DEFAULTS, OPTIMIZERS, TrainConfig
from mnist_model.figures import training_curves
from mnist_model.storage import PRETRAINED_MODEL, ModelFileError

from . import resources
from .current import MODEL_PATH, active_model_path
from .training_job import JobState

_SEEN = "seen_training_state"


def render_sidebar():
    """Draw the sidebar and return the active Predictor (falling back to the bundled model)."""
    with st.sidebar:
        predictor = model_picker()
        st.divider()
        training_controls()
        training_progress()
    return predictor


def model_picker():
    entries = resources.available_models()
    paths = [str(e.path) for e in entries]
    labels = {str(e.path): e.label for e in entries}
    if st.session_state.get(MODEL_PATH) not in paths:
        st.session_state[MODEL_PATH] = str(PRETRAINED_MODEL)
    st.selectbox("Model", paths, key=MODEL_PATH, format_func=lambda p: labels.get(p, p),
                 help="The bundled model, and every model trained here (newest first).")
    entry = next(e for e in entries if str(e.path) == st.session_state[MODEL_PATH])
    card = entry.card or {}
    if card:
        st.caption(f"{card.get('recipe', '?')} recipe · {card.get('params', 0):,} parameters · "
                   f"test accuracy {card.get('test_accuracy', 0):.2%}")
    try:
        return resources.get_predictor(active_model_path())
    except ModelFileError as err:
        st.error(f"{err}\n\nUsing the bundled model instead.")
        return resources.get_predictor(PRETRAINED_MODEL)


def training_controls() -> None:
    job = resources.training_job()
    with st.expander("Train a model", expanded=job.state().status != "idle"):
        recipe = st.radio("Recipe", ["seed", "improved"], horizontal=True, key="train_recipe",
                          help="seed: listing 5.1 as published (rmsprop, 5 epochs). improved: the same "
                               "network with augmentation, Adam and a cosine learning-rate schedule.")
        improved = recipe == "improved"
        epochs = st.slider("Epochs", 1, 30, IMPROVED_DEFAULTS["epochs"] if improved else 5, key=f"epochs_{recipe}")
        batch = st.select_slider("Batch size", [32, 64, 128, 256], value=64, key="train_batch")
        optimizer = st.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index("adam" if improved else "rmsprop"),
                                 key=f"optimizer_{recipe}")
        augment = st.checkbox("Augment (shift, rotate, zoom)", value=improved, key=f"augment_{recipe}")
        config = TrainConfig.for_recipe(recipe, epochs=epochs, batch_size=batch, optimizer=optimizer,
                                        augment=augment, validation_split=0.1)
        left, right = st.columns(2)
        active = job.state().active
        left.button("Train", key="train", type="primary", width="stretch", disabled=active,
                    on_click=_start, args=(job, config))
        right.button("Stop", key="stop_training", width="stretch", disabled=not active, on_click=job.stop)


def _start(job, config: TrainConfig) -> None:
    """Button callback: runs before the page is drawn, so the buttons already show the new state."""
    if not job.start(config):
        st.toast("A training job is already running on this server; its progress is in the sidebar.")


def training_progress() -> None:
    """Polls the shared job: every second while one runs, every few seconds otherwise."""
    every = 1.0 if resources.training_job().state().active else 5.0
    st.fragment(_poll_job, run_every=every)()


def _poll_job() -> None:
    """Shows the job; reruns the whole app when a job starts or ends, so the buttons, the
    polling rate and the model picker catch up (also for users who did not start it)."""
    state = resources.training_job().state()
    if state.status != "idle":
        _show_state(state)
    marker = (state.active, state.finished)
    seen = st.session_state.get(_SEEN, marker)
    st.session_state[_SEEN] = marker
    if seen != marker:
        st.rerun(scope="app")


def _show_state(state: JobState) -> None:
    config = state.config
    elapsed = (state.finished or time.time()) - (state.started or time.time())
    if state.active:
        st.progress(state.fraction, text=f"Epoch {min(state.epoch + 1, config.epochs)}/{config.epochs}"
                                         f" · batch {state.step}/{state.steps or '?'} · {elapsed:.0f} s")
        if state.message:
            st.caption(state.message)
    elif state.status == "done":
        st.success(f"Training finished in {elapsed:.0f} s. {state.message}")
    elif state.status == "cancelled":
        st.warning(state.message)
    else:
        st.error(state.message)
    if state.curves.get("loss"):
        figure = _curves_figure(state.started, len(state.curves["loss"]), len(state.curves.get("val_loss", [])),
                                state.curves)
        st.plotly_chart(figure, key="training_curves", config={"displayModeBar": False})


@st.cache_resource(max_entries=2, show_spinner=False)
def _curves_figure(started: float, points: int, val_points: int, _curves: dict):
    """One figure per job and curve length, shared by every session that polls the job."""
    return training_curves(_curves)
