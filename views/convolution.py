"""Convolution, step by step: one window of one conv layer, multiplied, added up and activated by hand."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_model.engine.network import format_shape
from mnist_model.figures.alt import depth_vector_alt, numbers_alt, output_map_alt, sliding_alt, window_alt
from mnist_model.figures.common import ACTIVATION
from mnist_model.figures.convolution import (
    clicked_cell,
    color_range,
    depth_vector,
    numbers_map,
    output_map,
    sliding_window,
    step_panels,
    window_view,
)
from mnist_model.lab.convolution import ConvMaps, ConvolutionSteps, Geometry, Step, layer_geometry
from server import resources
from ui.current import active_model_path, input_or_test_digit, keep, kept
from ui.text import plain

NO_CONV = ("This model has no convolution layers, so there is no window to slide: it is a densely connected "
           "network that looks at all 784 pixels at once.")
CLICK_MAP = "conv_output_map"
PANEL_HEIGHT = 250
ACTIVATION_TEXT = {"relu": ("ReLU", "keeps a positive number and turns a negative one into 0"),
                   "linear": ("No activation", "in this layer: the number goes through as it is")}


@st.cache_resource(max_entries=4, show_spinner="Preparing this model's convolutions ...")
def _conv_steps(path: str, mtime: float) -> ConvolutionSteps:
    return ConvolutionSteps(resources.get_predictor(path).model)


def conv_steps() -> ConvolutionSteps:
    """The active model's conv layers, compiled once per model file version."""
    return _conv_steps(*resources.model_key(active_model_path()))


@st.cache_resource(max_entries=32, show_spinner=False)
def sliding_animation(layer_input: np.ndarray, output: np.ndarray, geometry: Geometry,
                      titles: tuple[str, str]) -> go.Figure:
    """The animation's figure, built once per input, layer and filter and shared by every session
    (a class that has drawn nothing all sees test image #0): plotly takes about half a second to
    build conv_1's 676 frames, which a click elsewhere on the page must not pay again. At most
    about 4 MB each."""
    return sliding_window(layer_input, output, geometry, titles)


def index_slider(label: str, size: int, key: str, default: int = 0) -> int:
    """A slider over 0..size-1 that survives visits to other pages; none when there is one choice."""
    if size == 1:  # a slider needs two ends
        st.caption(f"{label}: 0 (the only one)")
        return 0
    # the remembered value, clamped for a model whose layer is smaller
    st.session_state[key] = min(st.session_state.get(key, kept(key, default)), size - 1)
    value = st.slider(label, 0, size - 1, key=key)
    keep(key, value)
    return value


def layer_picker(names: list[str], maps: dict[str, ConvMaps]) -> str:
    key = "conv_layer"
    if st.session_state.get(key) not in names:
        st.session_state[key] = kept(key) if kept(key) in names else names[0]
    layer = st.segmented_control("Convolution layer", names, key=key, required=True,
                                 format_func=lambda n: f"{n} → {format_shape(maps[n].output.shape)}")
    keep(key, layer)
    return layer


def move_window_to_click(layer: str) -> None:
    """Callback of the output map: a click on a cell puts the window there."""
    cell = clicked_cell(st.session_state[CLICK_MAP].selection.points)
    if cell is not None:
        for key, value in zip((f"conv_row_{layer}", f"conv_col_{layer}"), cell):
            st.session_state[key] = value
            keep(key, value)


def controls(names: list[str], maps: dict[str, ConvMaps]) -> tuple[str, int, int, int]:
    """Layer, filter, row and column: the position starts where the filter responds most."""
    with st.container(border=True):
        layer = layer_picker(names, maps)
        output = maps[layer].output
        filters, rows, cols = st.columns(3)
        with filters:
            f = index_slider("Filter", output.shape[2], f"conv_filter_{layer}")
        strongest = np.unravel_index(int(np.argmax(output[..., f])), output.shape[:2])
        with rows:
            row = index_slider("Row", output.shape[0], f"conv_row_{layer}", int(strongest[0]))
        with cols:
            col = index_slider("Column", output.shape[1], f"conv_col_{layer}", int(strongest[1]))
    return layer, f, row, col


def show_window(layer: str, maps: ConvMaps, geometry: Geometry, step: Step) -> None:
    left, right = st.columns(2)
    depth = maps.input.shape[2]
    kh, kw = geometry.kernel_size
    with left:
        st.plotly_chart(window_view(maps.input, geometry, step.row, step.col,
                                    f"Input of {layer} · {format_shape(maps.input.shape)}"),
                        key="conv_window", config={"displayModeBar": False},
                        alt=window_alt(maps.input, step.origin, geometry.kernel_size, layer))
        st.caption(f"The red square is the window: the {kh}x{kw} spot of the input this step looks at."
                   if depth == 1 else
                   f"The input has {depth} maps; the window covers the same {kh}x{kw} spot in all of them at once.")
    with right:
        st.plotly_chart(output_map(maps.output[..., step.filter], step.row, step.col,
                                   f"Output map of filter {step.filter} · {format_shape(maps.output.shape[:2])}"),
                        key=CLICK_MAP, on_select=lambda: move_window_to_click(layer), selection_mode="points",
                        config={"displayModeBar": False},
                        alt=output_map_alt(maps.output[..., step.filter], step.row, step.col,
                                           f"Output map of filter {step.filter}"))
        st.caption("Each cell of this map is one window position. Click a cell to move the window there.")


def show_arithmetic(step: Step, input_range: tuple[float, float]) -> None:
    """patch ⊙ kernel = product → sum + bias → activation → value, left to right."""
    kh, kw, depth = step.patch.shape
    shape = f"{kh}x{kw}x{depth}"
    figures = step_panels(step, input_range, PANEL_HEIGHT)
    titles = (f"Patch · {shape}", f"Kernel of filter {step.filter} · {shape}", "Patch × kernel", "Add up, activate")
    alts = (numbers_alt(step.patch, "The patch of the input under the window"),
            numbers_alt(step.kernel, f"The kernel of filter {step.filter}"),
            numbers_alt(step.product, "The patch times the kernel"))
    slices = "" if depth == 1 else f", one {kh}x{kw} slice per input map (point at a cell for its number)"
    texts = (f"The input numbers under the window{slices}.",
             "The filter's weights, learned in training: red ones reward a bright input, blue ones punish it.",
             "Each input number times the weight at the same place.")
    widths = [3, 0.35, 3, 0.35, 3, 3.2]
    # each panel with its title and its words in one column: on a phone the columns stack, and a
    # title must not end up three panels away from its picture
    columns = st.columns(widths)
    for column, title, figure, text, alt, key in zip(columns[0::2], titles, figures, texts, alts,
                                                     ("conv_patch", "conv_kernel", "conv_product")):
        column.container(key=f"{key}_title").markdown(f"**{title}**")  # the style gives titles room for two lines
        column.plotly_chart(figure, key=key, config={"displayModeBar": False}, alt=alt)
        column.caption(text)
    columns[1].container(key="conv_operator_times").markdown("## ×")
    columns[3].container(key="conv_operator_equals").markdown("## =")
    with columns[5]:
        st.markdown(f"**{titles[3]}**")
        show_sum(step)


def show_sum(step: Step) -> None:
    name, explain = ACTIVATION_TEXT.get(step.activation, (plain(step.activation), "the layer's activation gives"))
    st.markdown(f"**Add up** the {step.patch.size} products: **{step.total:.3f}**")
    if step.has_bias:
        st.markdown(f"**Add the bias** of filter {step.filter}: {step.total:.3f} + ({step.bias:.3f}) = "
                    f"**{step.pre_activation:.3f}**")
    else:
        st.markdown("**No bias** in this layer: the sum goes on as it is.")
    st.markdown(f"**{name}** {explain}: **{step.value:.3f}**")
    st.metric(f"Lands at row {step.row}, column {step.col} of map {step.filter}", f"{step.value:.3f}")


def show_slice(step: Step, input_range: tuple[float, float]) -> None:
    """For a deep patch: one input channel's slice with its numbers (first, the one that adds most)."""
    sums = step.product.sum(axis=(0, 1))
    with st.expander(f"See the numbers of one of the {len(sums)} slices"):
        channel = index_slider("Input channel", len(sums), "conv_slice", int(np.argmax(np.abs(sums))))
        figures = (numbers_map(step.patch[..., channel], f"Channel {channel}: patch", ACTIVATION, input_range,
                               height=PANEL_HEIGHT),
                   numbers_map(step.kernel[..., channel], f"Channel {channel}: kernel", height=PANEL_HEIGHT),
                   numbers_map(step.product[..., channel], f"Channel {channel}: patch × kernel", height=PANEL_HEIGHT))
        alts = (numbers_alt(step.patch[..., channel], f"Channel {channel} of the patch"),
                numbers_alt(step.kernel[..., channel], f"Channel {channel} of the kernel"),
                numbers_alt(step.product[..., channel], f"Channel {channel} of the patch times the kernel"))
        for column, figure, alt, key in zip(st.columns(3), figures, alts, ("patch", "kernel", "product")):
            column.plotly_chart(figure, key=f"conv_slice_{key}", config={"displayModeBar": False}, alt=alt)
        st.caption(f"This slice adds {sums[channel]:+.3f} to the sum; the {len(sums)} slices together add "
                   f"{step.total:.3f}.")


def show_vector(step: Step) -> None:
    n = len(step.vector)
    kh, kw, depth = step.patch.shape
    st.plotly_chart(depth_vector(step.vector, step.filter), key="conv_vector", config={"displayModeBar": False},
                    alt=depth_vector_alt(step.vector, step.filter, step.row, step.col))
    if n == 1:
        st.caption("This layer has a single filter, so the patch becomes a single number: a vector of shape (1,).")
        return
    st.caption(f"All {n} filters do the same at this spot, each with its own kernel and bias: the {kh}x{kw}x{depth} "
               f"patch becomes {n} numbers, a vector of shape ({n},). The red bar is filter {step.filter}, "
               f"worked out above.")


def show_layer(steps: ConvolutionSteps, maps: dict[str, ConvMaps]) -> None:
    layer, f, row, col = controls(steps.layer_names, maps)
    layer_maps = maps[layer]
    try:
        geometry = layer_geometry(steps.layer(layer), layer_maps.input.shape[:2])
        step = steps.step(maps, layer, row, col, f)
    except ValueError as err:  # a layer this view does not draw (dilated, grouped)
        st.info(plain(str(err), limit=400))
        return
    st.subheader("1. Where the window is")
    show_window(layer, layer_maps, geometry, step)
    st.subheader("2. Multiply, add up, activate")
    input_range = color_range(layer_maps.input)
    show_arithmetic(step, input_range)
    if step.patch.shape[2] > 1:
        show_slice(step, input_range)
    st.subheader("3. One spot, a whole vector")
    show_vector(step)
    st.subheader("4. Slide it everywhere")
    st.caption("Press Play: the window moves one step at a time, row by row, and each stop fills one cell "
               "of the output map.")
    titles = (f"Input of {layer}" + (" (its maps averaged)" if layer_maps.input.shape[2] > 1 else ""),
              f"Output map of filter {f}")
    st.plotly_chart(sliding_animation(layer_maps.input, layer_maps.output[..., f], geometry, titles),
                    key="conv_animation", config={"displayModeBar": False},
                    alt=sliding_alt(layer_maps.output[..., f], layer, f))


st.title("Convolution, step by step")
current = input_or_test_digit()
steps = conv_steps()
if steps.layer_names:
    st.caption(f"Input: {current.caption or 'your ' + current.source}. A convolution slides a small window over its "
               "input; at every stop it multiplies, adds up, and writes one number per filter into its output.")
    show_layer(steps, steps.maps(current.prep.image))
else:
    st.info(NO_CONV)
