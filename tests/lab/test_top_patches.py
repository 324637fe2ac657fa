"""Top patches: each filter's strongest test digits, cropped to the unit that fired, stored beside the model."""

import shutil

import keras
import numpy as np
import pytest
from browser_support import CHROMIUM, launch_browser, running_app
from conftest import page_with_model
from model_zoo import BUILDERS
from streamlit.testing.v1 import AppTest

from mnist_model.engine.data import load_mnist
from mnist_model.engine.storage import PRETRAINED_MODEL, load_model, model_digest
from mnist_model.lab import top_patches as tp
from mnist_model.lab.inspection import conv_layer_names
from mnist_model.lab.receptive_field import receptive_fields, unit_box
from mnist_model.lab.top_patches import (
    TOP,
    crop,
    load_or_compute_top_patches,
    top_patches,
    top_patches_path,
)

N = 300  # test digits for the unit tests


@pytest.fixture(scope="module")
def digits():
    return load_mnist()[1][0][:N]


@pytest.fixture(scope="module")
def small_test_set(digits):
    """What load_mnist gives, cut to N test digits, so computing takes a moment."""
    (x_train, y_train), (_, y_test) = load_mnist()
    return lambda: ((x_train[:1], y_train[:1]), (digits, y_test[:N]))


def layer_output(model: keras.Model, layer: str, images: np.ndarray) -> np.ndarray:
    return keras.Model(model.inputs[0], model.get_layer(layer).output).predict_on_batch(
        images.reshape((-1, 28, 28, 1)).astype("float32") / 255.0)


@pytest.mark.parametrize("name", ["seed_unnamed", "same_padding", "functional"])
def test_each_patch_comes_from_the_place_where_its_filter_fired(digits, name):
    keras.backend.clear_session()
    model = BUILDERS[name]()
    found = top_patches(model, digits)
    rows = receptive_fields(model)
    assert list(found) == conv_layer_names(model)
    for layer, patches in found.items():
        out = layer_output(model, layer, digits)  # (N, h, w, filters)
        maxima = out.max(axis=(1, 2))  # each digit's strongest response per filter
        filters = out.shape[-1]
        assert patches.patches.shape[:2] == patches.image.shape == (filters, TOP)
        for f in range(filters):
            i, r, c = patches.image[f], patches.row[f], patches.col[f]
            np.testing.assert_allclose(patches.activation[f], out[i, r, c, f], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(patches.activation[f], maxima[i, f], rtol=1e-5, atol=1e-6)
            others = np.delete(maxima[:, f], i)
            assert patches.activation[f, -1] >= others.max() - 1e-6  # no digit left out beats the 9th
            assert np.all(np.diff(patches.activation[f]) <= 1e-6)  # strongest first
            for j in range(TOP):  # cut by hand from the digit framed with zeros
                top, left, bottom, right = unit_box(rows, layer, r[j], c[j])
                framed = np.pad(digits[i[j]], 30)
                np.testing.assert_array_equal(patches.patches[f, j], framed[top + 30:bottom + 30, left + 30:right + 30])


def test_the_strongest_digit_by_hand(digits):
    """A 1x1 conv that copies the pixel: the top unit is the brightest pixel of the brightest digit."""
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1, name="copy"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.get_layer("copy").set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    found = top_patches(model, digits)["copy"]
    first = np.flatnonzero(digits.reshape(N, -1).max(axis=1) == 255)[0]  # ties go to the lowest index
    assert found.image[0, 0] == first
    r, c = found.row[0, 0], found.col[0, 0]
    assert digits[first, r, c] == digits[first].max() == 255
    assert found.patches.shape == (1, TOP, 1, 1) and found.patches[0, 0, 0, 0] == 255
    assert found.activation[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("box, expected", [
    ((1, 1, 3, 4), [[5, 6, 7], [9, 10, 11]]),  # inside
    ((-1, -2, 2, 2), [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 4, 5]]),  # top-left, past the border: zeros there
    ((2, 3, 5, 5), [[11, 0], [15, 0], [0, 0]]),  # bottom-right, past the border
])
def test_crops_pad_with_zeros_past_the_border(box, expected):
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(crop(image, box), np.array(expected, np.uint8))


def test_same_padding_patches_all_have_the_fields_size(digits):
    keras.backend.clear_session()
    found = top_patches(BUILDERS["same_padding"](), digits)
    assert [p.patches.shape[2:] for p in found.values()] == [(5, 5), (7, 7)]
    assert all(p.patches.dtype == np.uint8 for p in found.values())


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 28, 28), np.float32), "got float32"),
    (np.zeros((28, 28), np.uint8), r"shape \(28, 28\)"),
    (np.zeros((2, 28, 27), np.uint8), r"shape \(2, 28, 27\)"),
    (np.zeros((0, 28, 28), np.uint8), "N >= 1"),
])
def test_bad_images_are_refused(tiny_model, images, message):
    with pytest.raises(ValueError, match=message):
        top_patches(tiny_model, images)


def refuse():
    raise AssertionError("the test digits were loaded: the stored patches were not used")


def test_stored_beside_the_model_reloaded_and_recomputed_when_the_file_changes(tmp_path, monkeypatch, tiny_model,
                                                                                small_test_set):
    monkeypatch.setattr(tp, "load_mnist", small_test_set)
    path = tmp_path / "mine.keras"
    tiny_model.save(path)
    first = load_or_compute_top_patches(tiny_model, path)
    assert top_patches_path(path) == tmp_path / "mine.top_patches.npz" and top_patches_path(path).exists()
    monkeypatch.setattr(tp, "load_mnist", refuse)  # reading the file back needs no digits
    again = load_or_compute_top_patches(tiny_model, path)
    for name in first:
        for field in tp.FIELDS:
            np.testing.assert_array_equal(getattr(again[name], field), getattr(first[name], field))
    monkeypatch.setattr(tp, "load_mnist", small_test_set)
    layer = tiny_model.get_layer("conv_3")
    layer.set_weights([w * -1 for w in layer.get_weights()])
    tiny_model.save(path)  # retrained: other weights, another digest
    progress = []
    changed = load_or_compute_top_patches(tiny_model, path, on_progress=lambda done, what: progress.append(done))
    assert progress[-1] == 1.0  # computed again, with progress
    assert not np.array_equal(changed["conv_3"].activation, first["conv_3"].activation)


def test_a_damaged_file_is_computed_again(tmp_path, monkeypatch, tiny_model, small_test_set):
    monkeypatch.setattr(tp, "load_mnist", small_test_set)
    path = tmp_path / "mine.keras"
    tiny_model.save(path)
    top_patches_path(path).write_bytes(b"not an npz")
    assert load_or_compute_top_patches(tiny_model, path)["conv_1"].patches.shape == (4, TOP, 3, 3)


def test_a_model_without_convolutions_has_none_and_writes_nothing(tmp_path):
    path = tmp_path / "dense.keras"
    BUILDERS["dense_only"]().save(path)
    assert load_or_compute_top_patches(load_model(path), path) == {}
    assert not top_patches_path(path).exists()


def test_the_bundled_models_patches_are_shipped_small_and_current():
    shipped = top_patches_path(PRETRAINED_MODEL)
    assert shipped.stat().st_size < 300_000
    saved = tp._read(shipped, model_digest(PRETRAINED_MODEL), ["conv_1", "conv_2", "conv_3"])
    assert saved is not None, "classic.top_patches.npz is missing or made from another classic.keras: recompute it"
    assert [p.patches.shape for p in saved.values()] == [(32, TOP, 3, 3), (64, TOP, 8, 8), (64, TOP, 18, 18)]
    assert all(p.patches.dtype == np.uint8 for p in saved.values())
    images = load_mnist()[1][0]
    conv_3 = saved["conv_3"]
    f = int(np.argmax(conv_3.activation[:, 0]))  # the strongest response of all: recompute it by hand
    i, r, c = conv_3.image[f, 0], conv_3.row[f, 0], conv_3.col[f, 0]
    out = layer_output(load_model(), "conv_3", images[i][None])[0]
    assert out[r, c, f] == pytest.approx(conv_3.activation[f, 0], rel=1e-5) and out[..., f].max() == out[r, c, f]
    np.testing.assert_array_equal(conv_3.patches[f, 0], images[i][4 * r:4 * r + 18, 4 * c:4 * c + 18])


@pytest.fixture
def page(app):
    app.switch_page("views/hierarchy.py").run()
    assert not app.exception
    return app


def test_page_shows_each_filters_patches_and_pages_through_many(page):
    assert "Each patch is 3x3 pixels, what one unit of conv_1 sees; each filter gets a 3x3 square." in \
        [c.value for c in page.caption]
    page.segmented_control(key="tp_layer").set_value("conv_3").run()
    assert not page.exception
    caption = next(c.value for c in page.caption if c.value.startswith("Each patch is"))
    assert caption.startswith("Each patch is 18x18 pixels, what one unit of conv_3 sees")
    assert "never fire on a test digit" in caption
    pages = page.segmented_control(key="tp_page_conv_3")
    assert pages.options == ["0-15", "16-31", "32-47", "48-63"]
    pages.set_value(48).run()
    assert not page.exception and page.segmented_control(key="tp_page_conv_3").value == 48


def open_model(tmp_path, monkeypatch, name: str) -> AppTest:
    keras.backend.clear_session()
    path = tmp_path / f"{name}.keras"
    BUILDERS[name]().save(path)
    at = page_with_model("views/hierarchy.py", path, monkeypatch)
    assert at.session_state["model_path"] == str(path)
    return at


def test_page_says_a_dense_model_has_no_units_that_see_part_of_the_image(tmp_path, monkeypatch):
    at = open_model(tmp_path, monkeypatch, "dense_only")
    assert any(i.value.startswith("This model has no convolution layers") for i in at.info)
    assert not at.main.slider and not at.main.subheader


def test_page_computes_a_new_models_patches_once_and_stores_them(tmp_path, monkeypatch, small_test_set):
    monkeypatch.setattr(tp, "load_mnist", small_test_set)
    at = open_model(tmp_path, monkeypatch, "seed_unnamed")
    assert top_patches_path(tmp_path / "seed_unnamed.keras").exists()
    assert "Each patch is 3x3 pixels, what one unit of conv2d sees; each filter gets a 3x3 square." in \
        [c.value for c in at.caption]
    assert [s.label for s in at.main.slider] == ["Unit's row", "Unit's column"]


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}")
def test_in_a_browser_a_click_on_the_map_picks_the_unit_and_the_patches_show(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with running_app({"CONVNET_LAB_MODELS": str(tmp_path)}, timeout=120) as url, sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{url}/hierarchy", timeout=120_000)
        page.get_by_text("Unit (13, 13) sees 3x3 pixels").wait_for(timeout=120_000)
        plot = page.locator(".stPlotlyChart").first.locator(".hm image").first.bounding_box()  # the heatmap
        row, col = 4, 21  # conv_1's map is 26x26 units
        page.mouse.click(plot["x"] + (col + 0.5) / 26 * plot["width"], plot["y"] + (row + 0.5) / 26 * plot["height"])
        page.get_by_text(f"Unit ({row}, {col}) sees 3x3 pixels").wait_for(timeout=30_000)
        thumbs = [page.locator(f".st-key-rf_{axis}_conv_1 [data-testid='stSliderThumbValue']")
                  for axis in ("row", "col")]
        assert [thumb.inner_text() for thumb in thumbs] == [str(row), str(col)]  # the sliders moved too
        assert page.locator(".stPlotlyChart").count() == 3  # map, input, top patches
        browser.close()
