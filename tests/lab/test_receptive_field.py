"""Receptive fields: the arithmetic, checked by hand against networks whose every weight is known."""

import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import page_with_model
from keras import layers
from model_zoo import BUILDERS, prepare_quickly
from streamlit.testing.v1 import AppTest

from mnist_model.cli import main
from mnist_model.engine.network import build_convnet
from mnist_model.engine.storage import load_model
from mnist_model.lab.receptive_field import (
    arithmetic_lines,
    field_row,
    receptive_fields,
    unit_box,
    unit_field,
    window_layer_names,
)

SEED = ["conv_1", "pool_1", "conv_2", "pool_2", "conv_3"]


def influence(model: keras.Model, layer: str, row: int, col: int) -> np.ndarray:
    """(28, 28) bool: the input pixels whose change changes unit (row, col) of ``layer``.

    One image per pixel, that pixel 1 and the rest 0, against the all-zero image: with
    non-negative weights and no bias, a pixel in the field always moves some channel.
    """
    upstream = keras.Model(model.inputs[0], model.get_layer(layer).output)
    impulses = np.concatenate([np.zeros((1, 784)), np.eye(784)]).reshape((-1, 28, 28, 1)).astype("float32")
    out = upstream.predict_on_batch(impulses)[:, row, col, :]
    return (np.abs(out[1:] - out[0]).max(axis=1) > 1e-6).reshape(28, 28)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the True pixels, bottom and right exclusive."""
    rows, cols = np.nonzero(mask)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def with_weights(model: keras.Model, kernel) -> keras.Model:
    """The model with every conv kernel replaced by ``kernel(shape)`` and every bias set to 0."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            weights = layer.get_weights()
            layer.set_weights([kernel(weights[0].shape), *[np.zeros_like(w) for w in weights[1:]]])
    return model


def single_tap(ky: int, kx: int):
    """A kernel whose only non-zero weight is at (ky, kx), for every input and output channel."""
    def kernel(shape):
        k = np.zeros(shape, np.float32)
        k[ky, kx] = 1.0
        return k
    return kernel


def ones(shape):
    return np.ones(shape, np.float32)


def linear_seed() -> keras.Model:
    """Listing 5.1's layout with one channel per conv and no activation, so every path is visible."""
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(1, 3, name="conv_1"),
                             layers.MaxPooling2D(2, name="pool_1"), layers.Conv2D(1, 3, name="conv_2"),
                             layers.MaxPooling2D(2, name="pool_2"), layers.Conv2D(1, 3, name="conv_3"),
                             layers.Flatten(name="flatten"), layers.Dense(10, name="predictions")])


def test_the_seed_fields_are_3_4_8_10_18_pixels_with_jumps_1_2_2_4_4(tiny_model):
    rows = {row.name: row for row in receptive_fields(tiny_model)}
    assert [rows[n].size for n in SEED] == [(3, 3), (4, 4), (8, 8), (10, 10), (18, 18)]
    assert [rows[n].jump for n in SEED] == [(1, 1), (2, 2), (2, 2), (4, 4), (4, 4)]
    assert [rows[n].start for n in SEED] == [(1, 1), (1.5, 1.5), (3.5, 3.5), (4.5, 4.5), (8.5, 8.5)]
    assert [rows[n].grid for n in SEED] == [(26, 26), (13, 13), (11, 11), (5, 5), (3, 3)]
    assert all(rows[n].jump is None and rows[n].size == (28, 28) for n in ("flatten", "dense", "predictions"))
    assert window_layer_names(tiny_model) == SEED


def test_the_arithmetic_is_written_out_for_each_layer(tiny_model):
    assert arithmetic_lines(receptive_fields(tiny_model), "conv_3") == [
        "conv_1: 1 + (3-1) x 1 = 3; jump 1 x 1 = 1",
        "pool_1: 3 + (2-1) x 1 = 4; jump 1 x 2 = 2",
        "conv_2: 4 + (3-1) x 2 = 8; jump 2 x 1 = 2",
        "pool_2: 8 + (2-1) x 2 = 10; jump 2 x 2 = 4",
        "conv_3: 10 + (3-1) x 4 = 18; jump 4 x 1 = 4",
    ]


@pytest.mark.parametrize("layer, unit, box", [  # worked out by hand: top = row x jump, bottom = top + size
    ("conv_1", (0, 0), (0, 0, 3, 3)),
    ("conv_1", (25, 7), (25, 7, 28, 10)),
    ("pool_1", (12, 3), (24, 6, 28, 10)),
    ("conv_2", (10, 0), (20, 0, 28, 8)),
    ("pool_2", (4, 1), (16, 4, 26, 14)),
    ("conv_3", (2, 1), (8, 4, 26, 22)),
])
def test_unit_fields_by_hand(tiny_model, layer, unit, box):
    assert unit_field(receptive_fields(tiny_model), layer, *unit) == box


@pytest.mark.parametrize("ky, kx", [(0, 0), (2, 2), (0, 2)])
@pytest.mark.parametrize("layer, unit", [("conv_1", (5, 9)), ("conv_2", (3, 7)), ("conv_3", (1, 2)),
                                         ("conv_3", (2, 0))])
def test_a_single_non_zero_weight_reaches_the_fields_own_corner(layer, unit, ky, kx):
    """Every conv's only weight at one tap of its kernel: the unit hears a block at that corner of its field."""
    model = with_weights(linear_seed(), single_tap(ky, kx))
    top, left, bottom, right = unit_field(receptive_fields(model), layer, *unit)
    heard = box_of(influence(model, layer, *unit))
    assert heard[0] == top if ky == 0 else heard[2] == bottom
    assert heard[1] == left if kx == 0 else heard[3] == right


def test_with_all_weights_one_the_pixels_a_unit_hears_are_exactly_its_field():
    model = with_weights(linear_seed(), ones)
    rows = receptive_fields(model)
    for layer, unit in [("conv_1", (4, 20)), ("pool_1", (0, 12)), ("conv_2", (10, 10)), ("pool_2", (3, 2)),
                        ("conv_3", (0, 0)), ("conv_3", (2, 2))]:
        field = np.zeros((28, 28), bool)
        top, left, bottom, right = unit_field(rows, layer, *unit)
        field[top:bottom, left:right] = True
        np.testing.assert_array_equal(influence(model, layer, *unit), field, err_msg=f"{layer} {unit}")


def geometry_zoo() -> dict[str, keras.Model]:
    """Strides, 'same' padding, dilation, non-square kernels, padding and cropping layers, a merge."""
    image = keras.Input((28, 28, 1))
    small = layers.Conv2D(2, 3, padding="same", name="small")(image)
    large = layers.Conv2D(2, 5, padding="same", name="large")(image)
    merged = layers.Concatenate(name="merged")([small, large])
    return {
        "same_strided": keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(2, 5, padding="same", name="a"),
                                          layers.Conv2D(2, 3, strides=2, padding="same", name="b"),
                                          layers.AveragePooling2D(3, strides=2, padding="same", name="c")]),
        "dilated": keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(2, 3, dilation_rate=2, name="a"),
                                     layers.BatchNormalization(name="norm"), layers.Conv2D(2, (3, 5), strides=(1, 2),
                                                                                           name="b")]),
        "padded": keras.Sequential([keras.Input((28, 28, 1)), layers.ZeroPadding2D(((2, 0), (1, 3)), name="pad"),
                                    layers.Conv2D(2, 3, name="a"), layers.Cropping2D(((1, 0), (2, 1)), name="crop"),
                                    layers.MaxPooling2D(2, name="b")]),
        "merged": keras.Model(image, layers.MaxPooling2D(2, name="pool")(merged)),
    }


GEOMETRY = geometry_zoo()


@pytest.mark.parametrize("name, layer, unit", [
    ("same_strided", "a", (0, 0)), ("same_strided", "a", (27, 13)), ("same_strided", "b", (0, 13)),
    ("same_strided", "b", (13, 13)), ("same_strided", "c", (0, 0)), ("same_strided", "c", (6, 3)),
    ("dilated", "a", (0, 0)), ("dilated", "norm", (10, 3)), ("dilated", "b", (3, 7)), ("dilated", "b", (21, 0)),
    ("padded", "a", (0, 0)), ("padded", "a", (27, 26)), ("padded", "b", (0, 0)), ("padded", "b", (7, 9)),
    ("merged", "merged", (0, 27)), ("merged", "pool", (5, 6)), ("merged", "pool", (13, 13)),
])
def test_strides_padding_dilation_and_merges_match_the_pixels_a_unit_hears(name, layer, unit):
    model = with_weights(GEOMETRY[name], ones)
    box = unit_field(receptive_fields(model), layer, *unit)
    heard = influence(model, layer, *unit)
    assert box_of(heard) == box
    if name != "dilated":  # a dilated kernel skips pixels: its field is a span with holes
        assert heard.sum() == (box[2] - box[0]) * (box[3] - box[1])


@pytest.mark.parametrize("name, layer, size, jump, box", [  # by hand, unclipped
    ("same_strided", "a", (5, 5), (1, 1), (-2, -2, 3, 3)),  # 'same' pads 2 before a 5x5 kernel
    ("same_strided", "b", (7, 7), (2, 2), (-2, -2, 5, 5)),  # 28 -> 14 with stride 2 pads 0 before, 1 after
    ("same_strided", "c", (11, 11), (4, 4), (-2, -2, 9, 9)),  # 14 -> 7: pads 0 before, 1 after
    ("dilated", "a", (5, 5), (1, 1), (0, 0, 5, 5)),  # a 3x3 kernel with holes spans 5
    ("dilated", "b", (7, 9), (1, 2), (0, 0, 7, 9)),  # a 3x5 kernel, stride 2 across
    ("padded", "a", (3, 3), (1, 1), (-2, -1, 1, 2)),
    ("padded", "b", (4, 4), (2, 2), (-1, 1, 3, 5)),
    ("merged", "merged", (5, 5), (1, 1), (-2, -2, 3, 3)),
])
def test_sizes_jumps_and_boxes_by_hand(name, layer, size, jump, box):
    rows = receptive_fields(GEOMETRY[name])
    assert (field_row(rows, layer).size, field_row(rows, layer).jump) == (size, jump)
    assert unit_box(rows, layer, 0, 0) == box
    assert unit_field(rows, layer, 0, 0) == tuple(max(0, min(28, v)) for v in box)


def test_a_unit_over_padding_only_sees_nothing():
    rows = receptive_fields(GEOMETRY["padded"])
    assert unit_box(rows, "a", 27, 29) == (25, 28, 28, 31)  # the 3 columns of zeros padded on the right
    assert unit_field(rows, "a", 27, 29) == (25, 28, 28, 28)
    assert not influence(with_weights(GEOMETRY["padded"], ones), "a", 27, 29).any()


def test_the_bundled_models_gradients_stay_inside_each_units_field():
    model = load_model()
    rows = receptive_fields(model)
    image = np.random.default_rng(0).uniform(0, 1, (1, 28, 28, 1)).astype("float32")
    for layer, unit in [("conv_1", (12, 3)), ("pool_1", (5, 5)), ("conv_2", (7, 2)), ("pool_2", (1, 4)),
                        ("conv_3", (0, 2)), ("conv_3", (1, 1))]:
        upstream = keras.Model(model.inputs[0], model.get_layer(layer).output)
        x = tf.constant(image)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(upstream(x)[0, unit[0], unit[1], :])
        touched = np.abs(tape.gradient(score, x).numpy()[0, ..., 0]) > 0
        top, left, bottom, right = unit_field(rows, layer, *unit)
        outside = touched.copy()
        outside[top:bottom, left:right] = False
        assert touched.any() and not outside.any(), layer
        if layer == "conv_1":  # one layer deep, every pixel of the 3x3 window counts
            assert touched.sum() == 9


@pytest.mark.parametrize("layer, row, col, message", [
    ("conv_9", 0, 0, "not a layer of this model; choose one of ['conv_1'"),
    ("conv_3", 3, 0, "conv_3's map has 3x3 units; got unit (3, 0)"),
    ("pool_1", 0, -1, "rows and columns go from 0 to 12 and 12"),
])
def test_units_outside_a_layer_are_refused(tiny_model, layer, row, col, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        unit_field(receptive_fields(tiny_model), layer, row, col)


def test_a_whole_image_layer_sees_all_28x28(tiny_model):
    assert unit_field(receptive_fields(tiny_model), "dense", 0, 0) == (0, 0, 28, 28)


@pytest.mark.parametrize("name, windows", [
    ("seed_unnamed", ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2"]),
    ("dense_only", []), ("reshaped_rows", []), ("regularised", ["conv2d", "max_pooling2d", "conv2d_1"]),
    ("functional", ["conv2d", "conv2d_1", "max_pooling2d"]), ("same_padding", ["conv2d", "conv2d_1"]),
])
def test_every_zoo_model_gets_rows_and_its_window_layers_by_type(name, windows):
    keras.backend.clear_session()  # so the zoo's unnamed layers get the names listed
    model = BUILDERS[name]()
    rows = receptive_fields(model)
    assert [r.name for r in rows] == [layer.name for layer in model.layers if not isinstance(layer, layers.InputLayer)]
    assert window_layer_names(model) == windows
    assert rows[-1].jump is None  # the classifier sees the whole image


def test_the_zoos_dropout_and_batch_norm_keep_the_field():
    keras.backend.clear_session()
    rows = {row.name: row for row in receptive_fields(BUILDERS["regularised"]())}
    assert rows["batch_normalization"].size == rows["conv2d"].size == (3, 3)
    assert rows["dropout"].size == rows["max_pooling2d"].size == (4, 4)
    assert "unchanged" in rows["dropout"].arithmetic


def test_cli_json_gives_each_layers_field_and_jump():
    result = subprocess.run([sys.executable, "-m", "mnist_model", "receptive-field", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["model"].endswith("classic.keras")
    by_name = {layer["name"]: layer for layer in out["layers"]}
    assert [by_name[n]["size"] for n in SEED] == [[3, 3], [4, 4], [8, 8], [10, 10], [18, 18]]
    assert [by_name[n]["jump"] for n in SEED] == [[1, 1], [2, 2], [2, 2], [4, 4], [4, 4]]
    assert by_name["conv_3"]["start"] == [8.5, 8.5] and by_name["conv_3"]["type"] == "Conv2D"
    assert by_name["dense"]["whole_image"] is True and by_name["dense"]["jump"] is None


def test_cli_table_for_another_model_and_a_message_for_a_bad_one(tmp_path, capsys):
    build_convnet((2, 2, 2), 4).save(tmp_path / "small.keras")
    assert main(["receptive-field", "--model", str(tmp_path / "small.keras")]) == 0
    table = capsys.readouterr().out
    assert "conv_3: 10 + (3-1) x 4 = 18; jump 4 x 1 = 4" in table
    assert [line.split() for line in table.splitlines() if line.startswith("pool_2 ")] == \
        [["pool_2", "MaxPooling2D", "10", "4"]]
    (tmp_path / "bad.keras").write_text("x")
    assert main(["receptive-field", "--model", str(tmp_path / "bad.keras")]) == 2
    assert "not a Keras model" in capsys.readouterr().err


@pytest.fixture
def page(app):
    app.switch_page("views/hierarchy.py").run()
    assert not app.exception
    return app


def test_page_shows_a_units_field_and_the_arithmetic_up_to_its_layer(page):
    assert page.code[0].value == "conv_1: 1 + (3-1) x 1 = 3; jump 1 x 1 = 1"
    assert [s.value for s in page.main.slider] == [13, 13]  # the middle unit of conv_1's 26x26 map
    page.selectbox(key="rf_layer").set_value("conv_3").run()
    page.slider(key="rf_row_conv_3").set_value(0).run()
    assert not page.exception
    assert page.code[0].value.splitlines()[-1] == "conv_3: 10 + (3-1) x 4 = 18; jump 4 x 1 = 4"
    assert [s.value for s in page.main.slider] == [0, 1]


def test_page_says_a_same_padded_field_reaches_past_the_border(tmp_path, monkeypatch):
    keras.backend.clear_session()
    path = tmp_path / "same.keras"
    BUILDERS["same_padding"]().save(path)
    at = page_with_model("views/hierarchy.py", path, monkeypatch)
    at.slider(key="rf_row_conv2d").set_value(0).run()
    assert not at.exception
    assert "Part of this unit's field lies past the border, where the layer pads with zeros." in \
        [c.value for c in at.caption]


def test_page_keeps_working_when_the_model_changes_under_a_picked_layer(tmp_path, monkeypatch):
    keras.backend.clear_session()
    BUILDERS["seed_unnamed"]().save(tmp_path / "unnamed.keras")
    prepare_quickly(tmp_path / "unnamed.keras")
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(tmp_path))
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.switch_page("views/hierarchy.py").run()
    at.selectbox(key="rf_layer").set_value("conv_3").run()
    at.segmented_control(key="tp_layer").set_value("conv_3").run()
    at.sidebar.selectbox(key="model_path").set_value(str(tmp_path / "unnamed.keras")).run()
    assert not at.exception
    assert at.code[0].value == "conv2d: 1 + (3-1) x 1 = 3; jump 1 x 1 = 1"  # back to the first layer
