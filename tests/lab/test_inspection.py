import numpy as np
import pytest

from mnist_model.engine.inference import Predictor, activation_model
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import save_model
from mnist_model.figures.common import map_grid, mosaic, preprocessing_steps, probability_bars, probability_bars_figure
from mnist_model.lab.inspection import (
    conv_kernels,
    filter_patterns,
    load_or_compute_patterns,
    nearly_blank,
    patterns_path,
)


def test_one_forward_pass_gives_every_layer_and_the_models_prediction(tiny_model, tiny_data):
    predictor = Predictor(tiny_model)
    x = tiny_data[1][0][:3]
    outputs = predictor.forward(x)
    assert [o.shape[1:] for o in outputs[:5]] == [(26, 26, 4), (13, 13, 4), (11, 11, 8), (5, 5, 8), (3, 3, 8)]
    np.testing.assert_allclose(outputs[-1], tiny_model(x).numpy(), atol=1e-6)
    acts = predictor.activations(x[0, ..., 0])
    assert list(acts) == predictor.layer_names and acts["dense"].shape == (16,)
    assert len(activation_model(tiny_model).outputs) == 8


def test_one_drawing_is_run_through_the_network_once_however_many_views_ask(tiny_model, tiny_data, monkeypatch):
    predictor, image = Predictor(tiny_model), tiny_data[1][0][0, ..., 0]
    calls = []
    forward = predictor.forward
    monkeypatch.setattr(predictor, "forward", lambda batch: calls.append(len(batch)) or forward(batch))
    acts = predictor.activations(image)
    probs = predictor.probabilities(image.copy())  # the same pixels, another array
    assert calls == [1] and predictor.activations(image) is acts
    assert not acts["dense"].flags.writeable  # shared: no view may change what another sees
    np.testing.assert_allclose(probs, tiny_model(image[None, ..., None]).numpy()[0], atol=1e-6)
    predictor.activations(image[::-1].copy())
    assert calls == [1, 1]


def test_kernels_come_out_filter_first(tiny_model):
    assert conv_kernels(tiny_model, "conv_2").shape == (8, 4, 3, 3)
    with pytest.raises(ValueError, match=r"choose one of \['conv_1', 'conv_2', 'conv_3'\]"):
        conv_kernels(tiny_model, "dense")


def test_filter_patterns_excite_their_own_filter_more_than_noise(tiny_model):
    patterns = filter_patterns(tiny_model, "conv_1", steps=20)
    assert patterns.shape == (4, 28, 28) and patterns.min() >= 0 and patterns.max() <= 1
    acts = Predictor(tiny_model).forward(patterns)[0]  # conv_1
    noise = Predictor(tiny_model).forward(np.full((4, 28, 28), 0.5, np.float32))[0]
    own = [acts[i, ..., i].mean() for i in range(4)]
    base = [noise[i, ..., i].mean() for i in range(4)]
    assert sum(o > b for o, b in zip(own, base)) >= 3


def test_patterns_are_computed_once_and_stored_beside_the_model(tmp_path, tiny_model):
    path = save_model(tiny_model, tmp_path / "m.keras")
    calls = []
    first = load_or_compute_patterns(tiny_model, path, on_progress=lambda f, layer: calls.append(f))
    assert patterns_path(path).exists() and calls[-1] == pytest.approx(1.0)
    again = load_or_compute_patterns(tiny_model, path, on_progress=lambda f, layer: calls.append("again"))
    assert "again" not in calls and np.allclose(first["conv_3"], again["conv_3"], atol=1e-3)


def test_saliency_is_a_normalised_28x28_map(tiny_model, tiny_data):
    heat = Predictor(tiny_model).saliency(tiny_data[1][0][0, ..., 0])
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0) and heat.min() >= 0


def test_saliency_stays_on_the_ink(tiny_model, tiny_data):
    image = tiny_data[1][0][0, ..., 0]
    near_ink = np.zeros((30, 30), bool)
    for dr in range(3):
        for dc in range(3):
            near_ink[dr:dr + 28, dc:dc + 28] |= image > 0
    heat = Predictor(tiny_model).saliency(image)
    assert heat[~near_ink[1:29, 1:29]].max() == 0  # empty paper, more than a pixel from ink, gets nothing


def test_activation_model_of_a_loaded_sequential_is_its_own_short_graph(tiny_model, tmp_path):
    import keras

    tiny_model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    activations = activation_model(loaded)
    image = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    assert len(activations.layers) == len(loaded.layers) + 1
    np.testing.assert_allclose(activations(image)[-1], loaded(image), atol=1e-6)


def test_figures_build_from_plain_arrays(tiny_data):
    tiled, index = mosaic(np.ones((10, 3, 3)), cols=4)
    assert tiled.shape == (11, 15) and index.max() == 9 and np.isnan(tiled[3, 0])
    assert len(map_grid(np.random.rand(32, 26, 26), shared_scale=False).data) == 1
    assert probability_bars(np.eye(10)[3]).to_dict()["data"][0]["marker"]["color"].count("#ff4b4b") == 1
    assert len(preprocessing_steps(canvas_to_mnist(tiny_data[1][0][0, ..., 0])).data) == 5


@pytest.mark.parametrize("probs", [np.eye(10)[3], np.full(10, 0.1), np.arange(10) / 45.0])
@pytest.mark.parametrize("title", ["Probability of each digit", ""])
def test_the_fast_probability_bars_are_the_validated_figure(probs, title):
    """The draw page's bars are filled into a dict validated once; plotly would build the very same figure."""
    import plotly.io
    import plotly.tools

    def spec(figure):  # what st.plotly_chart sends
        return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, True), validate=False)

    assert spec(probability_bars(probs, title)) == spec(probability_bars_figure(probs, title))
    assert spec(probability_bars(probs, title)) == probability_bars(probs, title).to_json()


def test_a_grid_can_number_its_maps_and_nearly_blank_patterns_are_found():
    grid = map_grid(np.random.rand(10, 5, 5), cols=4, numbered=True)
    corners = {a.text: (a.x, a.y) for a in grid.layout.annotations}
    assert len(corners) == 10 and corners["0"] == (-0.5, -0.5) and corners["5"] == (5.5, 5.5)  # row 1, column 1
    assert not map_grid(np.random.rand(10, 5, 5), cols=4).layout.annotations
    patterns = np.random.default_rng(0).uniform(0, 1, (4, 28, 28))
    patterns[2] = 0.5
    patterns[2, 10, 10] = 1.0  # one even grey with a speck
    patterns[3] = 1.0
    patterns[3, :2] = 0.0  # white but for a dark edge (7% of it)
    assert nearly_blank(patterns).tolist() == [2, 3]
    with pytest.raises(ValueError, match="filters, h, w"):
        nearly_blank(np.zeros((28, 28)))
