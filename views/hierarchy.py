"""What each unit sees: a unit's receptive field on the input, and the test digits that excite each filter most."""

from pathlib import Path

import numpy as np
import streamlit as st

from mnist_model.figures.alt import field_alt, patches_alt, unit_map_alt
from mnist_model.figures.hierarchy import BLOCK, field_on_input, patch_mosaic, unit_on_map
from mnist_model.lab.inspection import conv_layer_names
from mnist_model.lab.receptive_field import (
    arithmetic_lines,
    field_row,
    receptive_fields,
    unit_box,
    unit_field,
    window_layer_names,
)
from mnist_model.lab.top_patches import TopPatches, load_or_compute_top_patches
from server import resources
from ui.current import CurrentInput, active_model_path, input_or_test_digit, predictor
from ui.notices import preparing_notice

PAGE = 16  # filters shown at once
NO_CONV = ("This model has no convolution layers, so no unit looks at just a part of the image: every unit of its "
           "first dense layer is wired to all 784 pixels at once.")
FORMULA = "field = field before + (kernel - 1) x jump before;  jump = jump before x stride"


def top_patches_for(path: Path) -> dict[str, TopPatches] | None:
    """The model's top patches, as its preparation stored them (None while it has not)."""
    return resources.stored(
        "top patches", (path,),
        lambda: load_or_compute_top_patches(resources.get_predictor(path).model, path, compute=False))


def pick_from_click(layer: str) -> None:
    """A click on the map moves the row and column sliders to the clicked unit."""
    points = st.session_state[f"rf_map_{layer}"].selection.points
    if points:
        st.session_state[f"rf_row_{layer}"] = int(points[0]["y"])
        st.session_state[f"rf_col_{layer}"] = int(points[0]["x"])


@st.fragment  # moving a slider redraws this part only, not the patches below
def show_unit(current: CurrentInput, rows, layers: list[str]) -> None:
    st.subheader("The receptive field of one unit")
    st.caption("Each unit of a convolution or pooling layer looks at only a square of the input, its receptive "
               "field. A unit one layer up combines several units below it, so it sees a bigger square.")
    map_col, input_col, controls = st.columns(3)
    with controls:
        layer = st.selectbox("Layer", layers, key="rf_layer", format_func=lambda n: f"{n} "
                             f"({'x'.join(map(str, field_row(rows, n).size))} pixels per unit)")
        height, width = field_row(rows, layer).grid
        row = unit_slider("Unit's row", height, f"rf_row_{layer}")
        col = unit_slider("Unit's column", width, f"rf_col_{layer}")
    values = predictor().activations(current.prep.image)[layer].max(axis=-1)
    map_col.plotly_chart(unit_on_map(values, row, col, f"{layer}: strongest filter"),
                         key=f"rf_map_{layer}", on_select=lambda: pick_from_click(layer), selection_mode="points",
                         config={"displayModeBar": False}, alt=unit_map_alt(values, row, col, layer))
    box = unit_field(rows, layer, row, col)
    size = f"{box[2] - box[0]}x{box[3] - box[1]}"
    input_col.plotly_chart(field_on_input(current.prep.image, box, f"Unit ({row}, {col}) sees {size} pixels"),
                           key="rf_input", config={"displayModeBar": False},
                           alt=field_alt(current.prep.image, box, row, col))
    map_col.caption("Each square is a unit, lit by its strongest filter. Click one, or move the sliders.")
    if unit_box(rows, layer, row, col) != box:
        input_col.caption("Part of this unit's field lies past the border, where the layer pads with zeros.")
    st.caption(f"How the field grows, layer by layer: {FORMULA}")
    st.code("\n".join(arithmetic_lines(rows, layer)), language=None)


def unit_slider(label: str, units: int, key: str) -> int:
    if units == 1:  # a slider needs two ends
        return 0
    # the start goes into the session state, not the slider: a click on the map sets that state too, and a
    # widget given both a value and a state makes Streamlit warn (rf_row_conv_3 in the server log)
    st.session_state.setdefault(key, units // 2)
    return st.slider(label, 0, units - 1, key=key)


@st.fragment
def show_top_patches(layers: list[str]) -> None:
    st.subheader("What excites each filter")
    st.caption("For every filter, the 9 MNIST test digits it fires on most, each cut to what the firing unit sees "
               "(strongest first). The first layer's tiny patches are bits of edges and strokes; deeper layers see "
               "more, so theirs show curves and corners, then parts of digits, even whole ones.")
    found = top_patches_for(active_model_path())
    if found is None:
        preparing_notice(active_model_path(), "the test patches that excite each filter")
        return
    layer = st.segmented_control("Convolution layer", layers, default=layers[0], required=True, key="tp_layer")
    patches = found[layer]
    first = filter_page(layer, len(patches.patches))
    shown = slice(first, first + PAGE)
    st.plotly_chart(patch_mosaic(patches.patches[shown], patches.activation[shown], patches.image[shown], first,
                                 cols=8), key=f"tp_{layer}_{first}", config={"displayModeBar": False},
                    alt=patches_alt(patches.patches[shown], patches.activation[shown], first, layer))
    h, w = patches.patches.shape[2:]
    silent = np.flatnonzero(~(patches.activation > 0).any(axis=1))
    note = ""
    if len(silent):
        which = f"Filter {silent[0]} never fires" if len(silent) == 1 else \
            f"Filters {', '.join(map(str, silent))} never fire"
        note = f" {which} on a test digit."
    st.caption(f"Each patch is {h}x{w} pixels, what one unit of {layer} sees; each filter gets a {BLOCK}x{BLOCK} "
               f"square.{note}")


def filter_page(layer: str, filters: int) -> int:
    """The first filter to show: pages of PAGE filters when a layer has more."""
    if filters <= PAGE:
        return 0
    return st.segmented_control("Filters", list(range(0, filters, PAGE)), default=0, required=True,
                                key=f"tp_page_{layer}", format_func=lambda s: f"{s}-{min(s + PAGE, filters) - 1}")


st.title("What each unit sees")
current = input_or_test_digit()
model = predictor().model
conv_layers = conv_layer_names(model)
if conv_layers:
    window_layers = window_layer_names(model)
    if window_layers:
        show_unit(current, receptive_fields(model), window_layers)
    else:
        st.info("No layer of this model keeps a map of the image, so no unit looks at just a part of it.")
    show_top_patches(conv_layers)
else:
    st.info(NO_CONV)
