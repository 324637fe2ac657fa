"""Test accuracy against training-set size for the convnet and the dense network."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from ..lab.data_efficiency import NETWORK_NAMES, DataEfficiency, Run
from .common import ACCENT

COLORS = {"convnet": ACCENT, "dense": "#1f77b4"}
METRICS = ("accuracy", "error")
_ERROR_TICKS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def accuracy_vs_size(results: DataEfficiency, live: Sequence[Run] = (), metric: str = "accuracy",
                     height: int = 420) -> go.Figure:
    """Each seed's run as a dot, the mean over seeds as a line, on a log axis of training images.

    Args:
        results: the experiment's runs.
        live: extra runs (trained in the app) drawn as stars.
        metric: "accuracy" (linear, in %, from 0) or "error" (the share of test digits got
            wrong, on a log axis, which spreads out the differences near 99%).
        height: figure height in pixels.

    Raises:
        ValueError: ``metric`` is not one of METRICS.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    value = (lambda a: a) if metric == "accuracy" else (lambda a: 1.0 - a)
    fig = go.Figure()
    for architecture in COLORS:
        _add_network(fig, results, architecture, value)
        _add_live(fig, [r for r in live if r.architecture == architecture], architecture, value)
    sizes = sorted({*results.sizes, *(r.size for r in live)})
    fig.update_xaxes(type="log", title="training images", tickvals=sizes, ticktext=[f"{s:,}" for s in sizes])
    if metric == "accuracy":
        fig.update_yaxes(title="test accuracy", tickformat=".0%", range=[0, 1.02])  # "error" is the zoomed view
    else:
        fig.update_yaxes(type="log", title="test digits got wrong", tickformat=".1~%", tickvals=_ERROR_TICKS)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def _add_network(fig: go.Figure, results: DataEfficiency, architecture: str, value) -> None:
    """One network's dots (every seed) and line (the mean)."""
    sizes, per_seed = results.sizes, results.accuracies(architecture)
    xs = [size for size, values in zip(sizes, per_seed) for _ in values]
    ys = [value(a) for values in per_seed for a in values]
    name, color = NETWORK_NAMES[architecture], COLORS[architecture]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"{name}, each run", legendgroup=architecture,
                             showlegend=False, marker=dict(color=color, size=7, opacity=0.45),
                             hovertemplate=f"{name}, %{{x:,}} images: %{{y:.2%}}<extra>one run</extra>"))
    fig.add_trace(go.Scatter(x=sizes, y=[value(a) for a in results.mean_accuracy(architecture)],
                             mode="lines+markers", name=name, legendgroup=architecture,
                             line=dict(color=color, width=3), marker=dict(color=color, size=9),
                             hovertemplate=f"{name}, %{{x:,}} images: %{{y:.2%}}<extra>mean</extra>"))


def _add_live(fig: go.Figure, runs: Sequence[Run], architecture: str, value) -> None:
    if not runs:
        return
    name, color = NETWORK_NAMES[architecture], COLORS[architecture]
    fig.add_trace(go.Scatter(x=[r.size for r in runs], y=[value(r.test_accuracy) for r in runs], mode="markers",
                             name=f"your {name}", legendgroup=architecture,
                             marker=dict(color=color, size=16, symbol="star", line=dict(color="black", width=1)),
                             hovertemplate=f"your {name}, %{{x:,}} images: %{{y:.2%}}<extra></extra>"))
