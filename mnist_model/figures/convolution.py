"""Plotly figures for the step-by-step convolution. Inputs are plain arrays and a Step; nothing here computes."""

from __future__ import annotations

import functools
import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..lab.convolution import Geometry, Step
from .common import ACCENT, ACTIVATION, DIVERGING, INK, MARGIN, MUTED, map_grid, mosaic, square

SLICE_COLUMNS = 8  # maps per row when an input with many channels is tiled
UNSEEN = "#e6e9ef"  # output cells the window has not reached yet
PADDING = "#f4f5f7"  # the zeros 'same' padding adds around an input
GRID = "#c9ced6"  # the lines between numbered cells
_WINDOW = dict(color=ACCENT, width=3)
CLICK_TRACE = 2  # output_map's trace of invisible markers, one per cell
_PLAY_SECONDS = 12  # one pass over the whole output map, if the browser keeps up
MIN_FRAME_MS = 20  # a browser draws about 50 frames a second at best


def input_colorscale(depth: int) -> str:
    """Ink for a one-channel input (the image), activation colours for feature maps."""
    return INK if depth == 1 else ACTIVATION


def numbers_map(values: np.ndarray, title: str = "", colorscale: str = DIVERGING,
                zrange: tuple[float, float] | None = None, height: int = 240) -> go.Figure:
    """A small 2-D array as coloured cells, each with its number written in it.

    ``zrange`` fixes the colours' (min, max); without it they are centred on zero (weights, products).
    """
    values = np.asarray(values, dtype=float)
    scale = dict(zmid=0.0) if zrange is None else dict(zmin=zrange[0], zmax=zrange[1])
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, showscale=False, texttemplate="%{z:.2f}",
                               textfont=dict(size=13 if values.shape[1] <= 5 else 9), xgap=2, ygap=2,
                               hovertemplate="row %{y}, col %{x}: %{z:.4f}<extra></extra>", **scale))
    fig.update_layout(title=title, plot_bgcolor=GRID)
    square(fig, height)
    fig.update_xaxes(range=[-0.5, values.shape[1] - 0.5])  # no margin around the cells: only the gaps show GRID
    fig.update_yaxes(range=[values.shape[0] - 0.5, -0.5], autorange=False)
    return fig


def step_panels(step: Step, input_range: tuple[float, float], height: int = 240) -> tuple[go.Figure, ...]:
    """The patch, the kernel and their product, each as numbered cells, or as slices for deep inputs.

    ``input_range`` is the colour range of the layer's input (``color_range``), so the patch is
    coloured as the whole input is.
    """
    depth = step.patch.shape[2]
    colors = input_colorscale(depth)
    if depth == 1:
        return (numbers_map(step.patch[..., 0], colorscale=colors, zrange=input_range, height=height),
                numbers_map(step.kernel[..., 0], height=height),
                numbers_map(step.product[..., 0], height=height))
    return (slices(step.patch, colors, None, height), slices(step.kernel, DIVERGING, 0.0, height),
            slices(step.product, DIVERGING, 0.0, height))


def slices(values: np.ndarray, colorscale: str, zmid: float | None, height: int) -> go.Figure:
    """A (kh, kw, depth) block as ``depth`` small kh x kw maps; hover gives each number.

    At most 4 to a row up to 32 slices (8 beyond), so that they stay large in a narrow column,
    which grows up to 1.7 times ``height`` to hold them.
    """
    kh, kw, depth = values.shape
    cols = min(4 if depth <= 32 else 8, math.ceil(math.sqrt(depth)))
    rows = math.ceil(depth / cols)
    aspect = (rows * (kh + 1) - 1) / (cols * (kw + 1) - 1)
    fig = map_grid(np.moveaxis(values, 2, 0), colorscale=colorscale, zmid=zmid, label="input channel",
                   cols=cols, height=int(height * min(max(aspect, 1.0), 1.7)))
    return fig.update_traces(showscale=False)


def window_view(layer_input: np.ndarray, geometry: Geometry, row: int, col: int, title: str = "",
                height: int = 380) -> go.Figure:
    """The layer's input (one map, or every channel tiled) with the window drawn where it stands."""
    image, channel, tiles = _tiled(layer_input)
    depth = layer_input.shape[2]
    lo, hi = color_range(layer_input)
    fig = go.Figure(go.Heatmap(z=image, customdata=channel, colorscale=input_colorscale(depth), zmin=lo, zmax=hi,
                               showscale=False, hoverongaps=False, hovertemplate=(
                                   "row %{y}, col %{x}" if depth == 1 else "input channel %{customdata}")
                               + ": %{z:.3f}<extra></extra>"))
    xs, ys = _window_outline(geometry, row, col, tiles)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=_WINDOW, hoverinfo="skip", showlegend=False))
    fig.update_layout(title=title)
    square(fig, height)
    return _show_padding(fig, image.shape, geometry)


def _tiled(layer_input: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """The input's channels tiled into one picture (a single map stays as it is), each pixel's channel,
    and each tile's top-left corner."""
    h, w, depth = layer_input.shape
    image, channel = mosaic(np.moveaxis(layer_input, 2, 0), cols=SLICE_COLUMNS)
    cols = min(SLICE_COLUMNS, depth)
    return image, channel, [((i // cols) * (h + 1), (i % cols) * (w + 1)) for i in range(depth)]


def _window_outline(geometry: Geometry, row: int, col: int, tiles: list[tuple[int, int]]) -> tuple[list, list]:
    """The window's outline on every tile, as one line with gaps (None) between tiles."""
    top, left = geometry.origin(row, col)
    kh, kw = geometry.kernel_size
    xs, ys = [], []
    for tile_top, tile_left in tiles:
        y0, x0 = tile_top + top - 0.5, tile_left + left - 0.5
        xs += [x0, x0 + kw, x0 + kw, x0, x0, None]
        ys += [y0, y0, y0 + kh, y0 + kh, y0, None]
    return xs, ys


def _show_padding(fig: go.Figure, shape: tuple[int, int], geometry: Geometry, **where) -> go.Figure:
    """Widen the axes by the zeros 'same' padding adds, shown in a pale grey, so the window stays in view."""
    if not geometry.overhangs:
        return fig
    margin = max(geometry.kernel_size)
    fig.update_xaxes(range=[-margin - 0.5, shape[1] + margin - 0.5], **where)
    fig.update_yaxes(range=[shape[0] + margin - 0.5, -margin - 0.5], autorange=False, **where)
    fig.update_layout(plot_bgcolor=PADDING)
    return fig


def output_map(values: np.ndarray, row: int, col: int, title: str = "", height: int = 380) -> go.Figure:
    """One output feature map with the cell at (row, col) ringed; clicking a cell selects it.

    Streamlit returns clicks on scatter points, not on heatmap cells, so every cell carries an
    invisible square marker: its x is the column, its y the row.
    """
    values = np.asarray(values, dtype=float)
    rows, cols = np.indices(values.shape)
    fig = go.Figure(go.Heatmap(z=values, colorscale=ACTIVATION, showscale=False, hoverinfo="skip",
                               **dict(zip(("zmin", "zmax"), color_range(values)))))
    ring_x, ring_y = _square_outline(row, col)
    fig.add_trace(go.Scatter(x=ring_x, y=ring_y, mode="lines", line=_WINDOW, hoverinfo="skip", showlegend=False))
    cell_px = (height - MARGIN["t"] - MARGIN["b"]) / max(values.shape)
    fig.add_trace(go.Scatter(
        x=cols.ravel(), y=rows.ravel(), customdata=values.ravel(), mode="markers", showlegend=False,
        marker=dict(symbol="square", size=max(6.0, 0.9 * cell_px), opacity=0),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="row %{y}, col %{x}: %{customdata:.3f}<extra>click to put the window here</extra>"))
    fig.update_layout(title=title, clickmode="event+select", dragmode=False)
    return square(fig, height)


def clicked_cell(points: list[dict]) -> tuple[int, int] | None:
    """The (row, col) of a click on ``output_map``'s cells, from Streamlit's selected points; None if none."""
    cells = [p for p in points if p.get("curve_number") == CLICK_TRACE and "x" in p and "y" in p]
    return (int(round(cells[0]["y"])), int(round(cells[0]["x"]))) if cells else None


def _square_outline(row: int, col: int) -> tuple[list[float], list[float]]:
    """The outline of output cell (row, col)."""
    return ([col - 0.5, col + 0.5, col + 0.5, col - 0.5, col - 0.5],
            [row - 0.5, row - 0.5, row + 0.5, row + 0.5, row - 0.5])


def depth_vector(vector: np.ndarray, chosen: int, title: str = "", height: int = 220) -> go.Figure:
    """Every filter's value at one position, as bars; the chosen filter's bar in the accent colour."""
    vector = np.asarray(vector, dtype=float)
    colors = [ACCENT if i == chosen else MUTED for i in range(len(vector))]
    fig = go.Figure(go.Bar(y=vector, marker_color=colors, hovertemplate="filter %{x}: %{y:.3f}<extra></extra>"))
    fig.add_vrect(x0=chosen - 0.5, x1=chosen + 0.5, fillcolor=ACCENT, opacity=0.15, line_width=0)  # seen at 0 too
    fig.update_layout(title=title, height=height, margin=MARGIN, bargap=0.15, yaxis=dict(title="value"),
                      xaxis=dict(title=f"filter (0-{len(vector) - 1})", range=[-0.5, len(vector) - 0.5],
                                 dtick=1 if len(vector) <= 16 else None))
    return fig


def sliding_window(layer_input: np.ndarray, output: np.ndarray, geometry: Geometry,
                   titles: tuple[str, str] = ("", ""), height: int = 440) -> go.Figure:
    """The window sliding over the input, row by row, filling the output map cell by cell.

    The animation runs in the browser (plotly frames and a play button): no server work per step.
    The two maps are pictures in the layout, not heatmap traces, which plotly hides while it
    animates (plotly.js issue 4491). A deep input is shown as the mean of its channels.
    """
    shown = layer_input.mean(axis=2)
    rows, cols = output.shape
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    _add_picture(fig, shown, input_colorscale(layer_input.shape[2]), "")
    _add_picture(fig, output, ACTIVATION, "2")
    window, cover, ring, readout = _moving_parts(geometry, output, 0)
    fig.add_trace(go.Scatter(**window, mode="lines", line=_WINDOW, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(**cover, mode="lines", fill="toself", fillcolor=UNSEEN, line=dict(width=1, color=UNSEEN),
                             hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Scatter(**ring, mode="lines", line=_WINDOW, hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Scatter(**readout, x=[(cols - 1) / 2], y=[rows - 0.5 + _readout_band(rows) / 2], mode="text",
                             textfont=dict(size=15), hoverinfo="skip"), row=1, col=2)
    # frames as plain dicts with only what moves: plotly validates a go.Scatter per frame far more slowly
    fig.frames = [dict(data=_moving_parts(geometry, output, k), traces=[0, 1, 2, 3], name=str(k))
                  for k in range(rows * cols)]
    _style_animation(fig, shown.shape, output.shape, geometry, height)
    fig.update_layout(updatemenus=[_play_buttons(max(MIN_FRAME_MS, 1000 * _PLAY_SECONDS / (rows * cols)))])
    return fig


def _readout_band(rows: int) -> float:
    """Rows of room under the output map for the current value."""
    return max(2.0, 0.14 * rows)


def _add_picture(fig: go.Figure, values: np.ndarray, colorscale: str, axis: str) -> None:
    """A map as a picture behind the traces of subplot ``x{axis}``, one value per cell."""
    h, w = values.shape
    fig.add_layout_image(source=picture(values, colorscale), xref=f"x{axis}", yref=f"y{axis}", x=-0.5, y=-0.5,
                         sizex=w, sizey=h, sizing="stretch", xanchor="left", yanchor="top", layer="below")


def color_range(values: np.ndarray) -> tuple[float, float]:
    """The values' range widened to include 0, so that a map of zeros is dark rather than mid-scale."""
    lo, hi = min(float(np.min(values)), 0.0), max(float(np.max(values)), 0.0)
    return lo, max(hi, lo + 1e-6)


def picture(values: np.ndarray, colorscale: str, size: int = 360) -> Image.Image:
    """A 2-D array coloured as ``output_map`` colours it, each value a block of pixels, about ``size``
    pixels across, so that the browser has no reason to blur it."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = color_range(values)
    levels = np.round((values - lo) / (hi - lo) * 255).astype(int)
    scale = max(1, -(-size // max(values.shape)))
    return Image.fromarray(np.kron(_palette(colorscale)[levels], np.ones((scale, scale, 1), np.uint8)))


@functools.cache
def _palette(colorscale: str) -> np.ndarray:
    """256 colours of a plotly colour scale, as uint8 RGB."""
    colors = plotly.colors.sample_colorscale(colorscale, np.linspace(0, 1, 256).tolist(), colortype="tuple")
    return (np.array(colors) * 255).round().astype(np.uint8)


def _moving_parts(geometry: Geometry, output: np.ndarray, k: int) -> list[dict]:
    """What changes when the window reaches output cell ``k`` (row by row): the window, the grey cover
    over cells not reached yet, the ring on the current cell and the value written under the map."""
    rows, cols = output.shape
    row, col = divmod(k, cols)
    xs, ys = _window_outline(geometry, row, col, [(0, 0)])
    ring_x, ring_y = _square_outline(row, col)
    return [dict(x=xs[:-1], y=ys[:-1]),
            dict(x=[col + 0.5, cols - 0.5, cols - 0.5, -0.5, -0.5, col + 0.5, col + 0.5],
                 y=[row - 0.5, row - 0.5, rows - 0.5, rows - 0.5, row + 0.5, row + 0.5, row - 0.5]),
            dict(x=ring_x, y=ring_y),
            dict(text=[f"row {row}, col {col}: {output[row, col]:.3f}"])]


def _style_animation(fig: go.Figure, in_shape: tuple[int, int], out_shape: tuple[int, int], geometry: Geometry,
                     height: int) -> None:
    fig.update_xaxes(visible=False, constrain="domain", showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False, constrain="domain", showgrid=False, zeroline=False)
    fig.update_xaxes(range=[-0.5, in_shape[1] - 0.5], row=1, col=1)
    fig.update_yaxes(scaleanchor="x", range=[in_shape[0] - 0.5, -0.5], row=1, col=1)
    fig.update_xaxes(range=[-0.5, out_shape[1] - 0.5], row=1, col=2)
    fig.update_yaxes(scaleanchor="x2", range=[out_shape[0] - 0.5 + _readout_band(out_shape[0]), -0.5], row=1, col=2)
    _show_padding(fig, in_shape, geometry, row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=64), showlegend=False,
                      plot_bgcolor="rgba(0,0,0,0)")


BUTTON_FONT = 28  # px: plotly sizes its buttons by their text; this makes them 44 px tall, big enough to tap


def _play_buttons(frame_ms: float) -> dict:
    """Play (from where it stopped), pause, and play from the start; frames drawn without a full redraw."""
    def animate(frames, from_current: bool, duration: float) -> dict:
        return dict(method="animate", args=[frames, dict(frame=dict(duration=duration, redraw=False),
                                                         transition=dict(duration=0), mode="immediate",
                                                         fromcurrent=from_current)])
    buttons = [dict(label="▶ Play", **animate(None, True, frame_ms)),
               dict(label="Pause", **animate([None], False, 0)),
               dict(label="Start over", **animate(None, False, frame_ms))]
    return dict(type="buttons", direction="left", buttons=buttons, x=0.0, y=-0.02, xanchor="left", yanchor="top",
                pad=dict(t=4, r=6), showactive=False, font=dict(size=BUTTON_FONT))
