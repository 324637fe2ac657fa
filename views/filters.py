"""Filters: the learned 3x3 kernels, and the input each filter responds to most."""

import streamlit as st

from mnist_model.figures import DIVERGING, map_grid
from mnist_model.inspection import conv_kernels, conv_layer_names
from ui import resources
from ui.current import active_model_path, predictor

st.title("Filters")
model = predictor().model
layers = conv_layer_names(model)

st.subheader("What each filter responds to")
st.caption("For every filter, the 28x28 input that excites it most, found by gradient ascent from "
           "grey noise (Deep Learning with Python, 5.4.2). conv_1 finds edges and strokes; deeper "
           "layers combine them into curves and parts of digits.")
bar = st.empty()
patterns = resources.filter_patterns(
    active_model_path(), progress=lambda done, layer: bar.progress(done, text=f"Computing {layer} patterns ..."))
bar.empty()
tabs = st.tabs([f"{name} ({len(patterns[name])} filters)" for name in layers])
for tab, name in zip(tabs, layers):
    with tab:
        st.plotly_chart(map_grid(patterns[name], colorscale="Greys_r", label="filter", cols=16,
                                 shared_scale=True), key=f"patterns_{name}", config={"displayModeBar": False})

st.subheader("The learned kernels")
layer = st.segmented_control("Layer", layers, default=layers[0], required=True, key="kernel_layer")
kernels = conv_kernels(model, layer)  # (out, in, 3, 3)
if kernels.shape[1] == 1:
    st.caption(f"{layer}'s {len(kernels)} kernels, each 3x3 over the input image. Red weights add "
               "brightness under them, blue subtract it.")
    maps, label = kernels[:, 0], "filter"
else:
    out = st.slider("Output filter", 0, len(kernels) - 1, 0, key=f"kernel_filter_{layer}")
    st.caption(f"Filter {out} of {layer} has one 3x3 kernel per input channel ({kernels.shape[1]}); "
               "it adds up what each of them finds in its channel.")
    maps, label = kernels[out], "input channel"
st.plotly_chart(map_grid(maps, colorscale=DIVERGING, label=label, zmid=0.0, cols=16),
                key="kernels", config={"displayModeBar": False})
