"""The teacher's live dashboard: what the class sent, what the model made of it, export and fine-tune;
and the projector view of it, for the back of the room."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

import classroom
from classroom.qr import qr_png
from mnist_model.figures.alt import class_counts_alt, confusion_alt, feature_maps_alt
from mnist_model.figures.classroom import MEANT, READ, class_counts_bars, counts_words
from mnist_model.figures.common import map_grid, pixels
from mnist_model.figures.evaluation import confusion_heatmap, selected_cell
from mnist_model.figures.numbers import count, ink_words, share, sure
from mnist_model.lab.inspection import conv_layer_names

from . import class_job
from .current import active_model_path, predictor
from .text import plain

POLL_S = 2.0  # how often the dashboard asks the store for news
TAB = "teacher_tab"  # the dashboard's open tab
CELL_SHOWN = 24  # drawings shown for one square of the confusion matrix
LATEST_SHOWN = 12  # the latest drawings, newest first
PROJECTED_SHOWN = 6  # ... on the projector, in one row
PROJECTED_QR = 420  # px: the join code's side on the projector, at most (scaled down on smaller screens)
TILE = 84  # px per drawing in a gallery
PROJECTOR_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"] {display: none;}
[data-testid="stMainBlockContainer"] {padding: 0.8rem 2rem; max-width: 100%;}
.st-key-projector_qr img {image-rendering: pixelated; max-width: 100%; height: auto; display: block; margin: auto;}
.st-key-projector_code p {font-size: clamp(2.4rem, 6vw, 5rem); font-weight: 800; letter-spacing: 0.25rem;
                          line-height: 1.05; margin: 0; text-align: center;}
.st-key-projector_name p {font-size: clamp(1.3rem, 2.4vw, 2rem); overflow-wrap: anywhere; text-align: center;
                          margin: 0;}
.st-key-projector_link p, .st-key-projector_link code {font-size: clamp(1.5rem, 2.2vw, 2.2rem); line-height: 1.25;
                                                       word-break: break-all; text-align: center;}
.st-key-teacher_class_picker, .st-key-teacher_log_out {display: none;}
.st-key-projector_live [data-testid="stMetricValue"] {font-size: clamp(2.2rem, 4.5vw, 3.6rem);}
.st-key-projector_live [data-testid="stMetricLabel"] p {font-size: 1.4rem;}
.st-key-projector_live [data-testid="stMetricDelta"] {font-size: 1.1rem;}
.st-key-projector_live h3 {font-size: 1.7rem; padding: 0.2rem 0;}
.st-key-projector_live button p {font-size: 1.1rem;}
</style>
"""


def show(store: classroom.Store, info: classroom.ClassInfo) -> None:
    """The dashboard, the fine-tune and the export in tabs; only the open one runs (and polls the store),
    and it stays open across reruns, such as the one that lists a fine-tuned model in the picker."""
    live, tune, export = st.tabs(["Live dashboard", "Fine-tune", "Export"], key=TAB, on_change="rerun")
    if live.open:
        with live:
            st.fragment(_live, run_every=POLL_S)(store, info.code)
    if tune.open:
        with tune:
            class_job.panel(store, info.code)
    if export.open:
        with export:
            export_buttons(store, info.code)


def projector(store: classroom.Store, info: classroom.ClassInfo, link: str) -> None:
    """The class for the back of the room: the join code and QR large; counts, accuracy and the latest drawings."""
    st.html(PROJECTOR_CSS)
    join, live = st.columns([2, 3], gap="large")
    with join:
        if info.is_open:
            with st.container(key="projector_qr"):
                st.image(qr_png(link, fit=PROJECTED_QR), output_format="PNG",  # PNG: JPEG blurs the modules
                         alt=f"QR code of the join link {link}")
            with st.container(key="projector_code"):
                st.markdown(info.code)
            with st.container(key="projector_name"):
                st.markdown(plain(info.name))
            with st.container(key="projector_link"):
                st.markdown(f"`{link}`")
        else:
            st.warning("This class is closed: nobody can join or send.")
    with live, st.container(key="projector_live"):
        st.fragment(_projected, run_every=POLL_S)(store, info.code)


def _projected(store: classroom.Store, code: str) -> None:
    """Polled like the dashboard: the numbers, the digits and the latest drawings, large."""
    shown = _summary_and_latest(store, code, PROJECTED_SHOWN, "Scan the code, draw a digit, press Send to class.")
    if shown is None:
        return
    summary, latest = shown
    st.plotly_chart(_counts(summary, big=True), key="projector_counts", config={"displayModeBar": False},
                    alt=_counts_alt(summary))
    st.subheader("Latest drawings")
    gallery(list(reversed(latest)), "projector", columns=PROJECTED_SHOWN, tile=80, surely=False)


def _summary_and_latest(store: classroom.Store, code: str, last: int, how_to_send: str):
    """The class's numbers (shown) and its ``last`` drawings; None once a sentence says why there is nothing more."""
    try:
        summary = classroom.class_summary(store, code)
        latest = classroom.class_drawings(store, code, last=last)
    except classroom.ClassStoreError as err:
        st.warning(plain(err))
        return None
    _metrics(summary)
    if not summary.n_drawings:
        st.info(f"No drawings yet. {how_to_send}")
        return None
    return summary, latest


def _metrics(summary: classroom.ClassSummary) -> None:
    joined, sent, accuracy = st.columns(3)
    joined.metric("Students", f"{summary.n_students} sent", f"{summary.n_joined} joined", delta_color="off",
                  delta_arrow="off")
    sent.metric("Drawings", f"{summary.n_drawings}")
    right = int(np.trace(summary.confusion))
    accuracy.metric("Read right", share(right, summary.n_drawings),
                    f"{right} of {summary.n_drawings}" if summary.n_drawings else None, delta_color="off",
                    delta_arrow="off")


def _live(store: classroom.Store, code: str) -> None:
    """Polled: new drawings appear within POLL_S seconds, from whichever server they were sent through."""
    shown = _summary_and_latest(store, code, LATEST_SHOWN, "When students press Send to class, they appear here.")
    if shown is None:
        return
    summary, latest = shown
    st.plotly_chart(_counts(summary), key="class_counts", config={"displayModeBar": False}, alt=_counts_alt(summary))
    st.caption(counts_words(summary.counts, np.diag(summary.confusion)))
    st.subheader("Latest drawings")
    st.caption("Newest first. Press one to see it full screen.")
    gallery(list(reversed(latest)), "latest")
    _confusion(store, code, summary)
    _hardest(summary)


def _counts(summary: classroom.ClassSummary, big: bool = False):
    return class_counts_bars(summary.counts, np.diag(summary.confusion), big=big)


def _counts_alt(summary: classroom.ClassSummary) -> str:
    return class_counts_alt(summary.counts, np.diag(summary.confusion))


def _confusion(store: classroom.Store, code: str, summary: classroom.ClassSummary) -> None:
    st.subheader("What the model read for each digit meant")
    st.caption(f"Each row is {MEANT}, each column {READ}. Green squares are read right, red ones read wrong; a "
               "digit nobody sent has no colour. Click a square to see those drawings.")
    matrix, cell = st.columns([3, 2])
    with matrix:
        state = st.plotly_chart(confusion_heatmap(summary.confusion, height=480, true_words=MEANT,
                                                  said_words=READ, noun="drawing"), on_select="rerun",
                                selection_mode="points", key="class_confusion", config={"displayModeBar": False},
                                alt=confusion_alt(summary.confusion, "drawing"))
    with cell:
        chosen = selected_cell(state.selection)
        if chosen is None:
            st.caption("No square chosen yet.")
            return
        meant, read = chosen
        try:
            records = classroom.class_drawings(store, code, intended=meant, predicted=read, last=CELL_SHOWN)
        except classroom.ClassStoreError as err:
            st.warning(plain(err))
            return
        what = f"{meant}s read right" if meant == read else f"{meant}s read as {read}"
        st.markdown(f"**{what}**: {count(summary.confusion[meant, read], 'drawing')}")
        gallery(records, "cell")


def _hardest(summary: classroom.ClassSummary) -> None:
    st.subheader("Hardest drawings")
    if not summary.hardest:
        st.success("Every drawing was read right, and surely.")
        return
    st.caption("Read wrong (surest first), then read right but unsure. Press one to see it full screen.")
    gallery(summary.hardest, "hard")


def gallery(records: list[classroom.DrawingRecord], key: str, columns: int = 6, tile: int = TILE,
            surely: bool = True) -> None:
    """Drawings in a row of tiles, each with what was meant, what was read (and how surely), and by whom."""
    cells = st.columns(columns)
    for i, record in enumerate(records):
        with cells[i % columns]:
            st.image(pixels(record.image / 255.0, scale=3), width=tile,
                     alt=f"A drawing of a {record.intended}, read as {record.predicted}")
            said = "✓" if record.right else f"→ {record.predicted}"
            surely = f" · {sure(record.confidence)}" if surely else ""
            if st.button(f"{record.intended} {said}{surely}", key=f"{key}_{record.id}",
                         help=plain(record.nickname or "anonymous")):
                full_screen(record)


@st.dialog("One drawing", width="large")
def full_screen(record: classroom.DrawingRecord) -> None:
    """The drawing big, and the maps the active model's first convolution layer makes of it."""
    image = record.image / 255.0
    who = plain(record.nickname) if record.nickname else "a student"
    st.markdown(f"By **{who}**: meant **{record.intended}**, the model read **{record.predicted}** "
                f"({sure(record.confidence)}) with {plain(record.model_name)}.")
    big, maps = st.columns([1, 2])
    big.image(pixels(image, scale=12), caption="What the network saw (28x28)", alt=ink_words(image))
    convs = conv_layer_names(predictor().model)
    with maps:
        if not convs:
            st.info(f"The active model, {plain(active_model_path().stem)}, has no convolution layer, "
                    f"so it makes no feature maps.")
            return
        activation = np.moveaxis(predictor().activations(image)[convs[0]], -1, 0)
        st.plotly_chart(map_grid(activation, title=f"Feature maps of {convs[0]}"), key=f"full_maps_{record.id}",
                        alt=feature_maps_alt(activation, convs[0]))


def export_buttons(store: classroom.Store, code: str) -> None:
    """The class's drawings to keep: an npz in MNIST's layout and a CSV of everything sent."""
    st.caption("The drawings as a data set: `x` (N x 28 x 28, like MNIST) and `y` (the digits meant), "
               "plus a table of what was sent, each student by number. From a terminal: `python -m classroom "
               f"export --class {code} --out {code}.npz`.")
    try:
        with tempfile.TemporaryDirectory() as folder:
            npz, table = Path(folder) / f"{code}.npz", Path(folder) / f"{code}.csv"
            n = classroom.export_npz(store, code, npz)
            classroom.export_csv(store, code, table)
            npz_bytes, table_bytes = npz.read_bytes(), table.read_bytes()
    except (classroom.ClassStoreError, OSError) as err:
        st.warning(f"The export could not be made: {plain(err)}")
        return
    left, right = st.columns(2)
    left.download_button(f"Download {count(n, 'drawing')} (.npz)", npz_bytes, npz.name, mime="application/octet-stream",
                         key="export_npz", width="stretch")
    right.download_button("Download the table (.csv)", table_bytes, table.name, mime="text/csv", key="export_csv",
                          width="stretch")
