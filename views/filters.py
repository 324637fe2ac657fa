"""Filters: the learned kernels, and the input each filter responds to most."""

import numpy as np
import streamlit as st

from mnist_model.figures.alt import kernels_alt, patterns_alt
from mnist_model.figures.common import DIVERGING, map_grid
from mnist_model.lab.inspection import conv_kernels, conv_layer_names, nearly_blank
from server import resources
from ui.current import active_model_path, predictor
from ui.notices import preparing_notice

NO_FILTERS = ("This model has no convolution layers, so it has no filters to show: it is a densely connected "
              "network, whose units look at all of their inputs at once (the whole 784-pixel image, after a "
              "flatten) rather than sliding a small filter over it. The **Feature maps** page shows what each "
              "of its layers makes of your digit, and **Architecture** lists them.")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def show_patterns(layers: list[str]) -> None:
    st.subheader("What each filter responds to")
    st.caption("For every filter, the 28x28 input that excites it most, found by gradient ascent from grey "
               "noise (Deep Learning with Python, 5.4.2). The first convolution finds edges and strokes; "
               "deeper ones combine them into curves and parts of digits.")
    patterns = resources.filter_patterns(active_model_path())
    if patterns is None:
        preparing_notice(active_model_path(), "what each filter responds to")
        return
    tabs = st.tabs([f"{name} ({plural(len(patterns[name]), 'filter')})" for name in layers])
    for tab, name in zip(tabs, layers):
        with tab:
            blank = nearly_blank(patterns[name])
            st.plotly_chart(map_grid(patterns[name], colorscale="Greys_r", label="filter", cols=16,
                                     shared_scale=True, numbered=True), key=f"patterns_{name}",
                            config={"displayModeBar": False}, alt=patterns_alt(patterns[name], name, blank))
            blank_note(name, patterns[name], blank)


def blank_note(layer: str, patterns: np.ndarray, blank: np.ndarray) -> None:
    """Why some squares (``blank``, from ``nearly_blank``) are nearly one even tone: grey (nothing to climb)
    or bright (any ink excites it)."""
    bright = [int(i) for i in blank if np.median(patterns[i]) > 0.75]
    grey = [int(i) for i in blank if i not in bright]
    if grey:
        st.caption(f"{_filters(grey)} of {layer} {'look' if len(grey) > 1 else 'looks'} nearly blank: one even "
                   "grey, a speck at most. Gradient ascent starts from grey noise and can only climb where the "
                   "filter answers (above zero); "
                   f"{'these answered' if len(grey) > 1 else 'this one answered'} almost nowhere, so almost "
                   "nothing changed. That does not make them useless on a real digit: see Feature maps.")
    if bright:
        st.caption(f"{_filters(bright)} of {layer} {'are' if len(bright) > 1 else 'is'} nearly all white: "
                   "gradient ascent found that brightness everywhere excites "
                   f"{'them' if len(bright) > 1 else 'it'} more than any stroke it could draw.")


def _filters(indices: list[int]) -> str:
    """"Filter 4", "Filters 7 and 23", "Filters 1, 2 and 3"."""
    names = [str(i) for i in indices]
    return f"Filter {names[0]}" if len(names) == 1 else f"Filters {', '.join(names[:-1])} and {names[-1]}"


def show_kernels(model, layers: list[str]) -> None:
    st.subheader("The learned kernels")
    layer = st.segmented_control("Layer", layers, default=layers[0], required=True, key="kernel_layer")
    kernels = conv_kernels(model, layer)  # (out, in, kh, kw)
    size = "x".join(map(str, kernels.shape[2:]))
    if kernels.shape[1] == 1:
        over = "the input image" if layer == layers[0] else "its single input channel"
        st.caption(f"{layer}'s {plural(len(kernels), 'kernel')}, each {size} over {over}. Red weights "
                   "add brightness under them, blue subtract it.")
        maps, label, whose = kernels[:, 0], "filter", f"of {layer}"
    else:
        out = filter_picker(layer, len(kernels))
        st.caption(f"Filter {out} of {layer} has one {size} kernel per input channel ({kernels.shape[1]}); "
                   "it adds up what each of them finds in its channel.")
        maps, label, whose = kernels[out], "input channel", f"of filter {out} of {layer}, one per input channel"
    st.plotly_chart(map_grid(maps, colorscale=DIVERGING, label=label, zmid=0.0, cols=16),
                    key="kernels", config={"displayModeBar": False}, alt=kernels_alt(maps, whose))


def filter_picker(layer: str, filters: int) -> int:
    if filters == 1:  # a slider needs two ends
        return 0
    return st.slider("Output filter", 0, filters - 1, 0, key=f"kernel_filter_{layer}")


st.title("Filters")
model = predictor().model
conv_layers = conv_layer_names(model)
if conv_layers:
    show_patterns(conv_layers)
    show_kernels(model, conv_layers)
else:
    st.info(NO_FILTERS)
