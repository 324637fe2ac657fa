"""Plotly figures for a class's drawings. Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import whole_step
from .numbers import count

RIGHT, WRONG = "#2e7d32", "#c62828"
MEANT = "the digit a student meant"  # the same words on the bars, the confusion matrix and their captions
READ = "the digit the model read"


def class_counts_bars(counts: np.ndarray, right: np.ndarray, big: bool = False) -> go.Figure:
    """Drawings per digit meant, each bar split into read right and read wrong, "right/sent" above it.

    Args:
        counts: (10,) drawings per digit meant.
        right: (10,) of those, how many the model read right.
        big: larger type, for a projector.
    """
    counts, right = np.asarray(counts, int), np.asarray(right, int)
    digits = list(range(10))
    size = 22 if big else 15
    top = max(1, int(counts.max(initial=0)))
    words = [f"{d}: {r} of {count(n, 'drawing')} read right" for d, r, n in zip(digits, right, counts)]
    fig = go.Figure([go.Bar(x=digits, y=right, name="read right", marker_color=RIGHT, customdata=words,
                            hovertemplate="%{customdata}<extra></extra>"),
                     go.Bar(x=digits, y=counts - right, name="read wrong", marker_color=WRONG, customdata=words,
                            hovertemplate="%{customdata}<extra></extra>")])
    fig.add_trace(go.Scatter(x=digits, y=counts, mode="text", showlegend=False, hoverinfo="skip",
                             text=[f"{r}/{n}" if n else "" for r, n in zip(right, counts)],
                             textposition="top center", textfont=dict(size=size)))
    fig.update_layout(barmode="stack", height=250 if big else 300, margin=dict(l=10, r=10, t=60, b=10),
                      title=dict(text="Per digit: read right / sent", font=dict(size=size)),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right",
                                  font=dict(size=size - 4)),
                      xaxis=dict(dtick=1, title=dict(text=MEANT, font=dict(size=size - 4)), tickfont=dict(size=size)),
                      yaxis=dict(rangemode="tozero", range=[0, top * 1.3], tick0=0, dtick=whole_step(top),
                                 tickformat="d", title=dict(text="drawings", font=dict(size=size - 4)),
                                 tickfont=dict(size=max(12, size - 6))))
    return fig


def counts_words(counts: np.ndarray, right: np.ndarray) -> str:
    """The bars of ``class_counts_bars`` in words, their text alternative: "1s: 2 of 2 read right; 7s: 0 of 1"."""
    sent = [(d, int(n), int(r)) for d, (n, r) in enumerate(zip(counts, right)) if n]
    if not sent:
        return "No drawings yet."
    return "Read right per digit meant: " + "; ".join(f"{d}s: {r} of {n}" for d, n, r in sent) + "."
