"""Plotly figures for the shift experiment. Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import ACCENT, ACTIVATION, MUTED
from .numbers import percent

CONV_COLOR = ACCENT
DENSE_COLOR = "#1f77b4"
MARGIN = dict(l=10, r=10, t=40, b=10)


def shift_heatmap(grid: np.ndarray, digit: int, title: str = "", height: int = 360) -> go.Figure:
    """Probability of ``digit`` per offset, (2k+1, 2k+1) from ``shift_grid``; a ring marks the unmoved digit.

    Up on the plot is the digit moved up, right is moved right, as on the screen.
    """
    side = grid.shape[0]
    k = side // 2
    offsets = np.arange(-k, k + 1)
    words = np.array([[f"{movement(dx, dy)}<br>probability of {digit}: {percent(p)}"
                       for dx, p in zip(offsets, row)] for dy, row in zip(offsets, grid)], dtype=object)
    fig = go.Figure(go.Heatmap(
        z=grid, x=offsets, y=offsets, zmin=0.0, zmax=1.0, colorscale=ACTIVATION, text=words,
        colorbar=dict(title=dict(text=f"P({digit})", side="right"), tickformat=".0%", thickness=12),
        hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", hoverinfo="skip", showlegend=False,
                             marker=dict(symbol="circle-open", size=16, color="white", line=dict(width=3))))
    fig.update_xaxes(title="px to the left (-) or right (+)", dtick=4, constrain="domain")
    fig.update_yaxes(title="px up (-) or down (+)", dtick=4, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(title=title, height=height, margin=MARGIN)
    return fig


def movement(dx: int, dy: int) -> str:
    """A shift in words: "6 px left, 3 px down"; "not moved" for (0, 0)."""
    parts = [f"{abs(d)} px {word}" for d, word in ((dx, "right" if dx > 0 else "left"),
                                                   (dy, "down" if dy > 0 else "up")) if d]
    return ", ".join(parts) if parts else "not moved"


def accuracy_curves(shifts: np.ndarray, conv_accuracy: np.ndarray, dense_accuracy: np.ndarray,
                    conv_name: str = "convnet", dense_name: str = "dense network") -> go.Figure:
    """Test accuracy against shift distance, one line per network."""
    fig = go.Figure()
    for values, name, color in ((conv_accuracy, conv_name, CONV_COLOR), (dense_accuracy, dense_name, DENSE_COLOR)):
        fig.add_trace(go.Scatter(x=shifts, y=values, mode="lines+markers", name=name, line=dict(color=color),
                                 hovertemplate=f"{name}<br>" + "moved %{x} px: %{y:.1%}<extra></extra>"))
    fig.update_xaxes(title="digit moved by (px, random direction)", dtick=1)
    fig.update_yaxes(title="test accuracy", tickformat=".0%", range=[0, 1.02])
    fig.update_layout(height=340, margin=MARGIN, legend=dict(orientation="h", y=1.1, x=0))
    return fig


def equivariance_maps(of_shifted: np.ndarray, shifted: np.ndarray, inside: np.ndarray,
                      titles: tuple[str, str, str], height: int = 280) -> list[go.Figure]:
    """Two (h, w) maps, then their difference on the same scale, as three figures (side by side on a
    wide screen, one under another on a phone); outside ``inside`` (near the borders) the difference
    is covered in grey."""
    bound = float(max(of_shifted.max(), shifted.max(), 1e-6))
    difference = np.where(inside, np.abs(of_shifted - shifted), np.nan)
    figures = [go.Figure(go.Heatmap(z=z, zmin=0.0, zmax=bound, colorscale=scale, showscale=False, hoverongaps=False,
                                    hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"))
               for z, scale in ((of_shifted, ACTIVATION), (shifted, ACTIVATION), (difference, "Reds"))]
    figures[2].add_trace(go.Heatmap(z=np.where(inside, np.nan, 1.0), colorscale=[[0, MUTED], [1, MUTED]],
                                    showscale=False, hoverinfo="skip"))
    for fig, title in zip(figures, titles):
        fig.update_xaxes(visible=False, constrain="domain")
        fig.update_yaxes(visible=False, autorange="reversed", constrain="domain", scaleanchor="x")
        fig.update_layout(title=title, height=height, margin=MARGIN)
    return figures


def unit_bars(original: np.ndarray, moved: np.ndarray, height: int = 260) -> go.Figure:
    """A dense layer's units for the digit and for the moved digit, as paired bars."""
    units = np.arange(len(original))
    fig = go.Figure([
        go.Bar(x=units, y=original, name="the digit where it was", marker_color=MUTED,
               hovertemplate="unit %{x}: %{y:.2f}<extra>where it was</extra>"),
        go.Bar(x=units, y=moved, name="moved digit", marker_color=DENSE_COLOR,
               hovertemplate="unit %{x}: %{y:.2f}<extra>moved digit</extra>"),
    ])
    fig.update_layout(barmode="group", bargap=0.15, height=height, margin=MARGIN,
                      legend=dict(orientation="h", y=1.15, x=0),
                      xaxis=dict(title=f"unit (0-{len(units) - 1})"), yaxis=dict(title="activation"))
    return fig
