"""Compare two models: both answers for the same input, and feature maps only where a model has them."""

import re

import pytest
from model_zoo import dense_only, prepare_quickly, seed_unnamed

from mnist_model.engine.storage import PRETRAINED_DENSE, PRETRAINED_MODEL

NO_MAPS = "has no feature maps"  # views/compare.py runs as a page when imported, so its text is matched here


def metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_the_active_model_and_the_bundled_dense_network_read_test_digit_zero(app):
    app.switch_page("views/compare.py").run()
    assert not app.exception
    assert app.selectbox(key="compare_left").value == str(PRETRAINED_MODEL)
    assert app.selectbox(key="compare_right").value == str(PRETRAINED_DENSE)
    assert metrics(app) == {"classic reads": "7", "dense reads": "7"}  # MNIST test image #0 is a 7
    assert any("Both models read it as **7**" in m.value for m in app.markdown)
    assert len([i for i in app.info if NO_MAPS in i.value]) == 1  # the dense side only
    assert app.selectbox(key=f"compare_layer_left_{PRETRAINED_MODEL}").value == "conv_1"


@pytest.fixture
def two_models(app, tmp_path):
    """An unnamed-layer convnet and a dense-only network in the app's model folder."""
    paths = {"convnet": tmp_path / "unnamed.keras", "dense": tmp_path / "flat.keras"}
    seed_unnamed().save(paths["convnet"])
    dense_only().save(paths["dense"])
    for path in paths.values():
        prepare_quickly(path)  # the picker offers prepared models only
    app.switch_page("views/compare.py").run()
    app.selectbox(key="compare_left").select(str(paths["convnet"])).run()
    app.selectbox(key="compare_right").select(str(paths["dense"])).run()
    return paths


def test_any_two_models_in_the_folder_show_both_answers(app, two_models):
    assert not app.exception
    shown = metrics(app)
    assert set(shown) == {"unnamed reads", "flat reads"} and all(v in "0123456789" for v in shown.values())
    layers = app.selectbox(key=f"compare_layer_left_{two_models['convnet']}")
    assert re.fullmatch(r"conv2d(_\d+)? \(26x26x4\)", layers.options[0])  # Keras numbers unnamed layers
    layers.select(layers.options[-1]).run()
    assert not app.exception and app.get_by_key("compare_maps_left") is not None
    assert any(NO_MAPS in i.value for i in app.info)


def test_the_choice_survives_a_visit_to_another_page(app, two_models):
    app.switch_page("views/feature_maps.py").run()
    app.switch_page("views/compare.py").run()
    assert not app.exception
    assert set(metrics(app)) == {"unnamed reads", "flat reads"}
