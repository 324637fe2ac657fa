"""Plotly figures and pictures for a model's evaluation. Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .common import ACCENT, MUTED, pixels, whole_step
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


def class_error_bars(totals: np.ndarray, right: np.ndarray, height: int = 300) -> go.Figure:
    """Each digit's mistakes as a bar from 0, the digit with the most highlighted, each labelled with its count.

    Near the top, accuracy bars from 0 to 100% make 99.0% and 99.7% look alike; the
    mistakes behind them (10 against 3 in a thousand) are bars of very different length,
    on an axis that starts at 0 and counts whole digits.

    Args:
        totals: (10,) test digits of each class.
        right: (10,) of those, how many were read right.
        height: in pixels.
    """
    totals, right = np.asarray(totals, np.int64), np.asarray(right, np.int64)
    wrong = totals - right
    colors = [ACCENT if i == int(wrong.argmax()) and wrong.max() > 0 else MUTED for i in range(len(wrong))]
    words = [f"{d}: {count(w, 'mistake')} in {n:,} ({percent(w / n, 1, exact=True) if n else '–'} read wrong)"
             for d, w, n in zip(_DIGITS, wrong, totals)]
    top = max(1, int(wrong.max(initial=0)))
    fig = go.Figure(go.Bar(x=_DIGITS, y=wrong.tolist(), marker_color=colors, text=[f"{w:,}" for w in wrong],
                           textposition="outside", cliponaxis=False, customdata=words,
                           hovertemplate="%{customdata}<extra></extra>"))
    fig.update_layout(height=height, margin=MARGIN, xaxis=dict(type="category", title="true digit"),
                      yaxis=dict(range=[0, top * 1.15], title="mistakes (test digits read wrong)", tick0=0,
                                 dtick=whole_step(top), tickformat="d"))
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
