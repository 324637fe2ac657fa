"""Shift a digit: moving images, the offset grid, accuracy against shift, equivariance, the CLI and the page."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from model_zoo import BUILDERS, save_zoo
from streamlit.testing.v1 import AppTest

from mnist_model.engine.data import load_mnist
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import (
    PRETRAINED_DENSE,
    PRETRAINED_MODEL,
    ModelFileError,
    delete_model,
    list_models,
    load_model,
    read_card,
    rename_model,
)
from mnist_model.figures.numbers import percent
from mnist_model.lab import shift
from mnist_model.lab.inspection import conv_layer_names
from mnist_model.lab.shift import (
    SHIFTS,
    conv_equivariance,
    hidden_units,
    load_or_compute_shift_curves,
    probability_function,
    random_offsets,
    shift_curves_path,
    shift_grid,
    shift_image,
    shift_images,
    shifted_test_accuracy,
    similarity,
)

APP = "../../app.py"
SQUARE = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(0, 1, (28, 28)).astype(np.float32)


@pytest.mark.parametrize("dx, dy, expected", [
    (0, 0, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
    (1, 0, [[0, 1, 2], [0, 4, 5], [0, 7, 8]]),  # right: a zero column enters on the left
    (-1, 0, [[2, 3, 0], [5, 6, 0], [8, 9, 0]]),
    (0, 1, [[0, 0, 0], [1, 2, 3], [4, 5, 6]]),  # down
    (-2, -1, [[6, 0, 0], [9, 0, 0], [0, 0, 0]]),
    (3, 0, [[0, 0, 0]] * 3),  # moved right out of the frame
    (0, -40, [[0, 0, 0]] * 3),
])
def test_shift_image_by_hand(dx, dy, expected):
    np.testing.assert_array_equal(shift_image(SQUARE, dx, dy), expected)


def test_what_leaves_the_frame_is_lost():
    there_and_back = shift_image(shift_image(IMAGE, 5, -3), -5, 3)
    np.testing.assert_array_equal(there_and_back[3:, :23], IMAGE[3:, :23])
    assert not there_and_back[:3].any() and not there_and_back[:, 23:].any()


def test_each_image_of_a_batch_gets_its_own_shift():
    images = RNG.uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    dx, dy = np.array([0, 3, -8, 27]), np.array([1, -2, 8, 0])
    moved = shift_images(images, dx, dy)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    for i in range(4):
        np.testing.assert_array_equal(moved[i, ..., 0], shift_image(images[i, ..., 0], dx[i], dy[i]))
    maps = RNG.uniform(0, 1, (1, 26, 26, 3))  # feature maps move with all their channels
    moved = shift_images(maps, 2, -1)
    for c in range(3):
        np.testing.assert_array_equal(moved[0, ..., c], shift_image(maps[0, ..., c], 2, -1))


@pytest.mark.parametrize("call, message", [
    (lambda: shift_images(np.zeros((28, 28)), 1, 1), r"expected images shaped \(N, H, W\)"),
    (lambda: shift_images(np.zeros((2, 2, 28, 28, 1)), 1, 1), r"expected images shaped"),
    (lambda: shift_images(np.zeros((2, 28, 28)), [1, 2, 3], 0), r"one shift or one per image \(2\)"),
    (lambda: shift_image(np.zeros((1, 28, 28)), 1, 1), r"one 2-D image"),
    (lambda: shift_grid(lambda x: x, IMAGE, digit=10), r"digit must be 0-9 or None"),
    (lambda: shift_grid(lambda x: x, IMAGE, max_shift=-1), r"max_shift must be 0 or more"),
])
def test_bad_input_says_what_is_accepted(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_grid_maps_every_offset_and_its_centre_is_the_unmoved_prediction(tiny_model):
    predict = probability_function(tiny_model)
    unmoved = predict(IMAGE[None])[0]
    grid = shift_grid(tiny_model, IMAGE)
    assert grid.shape == (17, 17)
    assert grid[8, 8] == pytest.approx(unmoved.max(), abs=1e-6)  # digit None: the unmoved prediction's
    small = shift_grid(predict, IMAGE, digit=3, max_shift=2)
    assert small.shape == (5, 5) and small[2, 2] == pytest.approx(unmoved[3], abs=1e-6)
    row, col = 0, 4  # dy = -2 (up), dx = +2 (right)
    assert small[row, col] == pytest.approx(predict(shift_image(IMAGE, 2, -2)[None])[0, 3], abs=1e-6)


def test_logits_get_a_softmax():
    model = BUILDERS["logits"]()
    probs = probability_function(model)(IMAGE[None])[0]
    assert probs.sum() == pytest.approx(1.0, abs=1e-5) and probs.min() >= 0


def test_random_directions_are_seeded_and_about_the_distance_long():
    dx, dy = random_offsets(2000, 6)
    np.testing.assert_array_equal(dx, random_offsets(2000, 6)[0])
    assert not np.array_equal(dx, random_offsets(2000, 6, seed=1)[0])
    assert np.abs(np.hypot(dx, dy) - 6).max() <= 0.71  # rounding moves each end by half a pixel at most
    assert (dx > 0).mean() == pytest.approx(0.5, abs=0.05) and (dy > 0).mean() == pytest.approx(0.5, abs=0.05)


def test_accuracy_curve_has_one_value_per_shift_and_repeats_with_its_seed(tiny_model, tiny_data):
    (_, _), (x, y) = tiny_data
    steps = []
    curve = shifted_test_accuracy(tiny_model, x, y, shifts=(0, 2, 8), on_shift=steps.append)
    assert curve.shape == (3,) and steps == [1, 2, 3]
    unmoved = (probability_function(tiny_model)(x).argmax(1) == y.argmax(1)).mean()
    assert curve[0] == pytest.approx(unmoved)
    np.testing.assert_array_equal(curve, shifted_test_accuracy(tiny_model, x, y, shifts=(0, 2, 8)))
    as_stored = shifted_test_accuracy(tiny_model, as_uint8(x), y.argmax(1), shifts=(0, 2, 8))
    np.testing.assert_allclose(curve, as_stored, atol=0.01)  # MNIST as stored gives the same answer


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Prepared (N, 28, 28, 1) images in [0, 1] back to MNIST's uint8 (N, 28, 28)."""
    return (images[..., 0] * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def bundled_pair():
    return load_model(PRETRAINED_MODEL), load_model(PRETRAINED_DENSE)


def test_the_convnet_keeps_digits_the_dense_network_loses_at_6_px(bundled_pair, mnist):
    """Measured here on 2,000 test digits, not read from a file."""
    (_, _), (x, y) = mnist
    conv, dense = (shifted_test_accuracy(model, x[:2000], y[:2000], shifts=(0, 6)) for model in bundled_pair)
    assert conv[0] > 0.99 and dense[0] > 0.97  # both read unmoved digits
    assert conv[1] > dense[1] + 0.2, (conv, dense)


def test_the_bundled_pairs_curves_are_shipped_and_not_measured_again(bundled_pair):
    called = []
    curves = load_or_compute_shift_curves(bundled_pair[0], PRETRAINED_MODEL, bundled_pair[1], PRETRAINED_DENSE,
                                          progress=lambda *a: called.append(a))
    assert called == [] and shift_curves_path(PRETRAINED_MODEL, PRETRAINED_DENSE).is_file()
    assert curves.n == 10_000 and curves.shifts.tolist() == list(SHIFTS)
    assert curves.conv_accuracy[6] > curves.dense_accuracy[6] + 0.2


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return save_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("name", [n for n, build in BUILDERS.items() if conv_layer_names(build())])
@pytest.mark.parametrize("dx, dy", [(3, -2), (-8, 8), (0, 5)])
def test_the_first_conv_map_moves_with_the_digit(zoo, name, dx, dy):
    result = conv_equivariance(load_model(zoo[name]), IMAGE, dx, dy)
    h, w = result.inside.shape
    assert (h - abs(dy) - 4) * (w - abs(dx) - 4) <= result.inside.sum() <= (h - abs(dy)) * (w - abs(dx))
    assert result.of_shifted[:, result.inside].max() > 0  # something to compare
    assert result.max_difference < 1e-5


def test_a_strided_conv_follows_shifts_by_whole_strides_only():
    strided = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3, strides=2),
                                keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    assert conv_equivariance(strided, IMAGE, 2, -4).max_difference < 1e-5
    with pytest.raises(ValueError, match="multiple"):
        conv_equivariance(strided, IMAGE, 1, 0)
    with pytest.raises(ValueError, match="not a convolution layer"):
        conv_equivariance(BUILDERS["dense_only"](), IMAGE, 1, 0)


def test_dense_units_change_when_the_digit_moves(zoo):
    original, moved = hidden_units(load_model(zoo["dense_only"]), IMAGE, 4, 3)
    assert original.shape == moved.shape == (117,)
    assert similarity(original, moved) < 0.99 and similarity(original, original) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no hidden Dense layer"):
        hidden_units(load_model(zoo["rescaled"]), IMAGE, 1, 1)


def test_an_unmoved_digit_gives_the_same_units_even_where_a_batch_differs_in_its_last_bits(zoo, monkeypatch):
    real = shift._outputs

    def last_bits_per_row(model, layer, images):  # as oneDNN on AVX-512 may: each row of a batch a little off
        out = real(model, layer, images)
        return out + np.arange(len(out), dtype=out.dtype).reshape((-1,) + (1,) * (out.ndim - 1)) * 1e-6

    monkeypatch.setattr(shift, "_outputs", last_bits_per_row)
    original, moved = hidden_units(load_model(zoo["dense_only"]), IMAGE, 0, 0)
    assert similarity(original, moved) == 1.0
    assert percent(similarity(original, moved), 0, exact=True) == "100%"
    original, moved = hidden_units(load_model(zoo["dense_only"]), IMAGE, 1, 0)
    assert similarity(original, moved) < 1.0


@pytest.mark.parametrize("a, b, expected", [([1, 0], [2, 0], 1.0), ([1, 0], [0, 3], 0.0), ([0, 0], [0, 0], 1.0)])
def test_similarity(a, b, expected):
    assert similarity(np.array(a), np.array(b)) == pytest.approx(expected)


@pytest.fixture
def small_test_set(monkeypatch, mnist):
    """Curves measured on 300 test digits, so computing them takes a moment."""
    (x_train, y_train), (x_test, y_test) = mnist
    small = ((x_train[:1], y_train[:1].argmax(1)), (as_uint8(x_test[:300]), y_test[:300].argmax(1)))
    monkeypatch.setattr(shift, "load_mnist", lambda *a: small)


def test_curves_are_stored_beside_the_convnet_and_measured_again_for_another_file(tmp_path, small_test_set, zoo):
    conv_path, dense_path = tmp_path / "mine.keras", tmp_path / "flat.keras"
    conv_path.write_bytes(zoo["seed_unnamed"].read_bytes())
    dense_path.write_bytes(zoo["dense_only"].read_bytes())
    conv, dense = load_model(conv_path), load_model(dense_path)
    seen = []
    first = load_or_compute_shift_curves(conv, conv_path, dense, dense_path, lambda f, what: seen.append((f, what)))
    assert shift_curves_path(conv_path, dense_path) == tmp_path / "mine.shift.npz"
    assert (tmp_path / "mine.shift.npz").is_file() and seen[-1] == (1.0, "dense network") and first.n == 300
    assert len(first.shifts) == len(first.conv_accuracy) == len(first.dense_accuracy) == len(SHIFTS)
    seen.clear()
    again = load_or_compute_shift_curves(conv, conv_path, dense, dense_path, lambda *a: seen.append(a))
    assert seen == [] and np.array_equal(again.dense_accuracy, first.dense_accuracy)
    BUILDERS["dense_only"]().save(dense_path)  # retrained: other weights
    load_or_compute_shift_curves(conv, conv_path, load_model(dense_path), dense_path, lambda *a: seen.append(a))
    assert seen


def test_a_users_dense_network_keeps_its_curves_beside_itself_not_in_the_bundled_folder(tmp_path):
    assert shift_curves_path(PRETRAINED_MODEL, tmp_path / "flat.keras") == tmp_path / "flat.shift.npz"
    assert shift_curves_path(tmp_path / "mine.keras", PRETRAINED_DENSE) == tmp_path / "mine.shift.npz"
    assert shift_curves_path(PRETRAINED_MODEL, PRETRAINED_DENSE) == PRETRAINED_MODEL.with_suffix(".shift.npz")


def test_the_dense_network_is_bundled_second_with_its_card_and_cannot_be_renamed_or_deleted(tmp_path):
    entries = list_models(tmp_path)
    assert [(e.path, e.bundled) for e in entries] == [(PRETRAINED_MODEL, True), (PRETRAINED_DENSE, True)]
    card = read_card(PRETRAINED_DENSE)
    assert card["command"] == ("python -m mnist_model train --recipe improved --arch dense "
                               "--out mnist_model/pretrained/dense.keras")
    assert card["params"] == 93_025 and card["config"]["architecture"] == "dense"
    assert not conv_layer_names(load_model(PRETRAINED_DENSE))
    for action in (lambda: rename_model(PRETRAINED_DENSE, "x"), lambda: delete_model(PRETRAINED_DENSE)):
        with pytest.raises(ModelFileError, match="bundled"):
            action()


def test_cli_experiment_shift_json(tmp_path, mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    npz = tmp_path / "small.npz"
    np.savez(npz, x_train=as_uint8(x_train[:10]), y_train=y_train[:10].argmax(1),
             x_test=as_uint8(x_test[:500]), y_test=y_test[:500].argmax(1))
    result = subprocess.run([sys.executable, "-m", "mnist_model", "experiment", "shift", "--json", "--data", str(npz)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["shifts"] == list(range(9)) and out["n"] == 500
    assert len(out["conv_accuracy"]) == len(out["dense_accuracy"]) == 9
    assert out["conv_accuracy"][6] > out["dense_accuracy"][6]


@pytest.fixture
def open_page(monkeypatch, tmp_path, zoo, small_test_set):
    """The shift page with a model picked in the sidebar and MNIST test image #0 as the input."""
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(zoo["seed_unnamed"].parent))

    def run(model_path) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["model_path"] = str(model_path)
        at.switch_page("views/invariance.py").run()
        assert not at.exception
        return at
    return run


def test_the_page_compares_the_bundled_pair_on_the_input(open_page):
    at = open_page(PRETRAINED_MODEL)
    image = canvas_to_mnist(load_mnist()[1][0][0]).image  # no drawing yet: test image #0
    conv, dense = (probability_function(load_model(p)) for p in (PRETRAINED_MODEL, PRETRAINED_DENSE))
    assert at.metric[0].value == str(conv(shift_image(image, 4, 3)[None]).argmax())  # the slider's start
    captions = " ".join(c.value for c in at.caption)
    assert "At 6 px the convnet still reads" in captions  # the shipped curves, shown at once
    assert "largest difference over all 32 channels is **0.0000**" in captions
    at.slider(key="shift_dx").set_value(0).run()
    at.slider(key="shift_dy").set_value(0).run()
    assert not at.exception
    assert at.metric[1].value == str(dense(image[None]).argmax())
    assert "has not moved, so the pattern of the dense network's" in " ".join(c.value for c in at.caption)
    assert "matches **100%**: it is the same pattern" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("name, says", [
    ("bundled dense", "The active model, **dense**, has no convolution layers"),
    ("dense_only", "has no convolution layers"),
    ("reshaped_rows", "has no convolution layers"),
    ("seed_unnamed", None),
    ("same_padding", None),
    ("logits", None),
])
def test_the_page_works_for_any_model(open_page, zoo, name, says):
    at = open_page(PRETRAINED_DENSE if name == "bundled dense" else zoo[name])
    assert any(says in i.value for i in at.info) if says else not [i for i in at.info if "convolution" in i.value]
    assert len(at.metric) == 2 and all(m.value in "0123456789" for m in at.metric)
    assert any("At 6 px the convnet still reads" in c.value for c in at.caption)
