"""Any model from 28x28x1 images to 10 classes: the engine copes, and every page works or says why not."""

import keras
import numpy as np
import pytest
from model_zoo import BUILDERS, save_zoo
from streamlit.testing.v1 import AppTest

from mnist_model.engine.inference import Predictor, outputs_probabilities, softmax
from mnist_model.engine.network import param_formula, summary_rows, summary_text
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import load_model
from mnist_model.lab import inspection
from mnist_model.lab.inspection import (
    conv_kernels,
    conv_layer_names,
    feature_maps,
    filter_patterns,
    load_or_compute_patterns,
    patterns_path,
    training_only_layers,
)
from server import resources

APP = "../app.py"
TIMEOUT = 120  # TensorFlow imports slowly
IMAGE = np.zeros((28, 28), np.float32)
IMAGE[6:22, 12:16] = 1.0  # a rough "1"

FILTERS = {  # each zoo model's conv layers, by their filter counts
    "seed_unnamed": [4, 8, 7], "notes_63": [32, 64, 63], "dense_only": [], "regularised": [4, 8],
    "rescaled": [4], "reshaped_rows": [], "same_padding": [4, 7], "one_filter": [1, 4, 1],
    "functional": [3, 2], "logits": [4],
}


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="module")
def zoo(zoo_dir):
    return save_zoo(zoo_dir)


@pytest.fixture(scope="module")
def loaded(zoo):
    return {name: load_model(path) for name, path in zoo.items()}


def test_the_zoo_is_the_table():
    assert list(FILTERS) == list(BUILDERS)


@pytest.mark.parametrize("name", BUILDERS)
def test_conv_layers_are_found_by_type_whatever_their_names(loaded, name):
    model = loaded[name]
    names = conv_layer_names(model)
    assert [conv_kernels(model, n).shape[0] for n in names] == FILTERS[name]
    assert all(isinstance(model.get_layer(n), keras.layers.Conv2D) for n in names)


@pytest.mark.parametrize("name", BUILDERS)
def test_one_forward_pass_gives_every_layer_but_the_input(loaded, name):
    model = loaded[name]
    predictor = Predictor(model)
    acts = predictor.activations(IMAGE)
    assert list(acts) == [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert all(acts[n].shape == tuple(model.get_layer(n).output.shape[1:]) for n in acts)
    raw = model(IMAGE[None, ..., None]).numpy()[0]
    np.testing.assert_allclose(acts[predictor.layer_names[-1]], raw, atol=1e-5)
    probs = predictor.probabilities(IMAGE)
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5) and probs.min() >= 0


@pytest.mark.parametrize("name, softmax_in_model", [(name, name != "logits") for name in BUILDERS])
def test_logits_get_a_softmax_and_probabilities_are_left_alone(loaded, name, softmax_in_model):
    model = loaded[name]
    assert outputs_probabilities(model) is softmax_in_model
    raw = model(IMAGE[None, ..., None]).numpy()[0]
    expected = raw if softmax_in_model else softmax(raw)
    np.testing.assert_allclose(Predictor(model).probabilities(IMAGE), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["dense_only", "logits", "functional"])
def test_saliency_works_without_convs_and_on_logits(loaded, name):
    heat = Predictor(loaded[name]).saliency(IMAGE)
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0) and heat.min() >= 0


@pytest.mark.parametrize("shape, maps", [
    ((26, 26, 4), (4, 26, 26)),  # conv or pool: one map per channel
    ((28, 28), (1, 28, 28)),  # a 2-D output without channels: one map
    ((28, 6), (1, 28, 6)),
    ((117,), None),  # dense or flatten: not an image
    ((10,), None),
])
def test_feature_maps_are_channel_first_images_or_none(shape, maps):
    out = feature_maps(np.zeros(shape))
    assert (out is None and maps is None) or out.shape == maps


def test_dropout_is_known_to_change_nothing_when_predicting(loaded):
    model = loaded["regularised"]
    names = training_only_layers(model)
    assert [type(model.get_layer(n)).__name__ for n in names] == ["Dropout", "Dropout"]
    assert training_only_layers(loaded["seed_unnamed"]) == []


@pytest.mark.parametrize("name", ["same_padding", "one_filter", "functional", "rescaled"])
def test_deeper_objectives_match_the_layer_with_its_own_padding_strides_and_bias(loaded, name):
    model = loaded[name]
    x = np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1)).astype("float32")
    for layer in conv_layer_names(model):
        conv = model.get_layer(layer)
        upstream = keras.Model(model.inputs[0], conv.input)
        first = inspection._sees_pixels(upstream)
        response = inspection._filter_objective(model, conv, upstream, first)(x)
        expected = keras.Model(model.inputs[0], conv.output)(x)
        np.testing.assert_allclose(response if first else conv.activation(response), expected, atol=1e-5)


def test_the_first_conv_is_the_one_that_reads_pixels(loaded):
    def first(model):
        return [inspection._sees_pixels(keras.Model(model.inputs[0], model.get_layer(n).input))
                for n in conv_layer_names(model)]
    assert first(loaded["rescaled"]) == [True]
    assert first(loaded["functional"]) == [True, True]  # two branches over the image
    assert first(loaded["one_filter"]) == [True, False, False]


@pytest.mark.parametrize("name", ["same_padding", "one_filter", "functional"])
def test_filter_patterns_for_unusual_convs(loaded, name):
    model = loaded[name]
    for layer, n in zip(conv_layer_names(model), FILTERS[name]):
        patterns = filter_patterns(model, layer, steps=2)
        assert patterns.shape == (n, 28, 28) and patterns.min() >= 0 and patterns.max() <= 1


def test_a_model_without_convs_has_no_patterns_and_writes_no_file(zoo, loaded):
    assert load_or_compute_patterns(loaded["dense_only"], zoo["dense_only"]) == {}
    assert not patterns_path(zoo["dense_only"]).exists()


@pytest.mark.parametrize("name", BUILDERS)
def test_summary_rows_cover_every_parameter_and_skip_the_input(loaded, name):
    model = loaded[name]
    rows = summary_rows(model)
    assert sum(r["params"] for r in rows) == model.count_params()
    assert "InputLayer" not in [r["type"] for r in rows]


@pytest.mark.parametrize("name, layer_type, formula", [
    ("regularised", "BatchNormalization", "4 * 4 (gamma, beta, moving_mean, moving_variance) = 16"),
    ("same_padding", "Conv2D", "(5*5*1 + 1) * 4 = 104"),
    ("dense_only", "Dense", "(784 + 1) * 117 = 91845"),
    ("regularised", "Dropout", "no weights: 0"),
])
def test_parameter_formulas_for_other_layers(loaded, name, layer_type, formula):
    layer = next(layer for layer in loaded[name].layers if type(layer).__name__ == layer_type)
    assert param_formula(layer) == formula


def test_a_conv_without_bias_and_a_layer_without_a_formula():
    conv = keras.layers.Conv2D(7, 3, use_bias=False)
    conv(keras.Input((14, 14, 4)))
    assert param_formula(conv) == "(3*3*4) * 7 = 252"
    lstm = keras.layers.LSTM(2)
    lstm(keras.Input((28, 28)))
    assert param_formula(lstm) == "248 (not broken down for LSTM)"


def test_summary_text_counts_batch_norm_statistics_as_not_trainable(loaded):
    text = summary_text(loaded["regularised"])
    assert "Non-trainable params: 8" in text and f"Total params: {loaded['regularised'].count_params():,}" in text


@pytest.fixture
def open_page(zoo_dir, zoo, monkeypatch):
    """Opens a page of the app with a zoo model picked in the sidebar."""
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(zoo_dir))
    monkeypatch.setattr(inspection, "PATTERN_STEPS", 2)  # filter patterns: the page, not their quality

    def run(name: str, page: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["model_path"] = str(zoo[name])
        at.session_state["input_source"] = "Test digit"
        at.session_state["test_index"] = 0
        at.switch_page(page).run()
        assert not at.exception
        assert at.session_state["model_path"] == str(zoo[name])  # the zoo model, not the bundled fallback
        return at
    return run


@pytest.mark.parametrize("name", BUILDERS)
def test_draw_page_predicts_with_any_model(open_page, loaded, name):
    at = open_page(name, "views/draw.py")
    expected = Predictor(loaded[name]).probabilities(canvas_to_mnist(resources.test_images()[0][0]).image).argmax()
    assert f"# Prediction: {expected}" in [m.value for m in at.markdown]


@pytest.mark.parametrize("name", BUILDERS)
def test_feature_maps_page_shows_every_layer_of_any_model(open_page, loaded, name):
    at = open_page(name, "views/feature_maps.py")
    shown = [s.value.split(" · ")[0] for s in at.subheader]
    assert shown == Predictor(loaded[name]).layer_names
    assert any("no feature maps" in i.value for i in at.info) == (name == "dense_only")
    assert ("10 logits" in at.subheader[-1].value) == (name == "logits")


@pytest.mark.parametrize("name", BUILDERS)
def test_filters_page_shows_each_conv_or_says_there_are_none(open_page, loaded, name):
    at = open_page(name, "views/filters.py")
    labels = [t.label for t in at.tabs]
    expected = [f"{layer} ({n} filter{'' if n == 1 else 's'})"
                for layer, n in zip(conv_layer_names(loaded[name]), FILTERS[name])]
    assert labels == expected
    assert any("no convolution layers" in i.value for i in at.info) == (not expected)


@pytest.mark.parametrize("name", BUILDERS)
def test_architecture_page_counts_any_models_parameters(open_page, loaded, name):
    at = open_page(name, "views/architecture.py")
    assert at.metric[0].value == f"{loaded[name].count_params():,}"
    assert len(at.dataframe[0].value) == len(summary_rows(loaded[name]))
    if name == "notes_63":  # the notes' table
        assert "(3*3*64 + 1) * 63 = 36351" in at.dataframe[0].value["How it is counted"].tolist()


def test_one_filter_layers_get_no_slider(open_page, loaded):
    at = open_page("one_filter", "views/filters.py")
    last = conv_layer_names(loaded["one_filter"])[-1]
    at.segmented_control(key="kernel_layer").set_value(last).run()
    assert not at.exception
    assert any(c.value.startswith(f"Filter 0 of {last} has one 3x3 kernel per input channel (4);") for c in at.caption)
    assert not at.main.slider
    fm = open_page("one_filter", "views/feature_maps.py")
    first = conv_layer_names(loaded["one_filter"])[0]
    assert f"{first} has a single channel." in [c.value for c in fm.caption]


def test_switching_models_on_a_page_keeps_it_working(open_page, zoo, loaded):
    at = open_page("seed_unnamed", "views/feature_maps.py")
    at.session_state["zoom_layer"] = conv_layer_names(loaded["seed_unnamed"])[1]  # not in the next models
    at.run()
    for name in ("one_filter", "dense_only", "functional"):
        at.sidebar.selectbox(key="model_path").set_value(str(zoo[name])).run()
        assert not at.exception
        assert [s.value.split(" · ")[0] for s in at.subheader] == Predictor(loaded[name]).layer_names
