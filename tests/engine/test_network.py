import numpy as np
import pytest

from mnist_model.engine.network import LAYER_NAMES, build_convnet, param_formula, summary_rows, summary_text


def test_seed_architecture_has_93322_parameters_and_the_seed_shapes():
    model = build_convnet()
    rows = {r["layer"]: r for r in summary_rows(model)}
    assert model.count_params() == 93_322
    assert [layer.name for layer in model.layers] == list(LAYER_NAMES)
    assert {name: rows[name]["output_shape"] for name in ("conv_1", "pool_1", "conv_2", "pool_2", "conv_3")} == {
        "conv_1": (26, 26, 32), "pool_1": (13, 13, 32), "conv_2": (11, 11, 64),
        "pool_2": (5, 5, 64), "conv_3": (3, 3, 64)}
    assert [rows[n]["params"] for n in LAYER_NAMES] == [320, 0, 18_496, 0, 36_928, 0, 36_928, 650]


def test_the_seed_notes_typo_of_63_filters_reproduces_their_table():
    model = build_convnet((32, 64, 63))
    rows = {r["layer"]: r for r in summary_rows(model)}
    assert rows["conv_3"]["params"] == 36_351
    assert rows["flatten"]["output_shape"] == (567,)
    assert rows["dense"]["params"] == 36_352
    assert "Total params: 92,169" in summary_text(model)


def test_parameter_formulas_explain_the_counts():
    model = build_convnet()
    assert param_formula(model.get_layer("conv_1")) == "(3*3*1 + 1) * 32 = 320"
    assert param_formula(model.get_layer("dense")) == "(576 + 1) * 64 = 36928"
    assert param_formula(model.get_layer("pool_1")) == "no weights: 0"


def test_dense_layer_computes_relu_of_x_w_plus_b_by_hand(tiny_model):
    dense = tiny_model.get_layer("dense")
    x = np.random.default_rng(0).normal(size=(3, dense.input.shape[-1])).astype("float32")
    w, b = dense.get_weights()
    b = np.random.default_rng(1).normal(size=b.shape).astype("float32")
    dense.set_weights([w, b])
    np.testing.assert_allclose(dense(x).numpy(), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("filters, dense, message", [
    ((32, 64), 64, "three positive integers"),
    ((32, 0, 64), 64, "three positive integers"),
    ((32, 64, 64), 0, "dense_units must be positive"),
])
def test_bad_architectures_are_refused(filters, dense, message):
    with pytest.raises(ValueError, match=message):
        build_convnet(filters, dense)


def test_notes_slip_is_a_conv_3_with_63_filters():
    from mnist_model.engine.network import notes_slip

    rows = {r["layer"]: r for r in notes_slip()}
    assert rows["conv_3"]["printed_params"] == 36351 and rows["conv_3"]["text_params"] == 36928
    assert rows["flatten"]["printed_shape"] == (567,) and rows["flatten"]["text_shape"] == (576,)
    assert rows["dense"]["printed_params"] == 36352
    assert sum(r["text_params"] for r in rows.values()) == 93322


def test_dense_network_has_about_the_convnets_parameters():
    from mnist_model.engine.config import TrainConfig
    from mnist_model.engine.network import build_from_config

    model = build_from_config(TrainConfig(architecture="dense", dense_units=117))
    assert model.count_params() == 93025
    assert not any("conv" in layer.name for layer in model.layers)
    with pytest.raises(ValueError, match="architecture must be one of"):
        TrainConfig(architecture="resnet")
