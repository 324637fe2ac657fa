"""Knock-out: switched-off units behave exactly like zeroed weights, and the shared model is never touched."""

import re

import keras
import numpy as np
import pytest
from conftest import page_with_model
from model_zoo import BUILDERS, save_zoo

from mnist_model.engine.inference import outputs_probabilities, softmax
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import PRETRAINED_MODEL, load_model
from mnist_model.lab.knockout import Switchboard, class_scores, lead, run_layers, switchable_layers
from server import resources

APP = "../../app.py"
IMAGES = np.random.default_rng(0).uniform(0, 1, (3, 28, 28)).astype(np.float32)

SWITCHABLE = {  # each zoo model's switchable layers, by type, and their sizes (the output layer never)
    "seed_unnamed": ["Conv2D 4", "Conv2D 8", "Conv2D 7", "Dense 16"], "notes_63": ["Conv2D 32", "Conv2D 64",
                                                                                   "Conv2D 63", "Dense 64"],
    "dense_only": ["Dense 117"], "regularised": ["Conv2D 4", "Conv2D 8"], "rescaled": ["Conv2D 4"],
    "reshaped_rows": ["Dense 6"], "same_padding": ["Conv2D 4", "Conv2D 7"],
    "one_filter": ["Conv2D 1", "Conv2D 4", "Conv2D 1"], "functional": ["Conv2D 3", "Conv2D 2"], "logits": ["Conv2D 4"],
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    paths = save_zoo(tmp_path_factory.mktemp("zoo"))
    return paths, {name: load_model(path) for name, path in paths.items()}


def zeroed_copy(model: keras.Model, off: dict[str, list[int]]) -> keras.Model:
    """What knock-out means, done the slow way: a copy whose kernel slices and biases are zero."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for name, units in off.items():
        weights = copy.get_layer(name).get_weights()
        weights[0][..., units] = 0.0
        if len(weights) > 1:
            weights[1][units] = 0.0
        copy.get_layer(name).set_weights(weights)
    return copy


def probabilities_of(model: keras.Model, images: np.ndarray) -> np.ndarray:
    out = model.predict_on_batch(images[..., None])
    return out if outputs_probabilities(model) else softmax(out)


def test_the_zoo_is_the_table():
    assert list(SWITCHABLE) == list(BUILDERS)


@pytest.mark.parametrize("name", BUILDERS)
def test_switchable_layers_are_found_by_type(zoo, name):
    model = zoo[1][name]
    found = switchable_layers(model)
    assert [f"{type(model.get_layer(n)).__name__} {units}" for n, units in found.items()] == SWITCHABLE[name]


@pytest.mark.parametrize("name", BUILDERS)
def test_running_the_layers_gives_the_models_output_and_scores_its_logits(zoo, name):
    model = zoo[1][name]
    expected = model(IMAGES[..., None]).numpy()
    np.testing.assert_allclose(run_layers(model, IMAGES[..., None], lambda layer, x, out: out).numpy(), expected,
                               atol=1e-6)
    scores = class_scores(model, IMAGES[..., None]).numpy()
    np.testing.assert_allclose(softmax(scores), expected if name != "logits" else softmax(expected), atol=1e-6)


@pytest.mark.parametrize("name", BUILDERS)
def test_switching_off_is_zeroing_the_weights(zoo, name):
    """Every switchable layer at once, its first and last unit off, against a zeroed copy (batch norm,
    dropout, a conv without bias, branches, a dense layer over rows)."""
    model = zoo[1][name]
    off = {layer: sorted({0, n - 1}) for layer, n in switchable_layers(model).items()}
    board = Switchboard(model)
    np.testing.assert_allclose(board.probabilities(IMAGES, off), probabilities_of(zeroed_copy(model, off), IMAGES),
                               atol=1e-5)
    np.testing.assert_allclose(board.probabilities(IMAGES), probabilities_of(model, IMAGES), atol=1e-5)


def test_accuracy_and_ranking_agree_with_zeroed_copies(tiny_model, tiny_data):
    _, (x_test, y_test) = tiny_data
    images, labels = x_test[..., 0], y_test.argmax(1)
    board = Switchboard(tiny_model)
    off = {"conv_2": [1, 5], "dense": [0, 3, 7]}
    copy = zeroed_copy(tiny_model, off)
    expected = (probabilities_of(copy, images).argmax(1) == labels).mean()
    assert board.accuracy(images, labels, off) == pytest.approx(expected)
    image = images[0]
    digit = int(board.scores(image[None], off)[0].argmax())
    ranked = board.ranking(image, digit, "conv_2", off)
    for unit in range(8):
        one_more = zeroed_copy(tiny_model, {**off, "conv_2": sorted({1, 5, unit})})
        scores = np.log(probabilities_of(one_more, image[None]))  # log-probabilities: scores up to a constant
        assert ranked.lead_drop[unit] == pytest.approx(ranked.lead - lead(scores[0], digit), abs=1e-3)
    assert ranked.lead_drop[[1, 5]] == pytest.approx([0.0, 0.0], abs=1e-5)  # already off: nothing more to lose
    assert ranked.lead == pytest.approx(lead(board.scores(image[None], off)[0], digit), abs=1e-5)


def test_knocking_out_never_changes_the_shared_model(tiny_model, tiny_data):
    weights = [w.copy() for w in tiny_model.get_weights()]
    nodes = [len(layer._inbound_nodes) for layer in tiny_model.layers]
    board = Switchboard(tiny_model)
    _, (x_test, y_test) = tiny_data
    board.accuracy(x_test[..., 0], y_test.argmax(1), {"conv_1": [0, 1, 2, 3]})
    board.ranking(x_test[0, ..., 0], 3, "dense", {"conv_2": [2]})
    assert all(np.array_equal(a, b) for a, b in zip(weights, tiny_model.get_weights()))
    assert [len(layer._inbound_nodes) for layer in tiny_model.layers] == nodes  # not even a new graph node


@pytest.mark.parametrize("off, message", [
    ({"flatten": [0]}, "'flatten' has no units to switch off; choose one of ['conv_1', 'conv_2', 'conv_3', 'dense']"),
    ({"predictions": [0]}, "'predictions' has no units to switch off"),
    ({"conv_1": [4]}, "conv_1 has units 0 to 3; got [4]"),
    ({"dense": [-1]}, "dense has units 0 to 15; got [-1]"),
])
def test_bad_switches_say_what_is_accepted(tiny_model, off, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Switchboard(tiny_model).probabilities(IMAGES, off)


@pytest.mark.parametrize("layer, digit, message", [("flatten", 3, "no units to switch off"),
                                                    ("conv_1", 10, "digit from 0 to 9")])
def test_bad_rankings_say_what_is_accepted(tiny_model, layer, digit, message):
    with pytest.raises(ValueError, match=message):
        Switchboard(tiny_model).ranking(IMAGES[0], digit, layer)


def test_page_knocks_out_measures_and_leaves_the_cached_model_alone(app):
    at = app.switch_page("views/knockout.py").run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["7", "7"]  # test image #0 is a 7, read with all units on
    key = f"knockout|{PRETRAINED_MODEL}|{PRETRAINED_MODEL.stat().st_mtime}|conv_1"
    at.multiselect(key=key).set_value(list(range(0, 32, 2))).run()
    at.button(key="knockout_measure").click().run()
    assert not at.exception
    accuracy = at.metric[2]
    fresh = load_model()
    images, labels = resources.test_images()
    copy = zeroed_copy(fresh, {"conv_1": list(range(0, 32, 2))})
    expected = (copy.predict(images[..., None] / 255.0, batch_size=1000, verbose=0).argmax(1) == labels).mean()
    assert accuracy.value == f"{expected:.2%}" and "(all on: 99.44%)" in accuracy.delta
    cached = resources.get_predictor(PRETRAINED_MODEL).model
    assert all(np.array_equal(a, b) for a, b in zip(cached.get_weights(), fresh.get_weights()))
    at.button(key="knockout_top").click().run()
    assert not at.exception and len(at.multiselect(key=key).value) == 16 + 5
    at.button(key="knockout_all_on").click().run()
    assert not at.exception and at.multiselect(key=key).value == []


def test_switches_stay_when_visiting_another_page(app):
    at = app.switch_page("views/knockout.py").run()
    key = f"knockout|{PRETRAINED_MODEL}|{PRETRAINED_MODEL.stat().st_mtime}|conv_1"
    at.multiselect(key=key).set_value([3, 4]).run()
    at.switch_page("views/feature_maps.py").run()
    at.switch_page("views/knockout.py").run()
    assert not at.exception and at.multiselect(key=key).value == [3, 4]


@pytest.mark.parametrize("name", ["dense_only", "functional"])
def test_page_works_for_other_models(zoo, monkeypatch, name):
    paths, models = zoo
    at = page_with_model("views/knockout.py", paths[name], monkeypatch)
    layers = switchable_layers(models[name])
    first = next(iter(layers))
    assert at.main.selectbox[0].options[0].startswith(f"{first} ({layers[first]} ")
    image = canvas_to_mnist(resources.test_images()[0][0]).image
    expected = int(probabilities_of(models[name], image[None]).argmax())
    assert at.main.metric[0].value == str(expected)


def test_page_says_when_there_is_nothing_to_switch_off(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "linear.keras")
    at = page_with_model("views/knockout.py", tmp_path / "linear.keras", monkeypatch)
    assert any("There is nothing to switch off" in i.value for i in at.info)


def test_a_shrinking_lead_is_labelled_without_a_plus_sign():
    from mnist_model.figures.explain import ranking_bars

    fig = ranking_bars(np.array([6.31, -0.4, 2.0]), np.array([0.1, -0.01, 0.02]), lead=8.0)
    assert list(fig.data[0].text) == ["6.3", "2.0", "-0.4"]  # how much it shrinks, as the axis says
    assert fig.layout.xaxis.title.text == "how much the lead shrinks"
