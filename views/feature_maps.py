"""Feature maps: every layer's output for the current input, from one forward pass."""

import numpy as np
import streamlit as st

from mnist_model.figures import digit_image, map_grid, probability_bars, vector_strip
from mnist_model.network import format_shape
from mnist_model.preprocess import canvas_to_mnist
from ui import resources
from ui.current import CurrentInput, get_input, predictor

st.title("Feature maps")
current = get_input()
if current is None or current.prep.empty:
    images, labels = resources.test_images()
    current = CurrentInput("test digit", canvas_to_mnist(images[0]), int(labels[0]), "test image #0")
    st.info("Nothing drawn yet, so here is MNIST test image #0. Draw a digit on the **Draw & predict** "
            "page and come back to see how the network reads yours.")

pred = predictor()
acts = pred.activations(current.prep.image)
probs = acts[pred.layer_names[-1]]
spatial = [name for name in pred.layer_names if acts[name].ndim == 3]

st.caption(f"Input: {current.source} {current.caption} · predicted **{int(probs.argmax())}** "
           f"({probs.max():.0%}). Each small square is one channel: where it is bright, "
           "the filter found its pattern.")

with st.container(border=True):
    image_col, zoom_col, controls = st.columns([1, 1, 1])
    with controls:
        layer = st.selectbox("Look closer at layer", spatial, key="zoom_layer",
                             format_func=lambda n: f"{n} ({format_shape(acts[n].shape)})")
        channel = st.slider("Channel", 0, acts[layer].shape[-1] - 1, 0, key=f"zoom_channel_{layer}")
        shared = st.toggle("One colour scale per layer", value=True, key="shared_scale",
                           help="On: compare channels' strength. Off: each channel stretched to show its pattern.")
        best = np.argsort(acts[layer].max(axis=(0, 1)))[::-1][:5]
        st.caption(f"Strongest channels of {layer}: {', '.join(map(str, best))}")
    image_col.plotly_chart(digit_image(current.prep.image, "Input (28x28)", height=300), key="fm_input")
    zoom_col.plotly_chart(digit_image(acts[layer][..., channel], f"{layer}, channel {channel}", height=300,
                                      colorscale="Viridis", zmin=None, zmax=None), key="fm_zoom")

for name in pred.layer_names:
    out = acts[name]
    heading = f"{name} · {format_shape(out.shape)}"
    if out.ndim == 3:
        st.subheader(heading)
        st.plotly_chart(map_grid(out.transpose(2, 0, 1), shared_scale=shared,
                                 cols=8 if out.shape[-1] <= 32 else 16),
                        key=f"fm_{name}", config={"displayModeBar": False})
    elif name == pred.layer_names[-1]:
        st.subheader(f"{name} · softmax over 10 digits")
        st.plotly_chart(probability_bars(out, title=""), key=f"fm_{name}", config={"displayModeBar": False})
    else:
        st.subheader(heading)
        st.plotly_chart(vector_strip(out), key=f"fm_{name}", config={"displayModeBar": False})
