"""Plotly figures and pictures for a model's evaluation. Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .common import ACCENT, MUTED, pixels
from .numbers import count, percent

RIGHT = "#1b7837"  # green: the model said the true digit
WRONG = "#c51b1b"  # red: it said another one
MARGIN = dict(l=10, r=10, t=40, b=10)
_DIGITS = [str(d) for d in range(10)]
_CHOSEN = "rgba(255, 75, 75, 0.35)"  # the accent, see-through: the clicked cell, its count still readable


def confusion_heatmap(confusion: np.ndarray, height: int = 520, true_words: str = "the true digit",
                      said_words: str = "the digit the model said", noun: str = "image") -> go.Figure:
    """The 10x10 confusion matrix, counts written in the cells: right answers green, mistakes red.

    Mistakes are coloured by the log of their count, so 2 stands out from 0 beside 1,000
    right answers. A digit with no images at all (a row of zeros) has no colour and no
    number on its diagonal: nothing was read, neither right nor wrong. Every cell carries an
    invisible marker at (said, true): Plotly reports no selection on a heatmap, but it does
    on markers, so a click on a cell selects it (see ``selected_cell``) and tints it.

    Args:
        confusion: (10, 10) counts, rows the true digit, columns the one said.
        height: in pixels.
        true_words: the rows' axis title, as the caption beside it names them.
        said_words: the columns' axis title.
        noun: what is counted, singular ("drawing"); the hover text says "1 drawing", "2 drawings".
    """
    counts = np.asarray(confusion, dtype=np.int64)
    diagonal = np.eye(len(counts), dtype=bool) & (counts.sum(axis=1) > 0)[:, None]
    mistakes = np.where(~np.eye(len(counts), dtype=bool) & (counts > 0), np.log1p(counts), np.nan)
    fig = go.Figure([
        _cells(np.where(diagonal, counts, np.nan), counts, [[0, "#d9f0d3"], [1, RIGHT]], 0.0, counts.max()),
        _cells(mistakes, counts, [[0, "#fcdcd6"], [1, WRONG]], np.log1p(1), np.nanmax(mistakes, initial=1.0)),
        _cell_markers(counts, true_words, said_words, noun),
    ])
    edges = [-0.5, len(counts) - 0.5]  # fixed: the big invisible markers would pad an automatic range
    fig.update_xaxes(title=said_words, side="top", dtick=1, range=edges, constrain="domain",
                     showgrid=False, zeroline=False)
    fig.update_yaxes(title=true_words, dtick=1, range=edges[::-1], scaleanchor="x", constrain="domain",
                     showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60, b=10), clickmode="event+select",
                      showlegend=False)
    return fig


def _cells(z: np.ndarray, counts: np.ndarray, colorscale: list, zmin: float, zmax: float) -> go.Heatmap:
    """Coloured cells where ``z`` is a number, each showing its count; NaN cells stay empty."""
    text = np.where(np.isnan(z), "", counts.astype(str))
    return go.Heatmap(z=z, text=text, texttemplate="%{text}", colorscale=colorscale, zmin=zmin,
                      zmax=max(float(zmax), zmin + 1e-6), showscale=False, hoverinfo="skip", xgap=1, ygap=1)


def _cell_markers(counts: np.ndarray, true_words: str, said_words: str, noun: str) -> go.Scatter:
    """One invisible marker per cell, as big as the cell: what a click selects and what hover explains."""
    true, said = np.divmod(np.arange(counts.size), len(counts))
    totals = counts.sum(axis=1)
    words = [f"{true_words} {t}, {said_words} {s}: {count(n, noun)}"
             + (f" ({percent(n / totals[t], 1, exact=True)} of the {t}s)" if totals[t] else f" (no {t}s at all)")
             for t, s, n in zip(true, said, counts.ravel())]
    return go.Scatter(
        x=said, y=true, customdata=np.stack([true, said], axis=1), text=words, mode="markers",
        marker=dict(symbol="square", size=38, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color=_CHOSEN)), unselected=dict(marker=dict(opacity=1)),
        hovertemplate="%{text}<extra></extra>")


def selected_cell(selection: Mapping | None) -> tuple[int, int] | None:
    """The (true, said) cell a click on ``confusion_heatmap`` selected, from Streamlit's selection state.

    Only the cells' markers can be selected; each point's x is the digit said, its y the true digit.

    Args:
        selection: ``st.plotly_chart(..., on_select="rerun").selection``, or None.

    Returns:
        The last selected cell, or None when nothing is selected.
    """
    cells = [(p["y"], p["x"]) for p in (selection or {}).get("points", [])
             if p.get("x") in range(10) and p.get("y") in range(10)]
    return (int(cells[-1][0]), int(cells[-1][1])) if cells else None


def class_accuracy_bars(per_class: np.ndarray, height: int = 300) -> go.Figure:
    """Each digit's test accuracy as a bar from 0, the weakest digit highlighted, each labelled with its value.

    The axis starts at 0, so a bar's length is its accuracy: a digit read right half the time
    is half as tall as one read right every time, never a sliver. Differences of tenths of a
    percent between good digits are in the labels, not magnified by a cut axis.
    """
    values = np.nan_to_num(np.asarray(per_class, dtype=float))
    colors = [ACCENT if i == int(values.argmin()) else MUTED for i in range(len(values))]
    labels = [percent(v, 1, exact=True) for v in values]
    fig = go.Figure(go.Bar(x=_DIGITS, y=values, marker_color=colors, text=labels, textposition="outside",
                           cliponaxis=False, customdata=[percent(v, 2, exact=True) for v in values],
                           hovertemplate="digit %{x}: %{customdata} read right<extra></extra>"))
    fig.update_layout(height=height, margin=MARGIN, xaxis=dict(type="category", title="true digit"),
                      yaxis=dict(range=[0, 1.12], title="read right", tickformat=".0%",
                                 tickvals=[0, 0.25, 0.5, 0.75, 1]))
    return fig


def digit_tile(image: np.ndarray, correct: bool, scale: int = 3, border: int = 3) -> np.ndarray:
    """A 28x28 digit (uint8, or float in [0, 1]) as a small RGB picture framed green (read right) or red (wrong)."""
    image = np.asarray(image)
    picture = pixels(image / 255.0 if image.dtype == np.uint8 else image, scale=scale)
    color = np.array(_rgb(RIGHT if correct else WRONG), np.uint8)
    framed = np.empty((picture.shape[0] + 2 * border, picture.shape[1] + 2 * border, 3), np.uint8)
    framed[:] = color
    framed[border:-border, border:-border] = picture
    return framed


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
