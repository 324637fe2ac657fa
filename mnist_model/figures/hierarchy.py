"""Figures for the spatial hierarchy: a unit's field on the input, the unit on its map, top patches per filter."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .common import ACCENT, ACTIVATION, INK, MUTED, digit_image, square

BLOCK = 3  # a filter's top patches are shown as BLOCK x BLOCK
MIN_PATCH = 8  # smaller patches are enlarged to about this many cells, so the 1-cell gaps look thin


def field_on_input(image: np.ndarray, box: tuple[int, int, int, int], title: str = "",
                   height: int = 300) -> go.Figure:
    """The 28x28 input with a unit's receptive field outlined.

    Args:
        image: (28, 28) values in [0, 1].
        box: (top, left, bottom, right) in pixels, bottom and right exclusive (``unit_field``).
    """
    top, left, bottom, right = box
    fig = digit_image(image, title, height)
    n_rows, n_cols = np.shape(image)
    outside = [(-0.5, n_cols - 0.5, -0.5, top - 0.5), (-0.5, n_cols - 0.5, bottom - 0.5, n_rows - 0.5),
               (-0.5, left - 0.5, top - 0.5, bottom - 0.5), (right - 0.5, n_cols - 0.5, top - 0.5, bottom - 0.5)]
    for x0, x1, y0, y1 in outside:  # the rest of the image dimmed, so the field stands out
        if x1 > x0 and y1 > y0:
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor="black", opacity=0.55, line_width=0)
    fig.add_shape(type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5,
                  line=dict(color=ACCENT, width=3))
    return fig


def unit_on_map(values: np.ndarray, row: int, col: int, title: str = "", height: int = 300) -> go.Figure:
    """A layer's (h, w) map with one unit outlined; a click on any unit selects it.

    Heatmaps send no click events, so an invisible marker sits on every unit: with
    ``st.plotly_chart(..., on_select=..., selection_mode="points")`` a click gives its
    ``customdata`` (row, column).
    """
    h, w = values.shape
    fig = digit_image(values, title, height, colorscale=ACTIVATION, zmin=None, zmax=None)
    rows, cols = np.mgrid[0:h, 0:w]
    fig.add_trace(go.Scatter(x=cols.ravel(), y=rows.ravel(), mode="markers", showlegend=False,
                             customdata=np.stack([rows.ravel(), cols.ravel()], axis=1),
                             marker=dict(size=max(4, 200 // max(h, w)), color="white", opacity=0.01),
                             hovertemplate="unit (%{customdata[0]}, %{customdata[1]})<extra></extra>"))
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                  line=dict(color=ACCENT, width=3))
    fig.update_xaxes(range=[-0.5, w - 0.5])  # the markers would pad the axes otherwise
    fig.update_yaxes(range=[h - 0.5, -0.5])
    fig.update_layout(clickmode="event+select", dragmode=False)
    return fig


def patch_mosaic(patches: np.ndarray, activations: np.ndarray, images: np.ndarray, first: int = 0,
                 cols: int = 8, height: int | None = None) -> go.Figure:
    """Each filter's top patches as a BLOCK x BLOCK square, filters in a grid, strongest patch top left.

    Args:
        patches: (filters, BLOCK * BLOCK, h, w) uint8 crops of the digits (``TopPatches.patches``).
        activations: (filters, BLOCK * BLOCK) the filter's response on each (``TopPatches.activation``);
            a filter that never fires (all 0) gets an empty square.
        images: (filters, BLOCK * BLOCK) each patch's test digit number, shown on hover.
        first: the number of the first filter shown, for the labels.
        cols: filters per row.
    """
    n = len(patches)
    cols = min(cols, n)
    tiles, digits = _blocks(patches, activations, images)
    (side_h, side_w), gap = tiles.shape[1:], max(2, tiles.shape[1] // 6)
    shape = (math.ceil(n / cols) * (side_h + gap), cols * (side_w + gap) - gap)
    z = np.full(shape, np.nan, np.float32)
    custom = np.full(shape, -1, np.int16)  # two bytes a cell: a page of conv_3 stays well under a megabyte
    labels = []
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = gap + r * (side_h + gap), c * (side_w + gap)
        z[top:top + side_h, left:left + side_w] = tiles[i]
        custom[top:top + side_h, left:left + side_w] = digits[i]
        silent = "" if (activations[i] > 0).any() else " (silent)"
        labels.append(dict(x=left + side_w / 2 - 0.5, y=top - gap / 2 - 0.5, text=f"{first + i}{silent}"))
    fig = go.Figure(go.Heatmap(z=z, customdata=custom, colorscale=INK, zmin=0, zmax=1, showscale=False,
                               hoverongaps=False, hovertemplate="test digit #%{customdata}<extra></extra>"))
    for label in labels:
        fig.add_annotation(**label, showarrow=False, font=dict(size=11, color="black"), yanchor="middle")
    square(fig, height or int(40 + 1000 * min(shape[0] / shape[1], 1.0)))
    # no title, so no room kept for one; grey between patches, so white ink at a patch's edge shows where it ends
    return fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor=MUTED)


def _blocks(patches: np.ndarray, activations: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per filter, its patches in a BLOCK x BLOCK square with values in [0, 1], NaN between them and
    where the filter did not fire; and per pixel, the number of the test digit it comes from (-1: none)."""
    scale = max(1, MIN_PATCH // min(patches.shape[2:]))
    patches = patches.repeat(scale, axis=2).repeat(scale, axis=3)
    n, k, h, w = patches.shape
    blocks = np.full((n, BLOCK * (h + 1) - 1, BLOCK * (w + 1) - 1), np.nan, np.float32)
    digits = np.full(blocks.shape, -1, np.int16)
    for i in range(n):
        for j in range(min(k, BLOCK * BLOCK)):
            if activations[i, j] > 0:
                r, c = divmod(j, BLOCK)
                where = np.s_[i, r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w]
                blocks[where] = patches[i, j] / 255.0
                digits[where] = images[i, j]
    return blocks, digits
