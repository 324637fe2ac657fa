"""The sidebar every page shares: which model is active, and training a new one."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from mnist_model.engine.config import IMPROVED_DEFAULTS, OPTIMIZERS, TrainConfig
from mnist_model.engine.model_names import READABLE_RULE
from mnist_model.engine.storage import (
    MAX_NAME_CHARS,
    PRETRAINED_MODEL,
    ModelFileError,
    delete_model,
    rename_model,
    stage_upload,
)
from mnist_model.figures.alt import training_alt
from mnist_model.figures.common import training_curves
from mnist_model.figures.numbers import percent
from server import resources
from server.training_job import JobState

from .classroom import model_changes_refused, students_locked
from .current import MODEL_PATH, active_model_path
from .text import plain

_SEEN = "seen_training_state"
_ACTIVE_DIGEST = "active_model_digest"  # to follow the active model when someone renames it
_FLASH = "sidebar_flash"
_UPLOADING = "upload_being_checked"  # the preparer's key of this session's upload, until it is ready or refused
_UPLOAD_SAID = "upload_said"  # (file id, kind, sentence): what became of the file the uploader holds
_SWITCH_TO = "switch_to_model"  # a model to make active on the next full run (its upload became ready)
MAX_QUEUED = 6  # uploads refused while this many models wait to be checked: nobody can fill the queue
# Every open page reruns the sidebar's poll at these intervals (seconds), a class of thirty together: each
# rerun costs the server a few milliseconds even when nothing changed. While a job runs its progress moves;
# otherwise the poll only notices a job someone else started, or a model that became ready, and a few
# seconds more do not matter there.
BUSY_POLL_S = 2.0
IDLE_POLL_S = 15.0


def render_sidebar():
    """Draw the sidebar and return the active Predictor (falling back to the bundled model)."""
    with st.sidebar:
        predictor = model_picker()
        st.divider()
        training_controls()
        training_progress()
    return predictor


def model_picker():
    """The model selector, with upload, rename and delete; returns the active model's Predictor."""
    entries = resources.available_models()
    paths = [str(e.path) for e in entries]
    if _SWITCH_TO in st.session_state and st.session_state[_SWITCH_TO] in paths:
        st.session_state[MODEL_PATH] = st.session_state.pop(_SWITCH_TO)
        _remember_active_model()
    _follow_active_model(entries)
    try:  # load before the selectbox is drawn, so a bad file can still switch the selection
        predictor = resources.get_predictor(active_model_path())
        resources.familiarity_check(active_model_path())  # ready before the first drawing, not during it
    except ModelFileError as err:
        st.session_state[MODEL_PATH] = str(PRETRAINED_MODEL)
        _flash("error", f"{plain(err)}\n\nUsing the bundled model instead.")
        predictor = resources.get_predictor(PRETRAINED_MODEL)
    labels = {str(e.path): e.label for e in entries}
    st.selectbox("Model", paths, key=MODEL_PATH, format_func=lambda p: labels.get(p, p),
                 on_change=_remember_active_model,
                 help="The bundled model, every model trained here and every model uploaded (newest first).")
    _show_flash()
    _preparations()
    entry = next((e for e in entries if str(e.path) == st.session_state[MODEL_PATH]), entries[0])
    _card_caption(entry.card or {})
    if st.session_state.get(_ACTIVE_DIGEST) is None:
        _remember_active_model()
    manage_models(entry)
    return predictor


def _card_caption(card: dict) -> None:
    if card.get("uploaded"):
        who = f" by {plain(card['uploaded_by'])}" if card.get("uploaded_by") else ""
        st.caption(f"Uploaded{who} · {card.get('params', 0):,} parameters · "
                   f"from {plain(card.get('original_name', '?'))}")
    elif card.get("class_code"):
        tuned = card.get("finetune") or {}
        before, after = tuned.get("class_accuracy_before"), tuned.get("class_accuracy_after")
        moved = (f" · held-out class drawings {percent(before, 0, exact=True)} → {percent(after, 0, exact=True)}"
                 if isinstance(before, (int, float)) and isinstance(after, (int, float)) else "")
        st.caption(f"{plain(card.get('recipe', '?'))} of {plain(card.get('fine_tuned_from', '?'))} · "
                   f"{card.get('class_drawings', 0):,} drawings from {card.get('class_students', 0):,} students"
                   f"{moved} · test accuracy {card.get('test_accuracy', 0):.2%}")
    elif card:
        accuracy = card.get("test_accuracy")
        score = f" · test accuracy {accuracy:.2%}" if isinstance(accuracy, (int, float)) else ""
        kind = "dense network, " if (card.get("config") or {}).get("architecture") == "dense" else ""
        st.caption(f"{kind}{plain(card.get('recipe', '?'))} recipe · {card.get('params', 0):,} parameters{score}")


def _follow_active_model(entries) -> None:
    """Keep this session on its model when someone renames it; say so when it was deleted."""
    chosen = st.session_state.get(MODEL_PATH)
    if chosen in {str(e.path) for e in entries}:
        return
    digest = st.session_state.get(_ACTIVE_DIGEST)
    moved = next((e for e in entries if digest and resources.digest(e.path) == digest), None)
    if chosen is not None and moved is not None:
        st.session_state[MODEL_PATH] = str(moved.path)
        _flash("info", f"The model you were using was renamed to **{plain(moved.name)}**.")
        return
    if chosen is not None:
        _flash("warning", f"The model you were using, {plain(Path(chosen).stem)}, was deleted or moved. "
                          f"Back to the bundled model.")
    st.session_state[MODEL_PATH] = str(PRETRAINED_MODEL)
    st.session_state[_ACTIVE_DIGEST] = None


def _remember_active_model() -> None:
    path = active_model_path()
    st.session_state[_ACTIVE_DIGEST] = resources.digest(path) if path.exists() else None


def manage_models(entry) -> None:
    """Upload a model; rename or delete the active one (not the bundled one). Not for students while a class runs."""
    refused = model_changes_refused()
    if refused:
        st.caption(refused)
        return
    with st.expander("Upload, rename or delete"):
        st.file_uploader("Upload a Keras 3 model (.keras)", type=["keras"], key="model_upload",
                         on_change=_upload_model,
                         help="A model saved with model.save('name.keras') in Keras 3, taking 28x28x1 "
                              "images to 10 classes (listing 5.1 of the book, for instance). It is "
                              "checked with Keras' safe mode, then added for everyone on this server.")
        _say_about_upload()
        if entry.bundled:
            st.caption("The bundled model cannot be renamed or deleted.")
            return
        st.text_input("New name", value=entry.name, key="rename_to", max_chars=MAX_NAME_CHARS,
                      help=f"{READABLE_RULE}, and must not look like another model's name.")
        rename, delete = st.columns(2)
        rename.button("Rename", key="rename_model", width="stretch", on_click=_rename, args=(entry.path,))
        with delete.popover("Delete", width="stretch"):
            st.markdown(f"Delete **{plain(entry.name)}** for everyone on this server?")
            st.button("Yes, delete it", key="delete_model", type="primary", on_click=_delete,
                      args=(entry.path,))


def _upload_model() -> None:
    """Check the upload's bytes here (milliseconds), then hand it to the preparer's worker process."""
    if model_changes_refused():  # the controls are hidden then; a forged message must not reach here
        return
    upload = st.session_state.get("model_upload")
    if upload is None:
        return
    preparer = resources.preparer()
    waiting = preparer.state(st.session_state.get(_UPLOADING, ""))
    if waiting is not None and waiting.active:
        _said(upload, "warning", f"Your upload {plain(waiting.name)} is still being checked; upload another when it "
                                 f"is done.")
        return
    if len(preparer.active()) >= MAX_QUEUED:
        _said(upload, "warning", "The server is busy checking other models. Try again in a minute.")
        return
    try:
        staged, cost = stage_upload(upload.getvalue(), upload.name, resources.models_dir())
    except ModelFileError as err:
        _said(upload, "error", f"That model was not added: {plain(err)} The active model is unchanged.")
        return
    job = preparer.upload(staged, upload.name, resources.models_dir(), st.session_state.get("nickname"), cost.flops)
    st.session_state[_UPLOADING] = job.key
    _said(upload, "info", f"Checking **{plain(upload.name)}** and preparing it for the lab's pages (a minute or so "
                          f"for an MNIST-sized model). It becomes your active model when it is ready.")


def _preparations() -> None:
    """Below the picker: the models being prepared, and those that could not be used, in a sentence each."""
    preparer = resources.preparer()
    for job in preparer.active():
        text = f"Preparing **{plain(job.name)}** for the lab: {plain(job.what)}"
        waits = f"**{plain(job.name)}** waits to be checked, {preparer.in_line(job.key)}"
        st.progress(job.done, text=text if job.status == "running" else waits)
    mine = preparer.state(st.session_state.get(_UPLOADING, ""))
    if mine is not None and not mine.active:
        del st.session_state[_UPLOADING]
        upload = st.session_state.get("model_upload")
        if mine.status == "ready":
            st.session_state[_SWITCH_TO] = mine.path
            _said(upload, "success", f"Added **{plain(Path(mine.path).stem)}**, now your active model.")
            st.rerun(scope="app")
        _said(upload, "error", f"That model was not added: {plain(mine.message)} The active model is unchanged.")


def _said(upload, kind: str, sentence: str) -> None:
    """What became of the file the uploader holds; shown under it for as long as it holds that file, so
    no rerun can swallow it."""
    st.session_state[_UPLOAD_SAID] = (getattr(upload, "file_id", None), kind, sentence)


def _say_about_upload() -> None:
    file_id, kind, sentence = st.session_state.get(_UPLOAD_SAID, (None, None, None))
    upload = st.session_state.get("model_upload")
    if kind and upload is not None and upload.file_id == file_id:
        getattr(st, kind)(sentence)


def _rename(path: Path) -> None:
    if model_changes_refused():  # the controls are hidden then; a forged message must not reach here
        return
    try:
        new = rename_model(path, st.session_state.get("rename_to", ""))
    except ModelFileError as err:
        _flash("error", plain(err))
        return
    resources.forget_models()
    st.session_state[MODEL_PATH] = str(new)
    st.session_state.pop("rename_to", None)
    _flash("success", f"Renamed to **{plain(new.stem)}**.")


def _delete(path: Path) -> None:
    if model_changes_refused():  # the controls are hidden then; a forged message must not reach here
        return
    try:
        delete_model(path)
    except ModelFileError as err:
        _flash("error", plain(err))
        return
    resources.forget_models()
    st.session_state[MODEL_PATH] = str(PRETRAINED_MODEL)
    _remember_active_model()
    _flash("success", f"Deleted {plain(path.stem)}. Back to the bundled model.")


def _flash(kind: str, message: str) -> None:
    """A message for the next time the sidebar is drawn (callbacks run before it)."""
    st.session_state[_FLASH] = (kind, message)


def _show_flash() -> None:
    kind, message = st.session_state.pop(_FLASH, (None, None))
    if kind:
        getattr(st, kind)(message)


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
        state = job.state()
        locked = students_locked()
        left.button("Train", key="train", type="primary", width="stretch", disabled=state.active or locked,
                    on_click=_start, args=(job, config))
        right.button("Stop", key="stop_training", width="stretch", on_click=job.stop,
                     disabled=not state.active or state.trained or locked,
                     help="Every epoch is trained: too late to stop." if state.active and state.trained else None)
        if locked:
            st.caption("Your class is running, so only your teacher can start or stop training.")


def _start(job, config: TrainConfig) -> None:
    """Button callback: runs before the page is drawn, so the buttons already show the new state."""
    if not job.start(config):
        held = job.lease.refusal if job.lease is not None and job.lease.refusal else ""
        where = (f"{held} holds the class store's one training place" if held else
                 "a training runs on this server (its progress is in the sidebar)")
        st.toast(f"Training did not start: {plain(where)}. Try again when it has finished.")


def training_progress() -> None:
    """Polls the shared job and the preparer: every BUSY_POLL_S while one runs, every IDLE_POLL_S otherwise."""
    state = resources.training_job().state()
    st.session_state[_SEEN] = _marker(state)  # what this full run shows: only later changes rerun the app
    busy = state.active or resources.preparer().active()
    st.fragment(_poll_job, run_every=BUSY_POLL_S if busy else IDLE_POLL_S)()


def _poll_job() -> None:
    """Shows the job; reruns the whole app when a job starts, has trained every epoch (Stop is
    then too late) or ends, so the buttons, the polling rate and the model picker catch up
    (also for users who did not start it)."""
    state = resources.training_job().state()
    if state.status != "idle":
        _show_state(state)
    marker = _marker(state)
    seen = st.session_state.get(_SEEN, marker)
    st.session_state[_SEEN] = marker
    if seen != marker:
        st.rerun(scope="app")


def _marker(state: JobState) -> tuple:
    return state.active, state.trained, state.finished, _models_version()


def _models_version() -> tuple:
    """What the picker offers, and where this session's upload stands: a change reruns the app.

    Only what people see counts: hidden temp files, staged uploads and models still being
    prepared come and go in the folder without rerunning thirty sessions at once.
    """
    offered = tuple(str(entry.path) for entry in resources.available_models())  # also queues new models
    mine = resources.preparer().state(st.session_state.get(_UPLOADING, ""))
    return offered, mine.status if mine is not None else None


STAGES = {"checking": "checking the epoch on held-out images",
          "testing": "testing on the 10,000 test digits", "saving": "saving the model",
          "timeline": "scoring each epoch's weights for How it learned",
          "preparing": "preparing it for the lab's pages"}  # what the worker does between batches


def _progress_text(state: JobState, elapsed: float) -> str:
    """Where the job is: the epoch and batch, or, after the last batch, what it does before it is done."""
    epochs = state.config.epochs
    if state.trained:
        return f"All {epochs} epochs trained · {STAGES[state.stage]} · {elapsed:.0f} s"
    checking = f" · {STAGES['checking']}" if state.stage == "checking" else ""
    return (f"Epoch {min(state.epoch + 1, epochs)}/{epochs} · batch {state.step}/{state.steps or '?'}{checking}"
            f" · {elapsed:.0f} s")


def _show_state(state: JobState) -> None:
    elapsed = (state.finished or time.time()) - (state.started or time.time())
    if state.active:
        st.progress(state.fraction, text=_progress_text(state, elapsed))
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
        st.plotly_chart(figure, key="training_curves", config={"displayModeBar": False},
                        alt=training_alt(state.curves, state.config.epochs))


@st.cache_resource(max_entries=2, show_spinner=False)
def _curves_figure(started: float, points: int, val_points: int, _curves: dict):
    """One figure per job and curve length, shared by every session that polls the job."""
    return training_curves(_curves)
