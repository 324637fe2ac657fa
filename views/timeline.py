"""How it learned: scrub through training, epoch by epoch, on the current input."""

import numpy as np
import streamlit as st

from mnist_model.engine.inference import Predictor
from mnist_model.engine.storage import read_card
from mnist_model.engine.timeline import Timeline, load_timeline, model_at, timeline_path
from mnist_model.figures.alt import feature_maps_alt, kernels_alt, probabilities_alt, timeline_alt
from mnist_model.figures.common import DIVERGING, map_grid, probability_bars, timeline_curve
from mnist_model.figures.numbers import points, sure, visible
from mnist_model.lab.inspection import conv_kernels, conv_layer_names, feature_maps
from server import resources
from ui.ask import input_name
from ui.current import active_model_path, input_or_test_digit, predictor

NO_TIMELINE = ("This model has no training timeline: only models trained in this app or with "
               "`python -m mnist_model train` keep their weights after every epoch (an uploaded model "
               "arrives finished). Train one from the sidebar, pick it, and come back.")


@st.cache_resource(max_entries=8, show_spinner=False)
def _timeline(path: str, mtime: float, timeline_mtime: float) -> Timeline | None:
    return load_timeline(path)


@st.cache_resource(max_entries=24, show_spinner="Restoring the weights of that epoch ...")
def _predictor_at(path: str, mtime: float, timeline_mtime: float, epoch: int) -> Predictor:
    """One epoch's model, shared by every session that scrubs to it."""
    timeline = _timeline(path, mtime, timeline_mtime)
    return Predictor(model_at(resources.get_predictor(path).model, timeline, epoch))


def timeline_key(path) -> tuple[str, float, float]:
    """The model file's cache key plus its timeline's modification time (written after the model)."""
    stored = timeline_path(path)
    return *resources.model_key(path), stored.stat().st_mtime if stored.exists() else 0.0


st.title("How it learned")
path = active_model_path()
key = timeline_key(path)
timeline = _timeline(*key)
if timeline is None or timeline.epochs == 0:
    st.info(NO_TIMELINE)
    st.stop()

current = input_or_test_digit()
st.caption("The weights were saved after every pass over the training images (an epoch). Slide through "
           f"them to watch the filters sharpen and the answer for {input_name(current)} settle.")
epoch = st.slider("After epoch", 1, timeline.epochs, timeline.epochs, key="timeline_epoch")
then = _predictor_at(*key, epoch)
probs = then.probabilities(current.prep.image)
left, right = st.columns([1, 1])
with left:
    gained = timeline.test_accuracy[epoch - 1] - timeline.test_accuracy[0]
    shown = epoch > 1 and visible(gained)
    st.metric(f"Test accuracy after epoch {epoch}", f"{timeline.test_accuracy[epoch - 1]:.2%}",
              delta=f"{points(gained)} since epoch 1" if epoch > 1 else None,
              delta_color="normal" if shown else "off", delta_arrow="auto" if shown else "off")
    history = (read_card(path) or {}).get("history") or {}
    train_accuracy = history.get("accuracy") if len(history.get("accuracy") or []) == timeline.epochs else None
    st.plotly_chart(timeline_curve(timeline.test_accuracy, epoch, train_accuracy),
                    key="timeline_curve", config={"displayModeBar": False},
                    alt=timeline_alt(timeline.test_accuracy, epoch, train_accuracy))
with right:
    now = predictor().probabilities(current.prep.image)
    st.metric(f"Its answer for {input_name(current)}", f"{int(probs.argmax())}",
              help=f"The finished model says {int(now.argmax())} ({sure(now.max())}).")
    st.plotly_chart(probability_bars(probs, title=f"Probabilities after epoch {epoch}"), key="timeline_probs",
                    config={"displayModeBar": False},
                    alt=probabilities_alt(probs, f"the probability of each digit after epoch {epoch}"))

convs = conv_layer_names(then.model)
if not convs:
    st.info("This model has no convolution layers, so there are no filters or feature maps to watch; "
            "its answer and accuracy above still change epoch by epoch.")
    st.stop()
first = convs[0]
st.subheader(f"{first}'s filters after epoch {epoch}")
kernels = conv_kernels(then.model, first)
deep = kernels.shape[1] > 1  # a kernel per input channel: shown as their mean
first_kernels = kernels.mean(axis=1) if deep else kernels[:, 0]
st.plotly_chart(map_grid(first_kernels, colorscale=DIVERGING, zmid=0.0, label="filter", cols=16, height=220),
                key="timeline_kernels", config={"displayModeBar": False},
                alt=kernels_alt(first_kernels, f"of {first} after epoch {epoch}"
                                               + (", each the mean over its input channels" if deep else "")))
layer = st.selectbox("Feature maps of", convs, key="timeline_layer")
maps = feature_maps(then.activations(current.prep.image)[layer])
st.plotly_chart(map_grid(np.asarray(maps), label="channel", cols=16), key="timeline_maps",
                config={"displayModeBar": False}, alt=feature_maps_alt(maps, f"{layer} after epoch {epoch}"))
