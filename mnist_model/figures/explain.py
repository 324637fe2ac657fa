"""Plotly figures for "Why this answer" and "Switch filters off". Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import ACCENT, MUTED
from .numbers import percent, points

DIMMED_INK = [[0.0, "#000000"], [1.0, "#8a8a8a"]]  # the input in grey, so a map on top stands out
HEAT = [[0.0, "#7b4fc4"], [0.5, "#f0592b"], [1.0, "#ffe600"]]  # opaque: drawn on the ink only (NaN elsewhere)
FOR_AGAINST = [[0.0, "rgba(40,120,255,0.95)"], [0.5, "rgba(40,120,255,0)"], [0.5, "rgba(255,50,30,0)"],
               [1.0, "rgba(255,50,30,0.95)"]]  # blue against, clear for nothing, red for
KNOCKED = "#1f77b4"
_PANELS_MARGIN = dict(l=10, r=10, t=60, b=50)  # room for the panel titles and the colour scales


@dataclass(frozen=True)
class Overlay:
    """One map to draw over the input."""

    title: str  # above the panel
    values: np.ndarray  # (28, 28)
    signed: bool  # True: red for, blue against; False: purple (0) to yellow (the maximum), NaN left clear
    hover: str  # how hover names a value, with a plotly format ("%{z:.0%} of the strongest") or "%{text}"
    text: np.ndarray | None = None  # (28, 28) strings for "%{text}", where a plotly format cannot say it
    ends: tuple[str, str] = ("", "")  # the colour scale's words at its low and high ends ("against 7", "for 7")


def explanation_panels(image: np.ndarray, overlays: list[Overlay], height: int = 360) -> go.Figure:
    """The input in grey, once per overlay, each with its map laid over it, side by side, and its
    colour scale under it.

    Each map is scaled to its own largest value, so a weak map still shows its shape;
    hover gives the raw numbers. NaN values are left clear (the grey input shows). Each
    title breaks after its first word: on a phone three one-line titles would run into each other.
    """
    fig = make_subplots(rows=1, cols=len(overlays), subplot_titles=[o.title.replace(" ", "<br>", 1) for o in overlays],
                        horizontal_spacing=0.03)
    for col, overlay in enumerate(overlays, start=1):
        values = np.asarray(overlay.values, np.float32)
        bound = float(np.nanmax(np.abs(values), initial=0.0)) or 1.0
        low = -bound if overlay.signed else 0.0
        left, right = fig.layout[f"xaxis{'' if col == 1 else col}"].domain
        fig.add_trace(go.Heatmap(z=image, colorscale=DIMMED_INK, zmin=0, zmax=1, showscale=False,
                                 hoverinfo="skip"), row=1, col=col)
        fig.add_trace(go.Heatmap(z=values, colorscale=FOR_AGAINST if overlay.signed else HEAT, text=overlay.text,
                                 zmin=low, zmax=bound, hoverongaps=False,
                                 colorbar=dict(orientation="h", x=(left + right) / 2, len=(right - left) * 0.9,
                                               y=-0.02, yanchor="top", thickness=10, tickvals=[low, bound],
                                               ticktext=list(overlay.ends), ticks="", outlinewidth=0),
                                 showscale=any(overlay.ends),
                                 hovertemplate=f"row %{{y}}, col %{{x}}: {overlay.hover}<extra></extra>"),
                      row=1, col=col)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=col)
        fig.update_yaxes(visible=False, autorange="reversed", constrain="domain",
                         scaleanchor=f"x{'' if col == 1 else col}", row=1, col=col)
    fig.update_layout(height=height, margin=_PANELS_MARGIN)
    return fig


def point_labels(values: np.ndarray, positive: str, negative: str, decimals: int = 1) -> np.ndarray:
    """Hover text for a map of probability changes, in points: ``positive`` for values of 0 and
    up, ``negative`` below, each with ``{points}`` replaced by the value's size ("12.3 points").

    For example ``point_labels(drops, "7 less likely by {points}", "7 likelier by {points}")``.
    """
    values = np.asarray(values, np.float64)
    texts = [(positive if value >= 0 else negative).format(points=f"{abs(value) * 100:.{decimals}f} points")
             for value in values.ravel()]
    return np.array(texts, dtype=object).reshape(values.shape)


def before_after_bars(before: np.ndarray, after: np.ndarray) -> go.Figure:
    """The 10 probabilities with every unit on and with the chosen ones switched off, side by side."""
    digits = [str(i) for i in range(10)]
    fig = go.Figure([
        go.Bar(x=digits, y=before, name="all switched on", marker_color=MUTED,
               hovertemplate="digit %{x}, all on: %{y:.1%}<extra></extra>"),
        go.Bar(x=digits, y=after, name="with yours switched off", marker_color=ACCENT,
               text=[percent(p, 0) if p >= 0.01 else "" for p in after], textposition="outside",
               hovertemplate="digit %{x}, switched off: %{y:.1%}<extra></extra>"),
    ])
    fig.update_layout(barmode="group", height=300, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(range=[0, 1.15], tickformat=".0%"), xaxis=dict(type="category", title="digit"),
                      legend=dict(orientation="h", y=1.12, x=0))
    return fig


def ranking_bars(lead_drop: np.ndarray, probability_drop: np.ndarray, lead: float, unit: str = "filter",
                 top: int = 12, off: tuple[int, ...] = ()) -> go.Figure:
    """The ``top`` units whose switching off shrinks the lead most, largest first.

    A dashed line marks ``lead``, the whole lead: a bar past it (in red) changes the answer on its own.
    Each bar is labelled with how much the lead shrinks, unsigned like the axis ("6.3", not "+6.3",
    which would read as a lead that grows); a unit whose loss makes the lead grow is negative.
    Units already switched off (``off``) are left out: they have nothing more to take.
    """
    lead_drop = np.asarray(lead_drop, np.float64)
    order = [int(i) for i in np.argsort(-lead_drop, kind="stable") if int(i) not in off][:top]
    values = lead_drop[order]
    fig = go.Figure(go.Bar(x=values, y=[f"{unit} {i}" for i in order], orientation="h",
                           marker_color=[ACCENT if 0 < lead <= v else (KNOCKED if v > 0 else MUTED) for v in values],
                           text=[f"{v:.1f}" for v in values], textposition="outside", cliponaxis=False,
                           customdata=[points(-probability_drop[i], 1) for i in order],
                           hovertemplate="%{y}: the lead shrinks by %{x:.2f}<br>"
                                         "the probability changes by %{customdata}<extra></extra>"))
    if 0 < lead <= 1.5 * max(values.max(initial=0.0), 1e-9):
        fig.add_vline(x=lead, line=dict(color=ACCENT, dash="dash"), annotation_text="answer changes",
                      annotation_position="top")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="how much the lead shrinks")
    fig.update_layout(height=110 + 24 * len(order), margin=dict(l=10, r=40, t=30, b=10))
    return fig
