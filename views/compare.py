"""Compare two models: the same input, each model's prediction, probabilities and feature maps side by side."""

from pathlib import Path

import numpy as np
import streamlit as st

from mnist_model.engine.network import format_shape
from mnist_model.engine.storage import ModelFileError
from mnist_model.figures.alt import feature_maps_alt, probabilities_alt
from mnist_model.figures.common import map_grid, pixels, probability_bars
from mnist_model.figures.numbers import ink_words, sure
from mnist_model.lab.inspection import feature_maps, training_only_layers
from server import resources
from ui.ask import describe
from ui.current import active_model_path, input_or_test_digit, keep, kept
from ui.text import plain

SIDES = ("left", "right")
PICTURE = 140  # pixels wide for the 28x28 input
NO_MAPS = ("No layer of this model outputs an image, so it has no feature maps: it is a dense network that "
           "looks at all 784 pixels at once.")


def default_pair(entries) -> tuple[str, str]:
    """The active model, and another: a second bundled model if there is one, else the first other."""
    active = str(active_model_path())
    others = [e for e in entries if str(e.path) != active]
    other = next((e for e in others if e.bundled), others[0] if others else None)
    return active, str(other.path) if other else active


def model_choice(side: str, entries, default: str) -> Path:
    """A model picker whose choice survives visits to other pages."""
    paths = [str(e.path) for e in entries]
    labels = {str(e.path): e.label for e in entries}
    wanted = kept(f"compare_{side}", default)
    index = paths.index(wanted) if wanted in paths else paths.index(default) if default in paths else 0
    chosen = st.selectbox(f"Model on the {side}", paths, index=index, key=f"compare_{side}",
                          format_func=lambda p: labels.get(p, p))
    keep(f"compare_{side}", chosen)
    return Path(chosen)


def show_model(side: str, path: Path, image: np.ndarray) -> int | None:
    """One model's reading of the image: its answer, its probabilities and one layer's feature maps."""
    try:
        predictor = resources.get_predictor(path)
    except ModelFileError as err:
        st.error(f"{plain(err)} Pick another model.")
        return None
    acts = predictor.activations(image)
    *inner, last = predictor.layer_names
    probs = predictor.to_probabilities(acts[last])
    digit = int(probs.argmax())
    st.metric(f"{plain(path.stem)} reads", str(digit), sure(probs[digit]), delta_color="off",
              delta_arrow="off")
    st.plotly_chart(probability_bars(probs, title=""), key=f"compare_probs_{side}", config={"displayModeBar": False},
                    alt=probabilities_alt(probs, f"the probability of each digit, as {path.stem} reads it"))
    skipped = set(training_only_layers(predictor.model))  # their maps equal the layer before
    maps = {name: m for name in inner if name not in skipped and (m := feature_maps(acts[name])) is not None}
    show_maps(side, path, maps, {name: acts[name].shape for name in maps})
    return digit


def show_maps(side: str, path: Path, maps: dict[str, np.ndarray], shapes: dict[str, tuple]) -> None:
    if not maps:
        st.info(NO_MAPS)
        return
    layer = st.selectbox("Feature maps of layer", list(maps), key=f"compare_layer_{side}_{path}",
                         format_func=lambda name: f"{name} ({format_shape(shapes[name])})")
    st.plotly_chart(map_grid(maps[layer], cols=8), key=f"compare_maps_{side}", config={"displayModeBar": False},
                    alt=feature_maps_alt(maps[layer], f"{layer} in {path.stem}"))


def verdict(readings: list[int | None], paths: list[Path]) -> str:
    if None in readings:
        return "One of the models could not be loaded."
    if readings[0] == readings[1]:
        return f"Both models read it as **{readings[0]}**."
    return (f"They disagree: **{plain(paths[0].stem)}** reads **{readings[0]}**, "
            f"**{plain(paths[1].stem)}** reads **{readings[1]}**.")


st.title("Compare two models")
current = input_or_test_digit()
entries = resources.available_models()
if len(entries) < 2:
    st.info("There is only one model so far: train or upload another in the sidebar to compare the two.")
else:
    picture, summary = st.columns([1, 4], vertical_alignment="center")
    with picture.container(key="network_view_compare"):
        st.image(pixels(current.prep.image, scale=1), width=PICTURE,
                 alt=f"The input both models read: {ink_words(current.prep.image)}")
    summary.caption(f"Input: {describe(current)}. Both models see this same 28x28 image; each feature map shows "
                    "where one filter found its pattern.")
    outcome = summary.empty()
    columns = st.columns(2, gap="large")
    chosen, readings = [], []
    for column, side, default in zip(columns, SIDES, default_pair(entries)):
        with column:
            chosen.append(model_choice(side, entries, default))
            readings.append(show_model(side, chosen[-1], current.prep.image))
    outcome.markdown(verdict(readings, chosen))
