"""Feature maps: every layer's output for the current input, from one forward pass."""

import numpy as np
import streamlit as st

from mnist_model.engine.network import format_shape
from mnist_model.figures.alt import feature_maps_alt, one_map_alt, probabilities_alt, units_alt
from mnist_model.figures.common import digit_image, map_grid, probability_bars, vector_strip
from mnist_model.figures.numbers import ink_words, sure
from mnist_model.lab.inspection import feature_maps, training_only_layers
from ui.ask import describe
from ui.current import CurrentInput, input_or_test_digit, predictor

NO_MAPS = ("No layer of this model outputs an image, so there are no feature maps to show: it has no "
           "convolution layers and is a densely connected network that looks at all 784 pixels at once. "
           "Below, each layer's output is a row of numbers, one per unit.")


def zoom_panel(current: CurrentInput, maps: dict[str, np.ndarray], acts: dict[str, np.ndarray]) -> bool:
    """One channel of one layer, large; returns whether grids share one colour scale."""
    with st.container(border=True):
        image_col, zoom_col, controls = st.columns([1, 1, 1])
        with controls:
            layer = st.selectbox("Look closer at layer", list(maps), key="zoom_layer",
                                 format_func=lambda n: f"{n} ({format_shape(acts[n].shape)})")
            channel = channel_picker(layer, len(maps[layer]))
            shared = st.toggle("One colour scale per layer", value=True, key="shared_scale",
                               help="On: compare channels' strength. Off: each channel stretched to show its pattern.")
            best = np.argsort(maps[layer].max(axis=(1, 2)))[::-1][:5]
            st.caption(f"Strongest channels of {layer}: {', '.join(map(str, best))}")
        image_col.plotly_chart(digit_image(current.prep.image, "Input (28x28)", height=300), key="fm_input",
                               alt=f"The input the network reads: {ink_words(current.prep.image)}.")
        zoom_col.plotly_chart(digit_image(maps[layer][channel], f"{layer}, channel {channel}", height=300,
                                          colorscale="Viridis", zmin=None, zmax=None), key="fm_zoom",
                              alt=one_map_alt(maps[layer][channel], f"Channel {channel} of {layer}"))
    return shared


def channel_picker(layer: str, channels: int) -> int:
    if channels == 1:  # a slider needs two ends
        st.caption(f"{layer} has a single channel.")
        return 0
    return st.slider("Channel", 0, channels - 1, 0, key=f"zoom_channel_{layer}")


def show_layer(name: str, out: np.ndarray, maps: np.ndarray | None, shared: bool, training_only: bool) -> None:
    st.subheader(f"{name} · {format_shape(out.shape)}")
    if training_only:
        st.caption("The same as its input: this layer only acts while the network trains.")
    elif maps is not None:
        st.plotly_chart(map_grid(maps, shared_scale=shared, cols=8 if len(maps) <= 32 else 16, numbered=True),
                        key=f"fm_{name}", config={"displayModeBar": False}, alt=feature_maps_alt(maps, name))
    else:
        st.plotly_chart(vector_strip(out), key=f"fm_{name}", config={"displayModeBar": False},
                        alt=units_alt(out, name))


st.title("Feature maps")
current = input_or_test_digit()
pred = predictor()
acts = pred.activations(current.prep.image)
*inner, last = pred.layer_names
probs = pred.to_probabilities(acts[last])
training_only = training_only_layers(pred.model)
maps = {name: m for name in inner if (m := feature_maps(acts[name])) is not None}

how_to_read = " Each small square is one channel: where it is bright, the filter found its pattern." if maps else ""
st.caption(f"Input: {describe(current)} · predicted **{int(probs.argmax())}** "
           f"({sure(probs.max())}).{how_to_read}")
if not maps:
    st.info(NO_MAPS)
shared = zoom_panel(current, maps, acts) if maps else True
for name in inner:
    show_layer(name, acts[name], maps.get(name), shared, name in training_only)
st.subheader(f"{last} · softmax over 10 digits" if pred.softmax_in_model
             else f"{last} · 10 logits, turned into probabilities by a softmax")
st.plotly_chart(probability_bars(probs, title=""), key=f"fm_{last}", config={"displayModeBar": False},
                alt=probabilities_alt(probs))
