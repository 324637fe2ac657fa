"""How good is it: the active model's answers on all 10,000 MNIST test digits."""

from pathlib import Path

import numpy as np
import streamlit as st

from mnist_model.figures.alt import confusion_alt, error_bars_alt
from mnist_model.figures.evaluation import class_error_bars, confusion_heatmap, digit_tile, selected_cell
from mnist_model.figures.numbers import percent, sure
from mnist_model.lab.evaluation import Evaluation
from server import resources
from ui import evaluation as evaluations
from ui.current import active_model_path
from ui.notices import preparing_notice
from ui.text import plain

GALLERY = 40  # mistakes shown at most
CELL_GALLERY = 16  # digits of one square shown at most, about as tall as the matrix beside them
TILE = 80  # a gallery digit's width in pixels


def gallery(result: Evaluation, indices: np.ndarray, captions: list[str]) -> None:
    """Test digits with a caption each, framed green when read right and red when read wrong."""
    images = resources.test_images()[0]
    tiles = [digit_tile(images[i], result.predicted[i] == result.labels[i]) for i in indices]
    alts = [f"Test digit #{i}: a {result.labels[i]}, read as {result.predicted[i]}, {sure(result.confidence[i])}"
            for i in indices]
    st.image(tiles, caption=captions, width=TILE, alt=alts)


def scores(result: Evaluation) -> None:
    overall, wrong, hardest = st.columns(3)
    overall.metric("Test accuracy", f"{result.accuracy:.2%}")
    wrong.metric("Mistakes", f"{len(result.misclassified):,}", f"of {result.n:,} test digits",
                    delta_color="off", delta_arrow="off")
    digit = int(np.nanargmin(result.per_class_accuracy))
    read_right = percent(result.per_class_accuracy[digit], 1, exact=True)
    hardest.metric("Hardest digit", str(digit), f"{read_right} read right", delta_color="off", delta_arrow="off")
    totals, right = result.confusion.sum(axis=1), np.diag(result.confusion)
    wrong = totals - right
    most, least = int(wrong.argmax()), int(wrong.argmin())
    st.caption(f"Mistakes per digit, counted from 0: most on the {most}s ({wrong[most]:,} of {totals[most]:,} read "
               f"wrong), fewest on the {least}s ({wrong[least]:,} of {totals[least]:,}).")
    st.plotly_chart(class_error_bars(totals, right), key="eval_classes", config={"displayModeBar": False},
                    alt=error_bars_alt(totals, right))


def confusion(result: Evaluation) -> None:
    st.subheader("What it said for each digit")
    st.caption("Each row is a true digit, each column what the model said: green squares are right answers, "
               "red ones mistakes. Click a square to see those test digits.")
    matrix, digits = st.columns([3, 2])
    with matrix:
        state = st.plotly_chart(confusion_heatmap(result.confusion), on_select="rerun", selection_mode="points",
                                key="eval_confusion", config={"displayModeBar": False},
                                alt=confusion_alt(result.confusion))
    with digits:
        cell_digits(result, selected_cell(state.selection))


def cell_digits(result: Evaluation, cell: tuple[int, int] | None) -> None:
    """The test digits of the chosen square; until one is chosen, those of the commonest mix-up."""
    if cell is None:
        cell = result.commonest_mistake() or (0, 0)
        st.caption("No square chosen yet, so here is the mix-up it makes most often.")
    true, said = cell
    indices = result.cell(true, said)
    what = f"{true}s read right" if true == said else f"{true}s read as {said}"
    shown = indices[:CELL_GALLERY]
    surest = f", the {len(shown)} it was surest about" if len(indices) > len(shown) else ""
    how_sure = " Under each, how sure it was." if len(shown) else ""
    st.markdown(f"**{what}**: {len(indices):,} test digits{surest}.{how_sure}")
    if len(shown):  # an empty square: its count, 0, says it all
        gallery(result, shown, [sure(result.confidence[i]) for i in shown])


def mistakes(result: Evaluation) -> None:
    st.subheader("Its mistakes, surest first")
    wrong = result.misclassified
    if not len(wrong):
        st.info("It read every test digit right.")
        return
    st.caption("The test digits it read wrong, the ones it was surest about first. Under each: the true digit → "
               "what it said, and how sure it was. Some would fool a person too; others show what it has not learnt."
               + (f" Here are {GALLERY} of its {len(wrong):,} mistakes." if len(wrong) > GALLERY else ""))
    shown = wrong[:GALLERY]
    gallery(result, shown, [f"{result.labels[i]} → {result.predicted[i]}, {sure(result.confidence[i])}" for i in shown])


def evaluate_once(path: Path) -> Evaluation | None:
    """The model's stored evaluation; None (said on the page) while it is being prepared."""
    result = evaluations.evaluation(path)
    if result is None:
        preparing_notice(path, "its answers on the 10,000 test digits")
    return result


st.title("How good is it")
path = active_model_path()
evaluated = evaluate_once(path)
if evaluated is not None:
    st.caption(f"**{plain(path.stem)}** read all {evaluated.n:,} MNIST test digits, handwriting it never saw while "
               "learning. This is how often it was right, and where it went wrong.")
    scores(evaluated)
    confusion(evaluated)
    mistakes(evaluated)
