"""Shift a digit: a convnet keeps reading a moved digit, a dense network of the same size loses it."""

from pathlib import Path

import numpy as np
import streamlit as st

from mnist_model.engine.storage import PRETRAINED_DENSE, PRETRAINED_MODEL
from mnist_model.figures.alt import equivariance_alts, shift_alt, shift_curves_alt, unit_bars_alt
from mnist_model.figures.common import pixels
from mnist_model.figures.numbers import ink_words, percent, sure
from mnist_model.figures.shift import accuracy_curves, equivariance_maps, movement, shift_heatmap, unit_bars
from mnist_model.lab.inspection import conv_layer_names
from mnist_model.lab.shift import MAX_SHIFT, conv_equivariance, hidden_units, shift_image, similarity
from server import resources
from ui import invariance
from ui.ask import describe
from ui.current import active_model_path, input_or_test_digit, predictor
from ui.notices import preparing_notice
from ui.text import plain

SURE = 0.5  # a probability above this counts as "still reads the digit"
PICTURE = 168  # pixels wide for a 28x28 picture


def model_pair() -> tuple[Path, Path]:
    """(convnet, dense network): the active model and the bundled dense one, or the bundled convnet and
    the active model when it has no convolution layers."""
    if conv_layer_names(predictor().model):
        return active_model_path(), PRETRAINED_DENSE
    st.info(f"The active model, **{plain(active_model_path().stem)}**, has no convolution layers, so here it "
            f"plays the dense network against the bundled convnet, **{PRETRAINED_MODEL.stem}**.")
    return PRETRAINED_MODEL, active_model_path()


def network_name(path: Path, kind: str) -> str:
    """"classic (convnet)", or only "dense network" where the file's name already says the kind."""
    return kind if path.stem in kind.split() else f"{path.stem} ({kind})"


def pick_digit(read: int, label: int | None) -> int:
    """The digit whose probability is mapped: the convnet's reading of the unmoved input unless chosen."""
    options = [None, *range(10)]
    choice = st.columns([1, 2])[0].selectbox(
        "Probability of", options, key="shift_digit",
        format_func=lambda d: f"the digit the convnet reads ({read})" if d is None else str(d),
        help=f"The true label of this test digit is {label}." if label is not None else None)
    return read if choice is None else choice


def heatmaps(image: np.ndarray, conv: Path, dense: Path, digit: int, read: int) -> None:
    st.subheader("Move the digit around")
    what = (f"how sure the network is that it is still a {digit}" if digit == read else
            f"the probability the network gives {digit} (it reads the unmoved digit as {read})")
    st.caption(f"Each square is the digit moved that many pixels (up to {MAX_SHIFT} each way) and its colour is "
               f"{what}. The ring marks the digit where it was.")
    grids = [invariance.grid(path, image, digit) for path in (conv, dense)]
    columns = st.columns(2)
    for column, grid_, path, kind, key in zip(columns, grids, (conv, dense), ("convnet", "dense network"),
                                              ("shift_conv", "shift_dense")):
        name = network_name(path, kind)
        column.plotly_chart(shift_heatmap(grid_, digit, name), key=key, config={"displayModeBar": False},
                            alt=shift_alt(grid_, digit, name, SURE))
    kept = [int((g > SURE).sum()) for g in grids]
    st.caption(f"A probability of {digit} over {SURE:.0%}: the convnet at **{kept[0]}** of {grids[0].size} "
               f"positions, the dense network at **{kept[1]}**.")


@st.fragment
def one_shift(image: np.ndarray, conv: Path, dense: Path) -> None:
    st.subheader("Pick one shift")
    right, down = st.columns(2)
    dx = right.slider("Left (-) or right (+), px", -MAX_SHIFT, MAX_SHIFT, 4, key="shift_dx")
    dy = down.slider("Up (-) or down (+), px", -MAX_SHIFT, MAX_SHIFT, 3, key="shift_dy")
    moved = shift_image(image, dx, dy)
    picture, conv_col, dense_col = st.columns(3)
    with picture.container(key="network_view_shift"):  # the style shows these pictures pixel by pixel
        st.image(pixels(moved, scale=1), caption=movement(dx, dy), width=PICTURE,
                 alt=f"The digit {movement(dx, dy)}: {ink_words(moved)}")
    for column, path, kind in ((conv_col, conv, "convnet"), (dense_col, dense, "dense network")):
        probs = invariance.probabilities(path)(moved[None])[0]
        column.metric(f"{plain(network_name(path, kind))} reads", str(int(probs.argmax())),
                      sure(probs.max()), delta_color="off", delta_arrow="off")
    equivariance(image, conv, dx, dy)
    dense_units(image, dense, dx, dy)


def equivariance(image: np.ndarray, conv: Path, dx: int, dy: int) -> None:
    st.subheader("Inside the convnet: the maps move with the digit")
    try:
        result = conv_equivariance(resources.get_predictor(conv).model, image, dx, dy)
    except ValueError:
        st.info("This convnet's first convolution does not slide over the 28x28 picture one pixel at a time, "
                "so its maps cannot be compared pixel by pixel.")
        return
    channel = int(result.shifted.max(axis=(1, 2)).argmax())
    titles = ("of the moved digit", "of the digit, then moved", "difference (white: none)")
    st.caption(f"{result.layer}, channel {channel}: the first layer's map of the moved digit is the map of the digit, "
               f"moved the same way. The same filter slides over every spot, so it finds a stroke wherever it is.")
    figures = equivariance_maps(result.of_shifted[channel], result.shifted[channel], result.inside, titles)
    alts = equivariance_alts(result.of_shifted[channel], result.shifted[channel], result.inside,
                             f"{result.layer}'s map {channel}", movement(dx, dy))
    for i, (column, figure, alt) in enumerate(zip(st.columns(3), figures, alts)):  # on a phone, one under another
        column.plotly_chart(figure, key=f"shift_equivariance_{i}", config={"displayModeBar": False}, alt=alt)
    st.caption(f"Away from the borders (grey) the largest difference over all {len(result.shifted)} channels is "
               f"**{result.max_difference:.4f}**.")


def dense_units(image: np.ndarray, dense: Path, dx: int, dy: int) -> None:
    st.subheader("Inside the dense network: the units change")
    try:
        original, moved = hidden_units(resources.get_predictor(dense).model, image, dx, dy)
    except ValueError:
        st.info("This dense network has no hidden layer of units to look at.")
        return
    match = similarity(original, moved)
    if dx == dy == 0:
        st.caption(f"The digit has not moved, so the pattern of the dense network's {len(original)} units matches "
                   f"**{percent(match, 0, exact=True)}**: it is the same pattern. Move the sliders to see it change.")
    else:
        st.caption("Each unit of the dense network is wired to fixed pixels, so moved ink lands on other weights "
                   f"and the units answer differently: the pattern of its {len(original)} units matches only "
                   f"**{percent(match, 0, exact=True)}** (100% would be unchanged).")
    st.plotly_chart(unit_bars(original, moved), key="shift_units", config={"displayModeBar": False},
                    alt=unit_bars_alt(original, moved, match))


def curves(conv: Path, dense: Path) -> None:
    st.subheader("All 10,000 test digits, moved")
    result = invariance.shift_curves(conv, dense)
    if result is None:
        preparing_notice(conv if conv != PRETRAINED_MODEL else dense, "the accuracy against shift")
        return
    at = min(6, int(result.shifts[-1]))
    st.caption(f"Every MNIST test digit moved the same number of pixels in a random direction. At {at} px the "
               f"convnet still reads **{percent(result.conv_accuracy[at], 0, exact=True)}** of them, the dense "
               f"network **{percent(result.dense_accuracy[at], 0, exact=True)}**.")
    names = f"{conv.stem} (convnet)", f"{dense.stem} (dense)"
    st.plotly_chart(accuracy_curves(result.shifts, result.conv_accuracy, result.dense_accuracy, *names),
                    key="shift_curves", config={"displayModeBar": False},
                    alt=shift_curves_alt(result.shifts, result.conv_accuracy, result.dense_accuracy, *names))


st.title("Shift a digit")
current = input_or_test_digit()
conv_path, dense_path = model_pair()
st.caption(f"Input: {describe(current)}. A convnet (**{plain(conv_path.stem)}**) against "
           f"a dense network with about as many weights (**{plain(dense_path.stem)}**): what happens when the digit "
           f"moves?")
reading = int(invariance.probabilities(conv_path)(current.prep.image[None]).argmax())
chosen = pick_digit(reading, current.label)
heatmaps(current.prep.image, conv_path, dense_path, chosen, reading)
one_shift(current.prep.image, conv_path, dense_path)
curves(conv_path, dense_path)
