"""Switch filters off: knock out conv filters or dense units and watch the answer and the accuracy move."""

import keras
import numpy as np
import streamlit as st

from mnist_model.engine.inference import softmax
from mnist_model.figures.alt import before_after_alt, ranking_alt
from mnist_model.figures.explain import before_after_bars, ranking_bars
from mnist_model.figures.numbers import percent, points, sure, visible
from mnist_model.lab.knockout import Switchboard, lead
from server import resources
from ui import ask
from ui.current import active_model_path, input_or_test_digit, keep, kept
from ui.text import plain

TOP = 5  # how many units the "most important" button switches off
KEPT = "knockout_off"  # what this session has switched off: {"model": model key, "off": {layer: [units]}}


def switched_off(model_key: tuple) -> dict[str, list[int]]:
    """This session's switched-off units for the active model; a different model starts with all on."""
    saved = kept(KEPT)
    if saved is None or saved["model"] != model_key:
        saved = {"model": model_key, "off": {}}
        keep(KEPT, saved)
    return saved["off"]


def widget_key(model_key: tuple, layer: str) -> str:
    return f"knockout|{model_key[0]}|{model_key[1]}|{layer}"


def set_off(model_key: tuple, layer: str, units: list[int]) -> None:
    """Button callback: switch exactly ``units`` of ``layer`` off (before the widgets are drawn again)."""
    st.session_state[widget_key(model_key, layer)] = sorted(units)
    switched_off(model_key)[layer] = sorted(units)


def all_on(model_key: tuple, layers: list[str]) -> None:
    for layer in layers:
        set_off(model_key, layer, [])


def unit_word(board: Switchboard, layer: str, n: int = 1) -> str:
    """A switch of ``layer``: a "filter" of a conv layer, a "unit" of a dense one (plural for n != 1)."""
    word = "filter" if isinstance(board.model.get_layer(layer), keras.layers.Conv2D) else "unit"
    return word if n == 1 else f"{word}s"


def choose_switches(board: Switchboard, model_key: tuple, off: dict[str, list[int]]) -> str:
    """The layer picker and the switches of the picked layer; returns the layer."""
    layer = st.selectbox("Layer", list(board.units), key=f"knockout_layer|{'|'.join(board.units)}",
                         format_func=lambda n: f"{n} ({board.units[n]} {unit_word(board, n, board.units[n])})")
    key = widget_key(model_key, layer)
    if key not in st.session_state:  # first visit, or back from another page: the kept switches
        st.session_state[key] = off.get(layer, [])
    word = unit_word(board, layer)
    off[layer] = st.multiselect(f"Switched off in {layer}", list(range(board.units[layer])), key=key,
                                format_func=lambda i: f"{word} {i}", placeholder=f"all {word}s on")
    keep(KEPT, {"model": model_key, "off": off})
    return layer


def switched_off_text(board: Switchboard, off: dict[str, list[int]]) -> str:
    """Every switched-off unit in words, layer by layer: the chips above show only a few."""
    parts = [f"{layer} {unit_word(board, layer, len(units))} {', '.join(map(str, sorted(units)))}"
             for layer, units in off.items() if units]
    if not parts:
        return "Everything is switched on."
    total = sum(len(units) for units in off.values())
    return f"Switched off ({total} in all): {'; '.join(parts)}."


def standing(digit: int, ahead: float) -> str:
    """Where ``digit``'s score stands against the others' (scores, not "points": those are percentages')."""
    if ahead >= 0:
        return f"{digit}'s score is {ahead:.1f} above the next best digit's"
    return f"{digit}'s score is {-ahead:.1f} below the top digit's"


def show_answer(board: Switchboard, image: np.ndarray, off: dict[str, list[int]]) -> None:
    before, after = board.scores(image[None])[0], board.scores(image[None], off)[0]
    p_before, p_after = softmax(before.astype(np.float64)), softmax(after.astype(np.float64))
    was, now = int(before.argmax()), int(after.argmax())
    left, right = st.columns(2)
    left.metric("All switched on, it reads", str(was), sure(p_before[was]), delta_color="off",
                delta_arrow="off")
    change = p_after[was] - p_before[was]
    if any(off.values()):
        right.metric("With yours switched off, it reads", str(now), f"{points(change, 1)} for {was}",
                     delta_color="normal" if visible(change, 1) else "off",
                     delta_arrow="auto" if visible(change, 1) else "off",
                     help=f"The probability of {was}: {percent(p_before[was])} with everything on, "
                          f"{percent(p_after[was])} with yours switched off.")
        st.caption(f"All on, {standing(was, lead(before, was))}; with yours off, {standing(was, lead(after, was))}.")
    else:
        right.metric("With yours switched off, it reads", str(now), "nothing switched off yet", delta_color="off",
                     delta_arrow="off")
        st.caption(f"All on, {standing(was, lead(before, was))}.")
    st.caption("The softmax turns scores into probabilities: a score 7 or more above all the others is over 99% "
               "sure, so the probability only moves once the lead is small.")
    st.plotly_chart(before_after_bars(p_before, p_after), key="knockout_bars", config={"displayModeBar": False},
                    alt=before_after_alt(p_before, p_after))


def show_accuracy(off: dict[str, list[int]]) -> None:
    path = active_model_path()
    digits = f"{ask.accuracy_digits(path):,} test digits"
    if ask.measured_accuracy(path, off) is None and not st.button(
            f"Measure the test accuracy ({digits}, a second or two)", key="knockout_measure"):
        return
    with st.spinner(f"Reading {digits} ..."):  # only the first time for this model and these switches
        measured, base = ask.measure_accuracy(path, off), ask.measure_accuracy(path, {})
    shown = visible(measured - base)
    st.metric(f"Test accuracy with yours switched off ({digits})", f"{measured:.2%}",
              f"{points(measured - base)} (all on: {base:.2%})", delta_color="normal" if shown else "off",
              delta_arrow="auto" if shown else "off")


def show_ranking(board: Switchboard, image: np.ndarray, layer: str, off: dict[str, list[int]], model_key: tuple):
    digit = int(board.scores(image[None])[0].argmax())
    ranked = board.ranking(image, digit, layer, off)
    word = unit_word(board, layer)
    st.subheader(f"Which {word}s of {layer} matter most for this {digit}")
    st.caption(f"With your switches, {standing(digit, ranked.lead)}. Each bar: how much that lead shrinks when "
               f"one more {word} is switched off on its own (all tried at once). Hover to see what it does to "
               "the probability.")
    already = off.get(layer, [])
    st.plotly_chart(ranking_bars(ranked.lead_drop, ranked.probability_drop, ranked.lead, word,
                                 off=tuple(already)), key="knockout_ranking", config={"displayModeBar": False},
                    alt=ranking_alt(ranked.lead_drop, ranked.lead, word, already))
    top = [int(i) for i in np.argsort(-ranked.lead_drop, kind="stable") if int(i) not in already][:TOP]
    st.button(f"Switch off the {TOP} that matter most", key="knockout_top", on_click=set_off,
              args=(model_key, layer, [*already, *top]), disabled=not top)


st.title("Switch filters off")
current = input_or_test_digit()
path = active_model_path()
board = ask.switchboard(path)
if not board.units:
    st.info(f"**{plain(path.stem)}** has no convolution filters and no hidden dense units: only its output "
            "layer, whose 10 units are the answers themselves. There is nothing to switch off.")
    st.stop()
model_key = resources.model_key(path)
off = switched_off(model_key)
st.caption("Switch off filters of a convolution layer, or units of a dense layer, as if their weights were all zero, "
           "and watch the answer and the test accuracy change. Only your view changes: everyone else's model "
           f"stays as it was. Input: {ask.describe(current)}.")
controls, answer = st.columns([1, 2], gap="large")
with controls:
    layer = choose_switches(board, model_key, off)
    st.button("Switch everything back on", key="knockout_all_on", on_click=all_on, args=(model_key, list(board.units)))
    st.caption(switched_off_text(board, off))
with answer:
    show_answer(board, current.prep.image, off)
    show_accuracy(off)
show_ranking(board, current.prep.image, layer, off, model_key)
