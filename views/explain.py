"""Why this answer: Grad-CAM, occlusion and integrated gradients, side by side on the current input."""

import numpy as np
import streamlit as st

from mnist_model.figures.alt import overlay_alt
from mnist_model.figures.explain import Overlay, explanation_panels, point_labels
from mnist_model.figures.numbers import percent, points, sure
from mnist_model.lab.explain import (
    MIN_CAM_SIDE,
    OCCLUSION_PATCH,
    Attribution,
    OnInk,
    cam_layer,
    grad_cam,
    integrated_gradients,
    occlusion,
    on_ink,
    on_pixels,
    spread,
)
from mnist_model.lab.inspection import conv_layer_names
from server import resources
from ui.ask import describe, switchboard
from ui.current import active_model_path, input_or_test_digit, predictor

PATCHES = (4, 6, 8, 10)  # side of the square a student can pick, in pixels
ADDS_UP = 0.01  # integrated gradients' shares within a point of the change "add up"; further off, "about"


def pick_digit(read: int, label: int | None) -> int:
    """The class to explain: the network's answer unless the student picks another."""
    options = [None, *range(10)]
    choice = st.selectbox("Explain the probability of", options, key="explain_digit",
                          format_func=lambda d: f"its answer ({read})" if d is None else str(d),
                          help=None if label is None else f"The true label of this test digit is {label}.")
    return read if choice is None else choice


def pick_cam_layer(convs: list[str], shapes: dict[str, tuple]) -> str:
    """The Grad-CAM layer: the deepest conv with a map fine enough to point at strokes, unless picked."""
    best = cam_layer(predictor().model)
    layer = st.segmented_control("Grad-CAM on", convs, default=best, key=f"explain_layer_{'|'.join(convs)}",
                                 format_func=lambda n: f"{n} ({shapes[n][0]}x{shapes[n][1]})") or best
    coarse = [n for n in convs[convs.index(best) + 1:] if min(shapes[n]) < MIN_CAM_SIDE]
    if layer in coarse:
        st.caption(f"{layer}'s map is only {shapes[layer][0]}x{shapes[layer][1]}: each square stands for a big "
                   f"part of the image, too coarse to point at a stroke. Compare it with {best}.")
    elif coarse:
        st.caption(f"Grad-CAM uses {best}: {', '.join(coarse)} comes later and knows more, but its "
                   f"{shapes[coarse[0]][0]}x{shapes[coarse[0]][1]} map is too coarse to point at a stroke.")
    return layer


@st.cache_data(max_entries=64, show_spinner=False)
def _maps(model_key: tuple, image: np.ndarray, digit: int, layer: str | None,
          patch: int) -> tuple[np.ndarray | None, np.ndarray, Attribution]:
    """The three maps, kept per input, so changing a choice and changing it back costs nothing."""
    model = resources.get_predictor(model_key[0]).model
    cam = on_pixels(grad_cam(model, image, digit, layer), model, layer) if layer else None
    drops = occlusion(switchboard(model_key[0]).probabilities, image, digit, patch=patch)
    return cam, drops, integrated_gradients(model, image, digit)


def occlusion_note(drops: np.ndarray, digit: int) -> str:
    worst, best = float(drops.max()), float(-drops.min())
    if worst < 0.01:
        return (f"**Occlusion**: a square of black paper slides over the picture and wipes out the ink under it. "
                f"Wherever it goes, the probability of {digit} moves less than a point: try a bigger square.")
    helps = f"; blue: without the ink there, {digit} gets likelier" if best >= 0.01 else ""
    return (f"**Occlusion**: a square of black paper slides over the picture and wipes out the ink under it. "
            f"Red: without the ink there, the probability of {digit} falls, by up to {points(worst, 1)[1:]}"
            f"{helps}. Over empty paper the square changes nothing, so the colours gather around the ink.")


def gradients_note(attribution: Attribution, digit: int, probability: float) -> str:
    total, change = float(attribution.shares.sum(dtype=np.float64)), attribution.change
    if points(total, 1) == points(change, 1):
        adds = f"The shares add up to the whole change, {points(change, 1)}."
    elif attribution.gap <= ADDS_UP:
        adds = f"The shares add up to {points(total, 1)}, within a point of the whole change ({points(change, 1)})."
    else:
        adds = f"The shares add up to only about the whole change: {points(total, 1)} of {points(change, 1)}."
    return (f"**Integrated gradients**: each piece of ink's share of the probability of {digit}, on the way from "
            f"a black picture ({percent(probability - change)}) to this one ({percent(probability)}). Red pieces "
            f"pushed towards {digit}, blue ones away; empty paper gets no share. {adds}")


def cam_note(cam: OnInk, layer: str, digit: int) -> str:
    """What the Grad-CAM picture shows, and what it leaves out: the share of its map on empty paper."""
    if not np.nanmax(cam.values, initial=0.0) > 0:
        return (f"**Grad-CAM** finds nothing on the ink here: weighted by how much each of {layer}'s filters speaks "
                f"for {digit}, the maps add up to zero or less on every stroke, and Grad-CAM keeps only what is "
                "above zero. It happens on a few digits in a hundred; the other two maps still answer.")
    off = (f" {percent(cam.off_ink, 0, exact=True)} of the map lay on empty paper, where there is no stroke to "
           "point at: that part is left black." if cam.off_ink > 0 else "")
    return (f"**Grad-CAM**: on each stroke, how strongly {layer}'s filters that speak for {digit} answered there, "
            f"yellow the strongest, purple none (the scale under the picture). Only ink is coloured.{off}")


def show_maps(image: np.ndarray, digit: int, probability: float, layer: str | None, patch: int) -> None:
    cam, drops, attribution = _maps(resources.model_key(active_model_path()), image, digit, layer, patch)
    shares = spread(attribution.shares)
    for_against = (f"against {digit}", f"for {digit}")
    overlays = [Overlay(f"Occlusion ({patch}x{patch} square)", drops, True, "%{text}", point_labels(
                    drops, f"without this ink: {digit} {{points}} less likely", f"without this ink: {digit} "
                    "{points} likelier"), for_against),
                Overlay("Integrated gradients", shares, True, "%{text}", point_labels(
                    shares, f"share: {{points}} for {digit}", f"share: {{points}} against {digit}", 2), for_against)]
    notes = [occlusion_note(drops, digit), gradients_note(attribution, digit, probability)]
    if cam is not None:
        kept = on_ink(cam, image)
        overlays.insert(0, Overlay(f"Grad-CAM on {layer}", kept.values, False, "%{z:.0%} of the map's strongest",
                                   ends=("none", "strongest")))
        notes.insert(0, cam_note(kept, layer, digit))
    for i, (column, overlay, note) in enumerate(zip(st.columns(len(notes)), overlays, notes)):
        # one figure per map, so that on a phone each stacks under the last, full width, its words under it
        column.plotly_chart(explanation_panels(image, [overlay]), key=f"explain_map_{i}",
                            config={"displayModeBar": False}, alt=overlay_alt(overlay))
        column.caption(note)


st.title("Why this answer")
current = input_or_test_digit()
image = current.prep.image
pred = predictor()
probs = pred.probabilities(image)
read = int(probs.argmax())
st.caption(f"Input: {describe(current)} · the network reads **{read}** ({sure(probs[read])}). "
           "Three different ways of asking which parts of the picture made it say so.")
choose_digit, choose_layer, choose_patch = st.columns([1, 2, 1])
with choose_digit:
    digit = pick_digit(read, current.label)
convs = conv_layer_names(pred.model)
with choose_layer:
    if convs:
        shapes = {n: tuple(pred.model.get_layer(n).output.shape[1:3]) for n in convs}
        layer = pick_cam_layer(convs, shapes)
    else:
        layer = None
        st.info("This model has no convolution layers, so there is no Grad-CAM map: it needs a layer of "
                "filters that slide over the picture. The other two maps work for any model.")
with choose_patch:
    patch = st.select_slider("Occlusion square (pixels)", PATCHES, value=OCCLUSION_PATCH, key="explain_patch")
st.markdown(f"Probability of **{digit}**: {percent(probs[digit])}")
show_maps(image, digit, float(probs[digit]), layer, patch)
