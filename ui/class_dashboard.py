"""The teacher's live dashboard: what the class sent, what the model made of it, export and fine-tune."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import classroom
from mnist_model.figures.common import map_grid, pixels
from mnist_model.figures.evaluation import confusion_heatmap, selected_cell
from mnist_model.lab.inspection import conv_layer_names

from . import class_job
from .current import active_model_path, predictor
from .text import plain

POLL_S = 2.0  # how often the dashboard asks the store for news
CELL_SHOWN = 24  # drawings shown for one square of the confusion matrix
TILE = 84  # px per drawing in a gallery


def show(store: classroom.Store, info: classroom.ClassInfo) -> None:
    live, tune, export = st.tabs(["Live dashboard", "Fine-tune", "Export"])
    with live:
        st.fragment(_live, run_every=POLL_S)(store, info.code)
    with tune:
        class_job.panel(store, info.code)
    with export:
        export_buttons(store, info.code)


def _live(store: classroom.Store, code: str) -> None:
    """Polled: new drawings appear within POLL_S seconds, from whichever server they were sent through."""
    try:
        summary = classroom.class_summary(store, code)
    except classroom.ClassStoreError as err:
        st.warning(plain(err, limit=400))
        return
    joined, sent, accuracy = st.columns(3)
    joined.metric("Students", f"{summary.n_students} sent", f"{summary.n_joined} joined", delta_color="off",
                  delta_arrow="off")
    sent.metric("Drawings", f"{summary.n_drawings}")
    accuracy.metric("Read right", "–" if summary.accuracy is None else f"{summary.accuracy:.0%}")
    if not summary.n_drawings:
        st.info("No drawings yet. When students press Send to class, they appear here.")
        return
    st.plotly_chart(_counts_figure(summary), key="class_counts", config={"displayModeBar": False})
    _confusion(store, code, summary)
    _hardest(summary)


def _counts_figure(summary: classroom.ClassSummary) -> go.Figure:
    """Drawings per intended digit, each bar split into read right and read wrong."""
    right = np.diag(summary.confusion)
    fig = go.Figure([go.Bar(x=list(range(10)), y=right, name="read right", marker_color="#2e7d32"),
                     go.Bar(x=list(range(10)), y=summary.counts - right, name="read wrong", marker_color="#c62828")])
    fig.update_layout(barmode="stack", height=280, margin=dict(l=10, r=10, t=40, b=10),
                      title="Drawings per digit", xaxis=dict(dtick=1, title="the digit meant"), font=dict(size=16))
    return fig


def _confusion(store: classroom.Store, code: str, summary: classroom.ClassSummary) -> None:
    st.subheader("What the model read for each digit meant")
    st.caption("Each row is the digit a student meant, each column what the model read. Click a square to see "
               "those drawings.")
    matrix, cell = st.columns([3, 2])
    with matrix:
        state = st.plotly_chart(confusion_heatmap(summary.confusion, height=480), on_select="rerun",
                                selection_mode="points", key="class_confusion", config={"displayModeBar": False})
    with cell:
        chosen = selected_cell(state.selection)
        if chosen is None:
            st.caption("No square chosen yet.")
            return
        meant, read = chosen
        records = classroom.class_drawings(store, code, intended=meant, predicted=read)
        what = f"{meant}s read right" if meant == read else f"{meant}s read as {read}"
        st.markdown(f"**{what}**: {len(records)} drawings")
        gallery(records[-CELL_SHOWN:], "cell")


def _hardest(summary: classroom.ClassSummary) -> None:
    st.subheader("Hardest drawings")
    if not summary.hardest:
        st.success("Every drawing was read right, and surely.")
        return
    st.caption("Read wrong (surest first), then read right but unsure. Press one to see it full screen.")
    gallery(summary.hardest, "hard")


def gallery(records: list[classroom.DrawingRecord], key: str) -> None:
    """Drawings in a row of tiles, each with what was meant, what was read, and by whom."""
    columns = st.columns(6)
    for i, record in enumerate(records):
        with columns[i % 6]:
            st.image(pixels(record.image / 255.0, scale=3), width=TILE)
            said = "✓" if record.right else f"→ {record.predicted}"
            if st.button(f"{record.intended} {said} · {record.confidence:.0%}", key=f"{key}_{record.id}",
                         help=plain(record.nickname or "anonymous")):
                full_screen(record)


@st.dialog("One drawing", width="large")
def full_screen(record: classroom.DrawingRecord) -> None:
    """The drawing big, and the maps the active model's first convolution layer makes of it."""
    image = record.image / 255.0
    who = plain(record.nickname) if record.nickname else "a student"
    st.markdown(f"By **{who}**: meant **{record.intended}**, the model read **{record.predicted}** "
                f"({record.confidence:.0%} sure) with {plain(record.model_name)}.")
    big, maps = st.columns([1, 2])
    big.image(pixels(image, scale=12), caption="What the network saw (28x28)")
    convs = conv_layer_names(predictor().model)
    with maps:
        if not convs:
            st.info(f"The active model, {plain(active_model_path().stem)}, has no convolution layer, "
                    f"so it makes no feature maps.")
            return
        activation = predictor().activations(image)[convs[0]]
        st.plotly_chart(map_grid(np.moveaxis(activation, -1, 0), title=f"Feature maps of {convs[0]}"),
                        key=f"full_maps_{record.id}")


def export_buttons(store: classroom.Store, code: str) -> None:
    """The class's drawings to keep: an npz in MNIST's layout and a CSV of everything sent."""
    st.caption("The drawings as a data set: `x` (N x 28 x 28, like MNIST) and `y` (the digits meant), "
               "plus a table of what was sent. From a terminal: `python -m classroom export --class "
               f"{code} --out {code}.npz`.")
    with tempfile.TemporaryDirectory() as folder:
        npz, table = Path(folder) / f"{code}.npz", Path(folder) / f"{code}.csv"
        n = classroom.export_npz(store, code, npz)
        classroom.export_csv(store, code, table)
        left, right = st.columns(2)
        left.download_button(f"Download {n} drawings (.npz)", npz.read_bytes(), npz.name,
                             mime="application/octet-stream", key="export_npz", width="stretch")
        right.download_button("Download the table (.csv)", table.read_bytes(), table.name, mime="text/csv",
                              key="export_csv", width="stretch")
