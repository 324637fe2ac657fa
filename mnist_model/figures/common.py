"""Plotly figures for the app and notebooks. Inputs are plain arrays; nothing here computes."""

from __future__ import annotations

import base64
import functools
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .numbers import percent

INK = "Greys_r"  # white ink on black, as the network sees it
ACTIVATION = "Viridis"
DIVERGING = "RdBu_r"  # negative weights blue, positive red, zero white
ACCENT = "#ff4b4b"
MUTED = "#9aa5b1"
MARGIN = dict(l=10, r=10, t=40, b=10)
_POOL = "#1f77b4"
_BLOCK_COLORS = {"Conv2D": ACCENT, "Dense": "#2ca02c", "MaxPooling2D": _POOL, "AveragePooling2D": _POOL,
                 "GlobalMaxPooling2D": _POOL, "GlobalAveragePooling2D": _POOL}  # other layers: MUTED


def whole_step(largest: float, ticks: int = 5) -> int:
    """A tick step in whole things (1, 2, 5, 10, 20, ...) giving about ``ticks`` ticks up to ``largest``:
    a count axis never shows half a drawing."""
    rough = max(1.0, float(largest) / ticks)
    power = 10 ** math.floor(math.log10(rough))
    return int(next(step * power for step in (1, 2, 5, 10) if step * power >= rough))


def square(fig: go.Figure, height: int) -> go.Figure:
    """Square pixels, no axes, row 0 at the top: how every image-like figure in the app is laid out."""
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(height=height, margin=MARGIN)
    return fig


class BuiltFigure(go.Figure):
    """A figure whose plotly dict is complete and valid already: ``st.plotly_chart`` and ``to_json`` take it
    as it is.

    A ``go.Figure`` validates every property as it is built: 5 ms for ten bars, on a page that shows new
    bars for every stroke of every student. A ``BuiltFigure`` is filled from a dict validated once.
    """

    def __init__(self, spec: dict):  # not go.Figure's: nothing left to validate
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec

    def to_json(self, *args, **kwargs) -> str:
        import plotly.io

        return plotly.io.to_json(self._spec, *args, **{"validate": False, **kwargs})


def probability_bars(probs: np.ndarray, title: str = "Probability of each digit") -> BuiltFigure:
    """The 10 class probabilities as bars, the winner highlighted.

    The same figure as ``probability_bars_figure`` (a test says so), filled into its validated dict.
    """
    probs = np.asarray(probs, dtype=float)
    template = _bars_template(title)
    bars = {**template["data"][0], "y": probs.tolist(), "marker": {"color": _bar_colors(probs)},
            "text": _bar_texts(probs), "customdata": [percent(p, 2) for p in probs]}
    return BuiltFigure({"data": [bars], "layout": template["layout"]})


def probability_bars_figure(probs: np.ndarray, title: str = "Probability of each digit") -> go.Figure:
    """``probability_bars`` as a validated plotly figure, built property by property."""
    probs = np.asarray(probs, dtype=float)
    fig = go.Figure(go.Bar(x=[str(i) for i in range(10)], y=probs.tolist(), marker_color=_bar_colors(probs),
                           text=_bar_texts(probs), textposition="outside",
                           customdata=[percent(p, 2) for p in probs],
                           hovertemplate="digit %{x}: %{customdata}<extra></extra>"))
    fig.update_layout(title=title, height=300, margin=MARGIN, yaxis=dict(range=[0, 1.15], tickformat=".0%"),
                      xaxis=dict(type="category", title="digit"))
    return fig


@functools.lru_cache(maxsize=32)
def _bars_template(title: str) -> dict:
    """``probability_bars_figure``'s dict for ``title``, validated once; callers copy what they change."""
    return probability_bars_figure(np.full(10, 0.1), title).to_dict()


def _bar_colors(probs: np.ndarray) -> list[str]:
    return [ACCENT if i == int(probs.argmax()) else MUTED for i in range(10)]


def _bar_texts(probs: np.ndarray) -> list[str]:
    return [percent(p, 0) if p >= 0.01 else "" for p in probs]


_HOT = np.array([(0, 0, 0), (120, 0, 0), (230, 40, 0), (255, 170, 0), (255, 255, 160)], np.float32)


def pixels(image: np.ndarray, scale: int = 10, colormap: str = "gray") -> np.ndarray:
    """A 2-D image in [0, 1] as an RGB picture, each pixel a ``scale`` x ``scale`` block.

    A picture costs a fraction of a millisecond where a heatmap figure costs several, which
    matters on the page every stroke redraws. ``colormap`` is "gray" (white ink on black) or
    "hot" (black, red, yellow, white).
    """
    values = np.clip(np.nan_to_num(np.asarray(image, np.float32)), 0.0, 1.0)
    if colormap == "gray":
        rgb = np.repeat((values * 255)[..., None], 3, axis=-1)
    elif colormap == "hot":
        position = values * (len(_HOT) - 1)
        low = np.minimum(position.astype(int), len(_HOT) - 2)
        weight = (position - low)[..., None]
        rgb = _HOT[low] * (1 - weight) + _HOT[low + 1] * weight
    else:
        raise ValueError(f"colormap must be 'gray' or 'hot', got {colormap!r}")
    return np.kron(rgb.round().astype(np.uint8), np.ones((scale, scale, 1), np.uint8))


def png_url(picture: np.ndarray) -> str:
    """A small picture (from ``pixels``) as a PNG data URL, for ``st.image``.

    The page carries it inline: no copy kept in the server's media store, no second request
    from the browser to fetch it, for a picture of a few hundred bytes redrawn on every stroke.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, np.uint8)).save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def digit_image(image: np.ndarray, title: str = "", height: int = 300, colorscale: str = INK,
                zmin: float | None = 0.0, zmax: float | None = 1.0) -> go.Figure:
    """One 2-D image as a heatmap; hover shows row, column and value."""
    fig = go.Figure(go.Heatmap(z=image, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title)
    return square(fig, height)


def preprocessing_steps(prep, height: int = 260, source: str = "your drawing") -> go.Figure:
    """Input ink with its crop box, the crop, the 20x20 fit, and the centred 28x28 result.

    ``source`` names the first panel: "your drawing", "the test digit", "your photo".
    """
    titles = (f"1. {source}", "2. cropped to the ink", "3. fitted into 20x20", "4. centred by mass in 28x28")
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.03)
    panels = (prep.ink, prep.cropped, prep.fitted, prep.image)
    for col, panel in enumerate(panels, start=1):
        if panel is not None:
            fig.add_trace(go.Heatmap(z=panel, colorscale=INK, zmin=0, zmax=1, showscale=False,
                                     hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
                          row=1, col=col)
    if prep.box is not None:
        top, left, bottom, right = prep.box
        fig.add_shape(type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5,
                      line=dict(color=ACCENT, width=2), row=1, col=1)
    if prep.centre_of_mass is not None:
        fig.add_trace(go.Scatter(x=[13.5], y=[13.5], mode="markers", name="centre",
                                 marker=dict(symbol="cross-thin", size=14, line=dict(color=ACCENT, width=2)),
                                 hoverinfo="skip", showlegend=False), row=1, col=4)
    for i in range(1, 5):
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=i)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{'' if i == 1 else i}",
                         constrain="domain", row=1, col=i)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0))
    return fig


def mosaic(maps: np.ndarray, cols: int | None = None, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile (n, h, w) maps into one image with NaN gaps; also return each pixel's map index.

    ``cols`` is at most ``n``: a layer with fewer maps than columns fills one row.
    """
    n, h, w = maps.shape
    cols = min(cols or math.ceil(math.sqrt(n)), n)
    rows = math.ceil(n / cols)
    tiled = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    index = np.full(tiled.shape, -1, dtype=np.int32)
    for i in range(n):
        r, c = divmod(i, cols)
        tiled[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
        index[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = i
    return tiled, index


def map_grid(maps: np.ndarray, title: str = "", shared_scale: bool = True, cols: int | None = None,
             colorscale: str = ACTIVATION, label: str = "channel", height: int | None = None,
             zmid: float | None = None, numbered: bool = False) -> go.Figure:
    """All maps (n, h, w) in one heatmap grid; hover gives the map's number and its raw value.

    With ``shared_scale`` every map uses one colour range, so strong and weak maps compare;
    otherwise each map is stretched to its own range, so every map's pattern shows. With
    ``numbered`` each map carries its number in its top-left corner, as the text names them.
    """
    maps = np.asarray(maps, dtype=np.float32)
    shown = maps if shared_scale else _per_map_scaled(maps)
    tiled, index = mosaic(shown, cols)
    raw, _ = mosaic(maps, cols)
    custom = np.stack([index, raw], axis=-1)
    zrange = {}
    if zmid is not None:
        bound = float(np.nanmax(np.abs(tiled))) or 1.0
        zrange = dict(zmin=-bound, zmax=bound)
    fig = go.Figure(go.Heatmap(z=tiled, customdata=custom, colorscale=colorscale, showscale=shared_scale,
                               hoverongaps=False, **zrange,
                               hovertemplate=f"{label} %{{customdata[0]}}<br>value %{{customdata[1]:.3f}}"
                                             "<extra></extra>"))
    fig.update_layout(title=title)
    if numbered:
        _number_tiles(fig, maps.shape, tiled.shape[1] + 1)
    width_ratio = tiled.shape[0] / tiled.shape[1]
    return square(fig, height or int(120 + 520 * min(width_ratio, 1.4)))


def _number_tiles(fig: go.Figure, shape: tuple, row_width: int, gap: int = 1) -> None:
    """Each map's number in the top-left corner of its tile, white on a dark box: readable on any colour."""
    n, h, w = shape
    cols = max(1, row_width // (w + gap))
    for i in range(n):
        r, c = divmod(i, cols)
        fig.add_annotation(x=c * (w + gap) - 0.5, y=r * (h + gap) - 0.5, text=str(i), showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=10, color="white"),
                           bgcolor="rgba(0,0,0,0.6)", borderpad=1)


def _per_map_scaled(maps: np.ndarray) -> np.ndarray:
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    return (maps - lo) / np.maximum(hi - lo, 1e-8)


def vector_strip(values: np.ndarray, title: str = "", label: str = "unit") -> go.Figure:
    """A 1-D activation (flatten, dense) as bars, one per unit."""
    values = np.asarray(values, dtype=float)
    fig = go.Figure(go.Bar(y=values, marker_color=ACCENT if len(values) <= 64 else MUTED,
                           hovertemplate=f"{label} %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=title, height=220, margin=MARGIN, bargap=0.1,
                      xaxis=dict(title=f"{label} (0-{len(values) - 1})"), yaxis=dict(title="activation"))
    return fig


def training_curves(history: dict[str, list[float]], title: str = "") -> go.Figure:
    """Loss above accuracy, per epoch (or per partial epoch), training and validation; both axes from 0.

    Stacked rather than side by side, so in the narrow sidebar each panel keeps its width and
    no axis title runs into the other panel or the legend, which sits above the plots.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14)
    for row, metric in enumerate(("loss", "accuracy"), start=1):
        for prefix, dash in (("", "solid"), ("val_", "dot")):
            values = history.get(prefix + metric) or []
            if values:
                xs = history.get(prefix + "x") or list(range(1, len(values) + 1))
                fig.add_trace(go.Scatter(x=xs, y=values, mode="lines+markers",
                                         name=("validation " if prefix else "training ") + metric,
                                         line=dict(dash=dash, color=ACCENT if not prefix else "#1f77b4")),
                              row=row, col=1)
    fig.update_xaxes(rangemode="tozero")
    fig.update_xaxes(title="epoch", row=2, col=1)
    fig.update_yaxes(title="loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="accuracy", range=[0, 1.02], tickformat=".0%", row=2, col=1)
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=70 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def timeline_curve(test_accuracy: list[float], epoch: int, train_accuracy: list[float] | None = None) -> go.Figure:
    """Test accuracy after each epoch (training accuracy dotted beside it), the chosen epoch marked.

    After one epoch a convnet already reads about 98% of MNIST, so from 0 the curve would be
    a flat line at the top: the axis starts just below the lowest point, and its title says so.
    """
    epochs = list(range(1, len(test_accuracy) + 1))
    hover = "epoch %{x}: %{y:.2%}<extra></extra>"
    fig = go.Figure(go.Scatter(x=epochs, y=test_accuracy, mode="lines+markers", name="test accuracy",
                               line=dict(color=ACCENT), hovertemplate=hover))
    if train_accuracy:
        fig.add_trace(go.Scatter(x=epochs, y=train_accuracy, mode="lines", name="training accuracy",
                                 line=dict(color=MUTED, dash="dot"), hovertemplate=hover))
    fig.add_vline(x=epoch, line_color="#444", line_dash="dash")
    floor = zoomed_floor([*test_accuracy, *(train_accuracy or [])])
    title = "accuracy" if floor == 0 else f"accuracy (zoomed in: from {floor:.0%})"
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(tickformat=".1%" if floor else ".0%", title=title, range=[floor, 1.0]),
                      xaxis=dict(title="epoch", dtick=1 if len(epochs) <= 10 else None, range=[0.5, len(epochs) + 0.5]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def zoomed_floor(values: list[float], zoom_above: float = 0.9) -> float:
    """Where an accuracy axis starts: 0, or a whole percent just below the lowest value when
    all of them are above ``zoom_above`` (a caller then says the axis is zoomed)."""
    lowest = min(values, default=0.0)
    return 0.0 if lowest <= zoom_above else math.floor(lowest * 100 - 0.5) / 100


def architecture_diagram(rows: list[dict]) -> go.Figure:
    """The layer stack left to right: each layer a block sized by its output, labelled with its shape."""
    fig = go.Figure()
    x = 0.0
    for row in [{"layer": "input", "type": "Input", "output_shape": (28, 28, 1), "params": 0}, *rows]:
        shape = row["output_shape"]
        spatial = min(shape[0], 28) if len(shape) == 3 else 1  # padding may grow it past 28
        depth = shape[-1]
        h = 0.6 + 2.4 * spatial / 28 if len(shape) == 3 else 0.6 + 2.4 * min(depth, 576) / 576
        w = 0.25 + 0.9 * math.log2(depth + 1) / 10 if len(shape) == 3 else 0.25
        color = _BLOCK_COLORS.get(row["type"], MUTED)
        fig.add_shape(type="rect", x0=x, x1=x + w, y0=-h / 2, y1=h / 2, fillcolor=color, opacity=0.8,
                      line=dict(width=0))
        fig.add_annotation(x=x + w / 2, y=h / 2 + 0.15, text=f"<b>{row['layer']}</b>", showarrow=False,
                           yanchor="bottom", font=dict(size=12))
        fig.add_annotation(x=x + w / 2, y=-h / 2 - 0.15, text="x".join(map(str, shape)), showarrow=False,
                           yanchor="top", font=dict(size=11))
        x += w + 0.55
    fig.update_xaxes(visible=False, range=[-0.3, x])
    fig.update_yaxes(visible=False, range=[-2.2, 2.2])
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="rgba(0,0,0,0)")
    return fig
