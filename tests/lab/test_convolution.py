"""Convolution, step by step: the numbers worked out by hand are the ones the model computes."""

import re
import shutil
import time

import keras
import numpy as np
import pytest
from browser_support import CHROMIUM, launch_browser, running_app
from keras import layers
from model_zoo import dense_only, save_zoo
from streamlit.testing.v1 import AppTest
from test_app import SEVEN, drawing, png_bytes

from mnist_model.engine.inference import Predictor
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import load_model
from mnist_model.figures.convolution import (
    CLICK_TRACE,
    clicked_cell,
    output_map,
    picture,
    sliding_window,
    step_panels,
    window_view,
)
from mnist_model.lab.convolution import ConvolutionSteps, conv_geometry, conv_step, layer_geometry, layer_step

APP = "../../app.py"
TIMEOUT = 120  # TensorFlow imports slowly
CONV = "views/convolution.py"


def bn_before_strided_conv() -> keras.Model:
    """BatchNormalization straight before a conv; strides (2, 1), 'same' padding, a 2x3 kernel, no bias,
    linear, tanh and softmax activations: every Conv2D option the page has to follow."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(3, (3, 3), activation="relu"),
        layers.BatchNormalization(),
        layers.Conv2D(5, (2, 3), strides=(2, 1), padding="same", use_bias=False),
        layers.Conv2D(4, (3, 3), strides=2, padding="same", activation="tanh"),
        layers.Conv2D(3, (4, 4), activation="softmax"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def with_random_weights(model: keras.Model) -> keras.Model:
    """Untrained BatchNormalization is nearly the identity; random statistics make it count."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if isinstance(
            layer, layers.BatchNormalization) else rng.normal(0, 0.3, w.shape).astype("float32")
            for w in layer.get_weights()])
    return model


def zoo_model(name: str) -> keras.Model:
    from model_zoo import BUILDERS

    return with_random_weights({**BUILDERS, "bn_before_strided_conv": bn_before_strided_conv}[name]())


@pytest.fixture(scope="module")
def digit(mnist):
    return mnist[1][0][0][..., 0]  # test image #0, a 7, (28, 28) in [0, 1]


@pytest.fixture(scope="module")
def page_digit():
    """What the page shows when nothing is drawn: test image #0 after the app's preprocessing."""
    from server import resources

    return canvas_to_mnist(resources.test_images()[0][0]).image


@pytest.fixture(scope="module")
def bundled():
    return load_model()


def assert_every_position_matches(model: keras.Model, image: np.ndarray) -> int:
    """Each position's vector, and each step's value, equal the model's own layer outputs; returns the count."""
    steps = ConvolutionSteps(model)
    maps = steps.maps(image)
    acts = Predictor(model).activations(image)
    checked = 0
    for name in steps.layer_names:
        out = acts[name]
        np.testing.assert_allclose(maps[name].output, out, atol=1e-5)
        for row, col in np.ndindex(out.shape[:2]):
            f = (row + col) % out.shape[2]
            step = steps.step(maps, name, row, col, f)
            np.testing.assert_allclose(step.vector, out[row, col], atol=2e-5, rtol=1e-5)
            assert step.value == pytest.approx(float(out[row, col, f]), abs=2e-5, rel=1e-5)
            assert step.total + step.bias == pytest.approx(step.pre_activation, abs=1e-9)
            checked += 1
    return checked


def test_every_position_of_every_conv_of_the_bundled_model(bundled, digit):
    assert assert_every_position_matches(bundled, digit) == 26 * 26 + 11 * 11 + 3 * 3


@pytest.mark.parametrize("name", ["notes_63", "seed_unnamed", "regularised", "same_padding", "one_filter",
                                  "functional", "rescaled", "logits", "bn_before_strided_conv"])
def test_every_position_of_zoo_models(name, digit):
    assert assert_every_position_matches(zoo_model(name), digit) > 0


def test_each_conv_reads_what_feeds_it(digit):
    model = zoo_model("bn_before_strided_conv")
    steps = ConvolutionSteps(model)
    maps = steps.maps(digit)
    first, second = steps.layer_names[:2]
    np.testing.assert_allclose(maps[first].input[..., 0], digit, atol=1e-7)  # the image itself
    norm = next(layer for layer in model.layers if isinstance(layer, layers.BatchNormalization))
    np.testing.assert_allclose(maps[second].input, norm(maps[first].output[None], training=False)[0], atol=1e-5)


def test_one_weight_kernel_by_hand():
    x = np.arange(25, dtype=np.float32).reshape(5, 5, 1) / 10
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[1, 2, 0, 0] = 2.0  # filter 0 copies the pixel right of the centre, doubled
    step = conv_step(kernel, np.array([0.5, -1.0]), x, row=1, col=2, filter=0)
    np.testing.assert_array_equal(step.patch[..., 0], x[1:4, 2:5, 0])
    assert np.count_nonzero(step.product) == 1 and step.product[1, 2, 0] == pytest.approx(2 * 1.4)
    assert step.total == pytest.approx(2.8) and step.bias == 0.5 and step.pre_activation == pytest.approx(3.3)
    assert step.activation == "relu" and step.value == pytest.approx(3.3) and step.has_bias
    np.testing.assert_allclose(step.vector, [3.3, 0.0])  # filter 1 is its bias alone, -1, cut to 0 by ReLU
    assert step.origin == (1, 2)


def test_same_padding_by_hand_puts_zeros_under_the_overhang():
    x = np.ones((4, 4, 1), np.float32)
    kernel = np.ones((3, 3, 1, 1), np.float32)
    corner = conv_step(kernel, None, x, 0, 0, 0, padding="same", activation="linear")
    assert corner.origin == (-1, -1) and corner.value == 4.0  # 2x2 of the 3x3 window is on the input
    assert not corner.has_bias and corner.bias == 0.0 and corner.activation == "linear"
    np.testing.assert_array_equal(corner.patch[..., 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    strided = conv_step(kernel, None, x, 1, 1, 0, strides=(2, 2), padding="same", activation="linear")
    assert strided.origin == (2, 2) and strided.value == 4.0  # TensorFlow pads below and right when odd


@pytest.mark.parametrize("size, kernel, stride, padding, out, pad", [
    (28, 3, 1, "valid", 26, 0), (13, 3, 1, "valid", 11, 0), (5, 3, 2, "valid", 2, 0),
    (28, 5, 1, "same", 28, 2), (28, 3, 2, "same", 14, 0), (7, 4, 1, "same", 7, 1), (14, 2, 2, "SAME", 7, 0),
])
def test_geometry_matches_tensorflow(size, kernel, stride, padding, out, pad):
    geometry = conv_geometry((size, size), (kernel, kernel), (stride, stride), padding)
    assert geometry.out_size == (out, out) and geometry.pad == (pad, pad)
    layer = layers.Conv2D(1, kernel, strides=stride, padding=padding.lower())
    assert layer.compute_output_shape((1, size, size, 1))[1] == out


KERNEL = np.zeros((3, 3, 2, 4), np.float32)
INPUT = np.zeros((5, 5, 2), np.float32)


@pytest.mark.parametrize("kwargs, message", [
    (dict(filter=4), "filter must be from 0 to 3, got 4"),
    (dict(filter=-1), "filter must be from 0 to 3, got -1"),
    (dict(row=3), "row must be from 0 to 2, got 3"),
    (dict(col=-1), "col must be from 0 to 2, got -1"),
    (dict(row=1.5), "row must be a whole number from 0 to 2, got 1.5"),
    (dict(padding="causal"), "padding must be one of ('valid', 'same'), got 'causal'"),
    (dict(layer_input=np.zeros((5, 5, 3))), "layer_input must be (height, width, 2) for this kernel"),
    (dict(kernel=np.zeros((3, 3, 2))), "kernel must be (kh, kw, input_depth, output_depth)"),
    (dict(layer_input=np.zeros((2, 2, 2))), "a 3-wide window does not fit in 2 input values"),
])
def test_bad_choices_are_refused_with_the_valid_ones(kwargs, message):
    args = dict(kernel=KERNEL, bias=None, layer_input=INPUT, row=0, col=0, filter=0) | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        conv_step(**args)


def test_a_layer_that_is_not_a_convolution_is_refused_by_name(bundled, digit):
    steps = ConvolutionSteps(bundled)
    with pytest.raises(ValueError, match=re.escape("choose one of ['conv_1', 'conv_2', 'conv_3']")):
        steps.step(steps.maps(digit), "pool_1", 0, 0, 0)


@pytest.mark.parametrize("conv, message", [
    (layers.Conv2D(2, 3, dilation_rate=2), "dilated"),
    (layers.Conv2D(4, 3, groups=2), "grouped convolution (groups=2)"),
])
def test_dilated_and_grouped_convolutions_are_refused(conv, message):
    conv(keras.Input((9, 9, 4)))
    with pytest.raises(ValueError, match=re.escape(message)):
        layer_step(conv, np.zeros((9, 9, 4), np.float32), 0, 0, 0)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer_geometry(conv, (9, 9))


def test_a_model_without_convolutions_has_nothing_to_step(digit):
    steps = ConvolutionSteps(dense_only())
    assert steps.layer_names == [] and steps.maps(digit) == {}


def test_figures_show_the_step(bundled, digit):
    steps = ConvolutionSteps(bundled)
    maps = steps.maps(digit)
    step = steps.step(maps, "conv_2", 4, 7, 5)
    geometry = layer_geometry(steps.layer("conv_2"), (13, 13))
    window = window_view(maps["conv_2"].input, geometry, 4, 7)
    corners = [x for x in window.data[1].x if x is not None]
    assert len(corners) == 32 * 5 and min(corners) == 7 - 0.5  # the window on each of the 32 input maps
    panels = step_panels(step, (0.0, 1.0))
    assert [p.data[0].z.shape for p in panels] == [(31, 15)] * 3  # 32 slices of 3x3, 4 to a row, 1 apart
    out = output_map(maps["conv_2"].output[..., 5], 4, 7)
    assert len(out.data[CLICK_TRACE].x) == 11 * 11  # one invisible marker per cell to click


def test_a_click_on_the_output_map_gives_its_cell():
    points = [{"curve_number": CLICK_TRACE, "point_index": 40, "x": 7, "y": 3, "customdata": 0.2}]
    assert clicked_cell(points) == (3, 7)
    assert clicked_cell([]) is None
    assert clicked_cell([{"curve_number": 0, "x": 1, "y": 1}]) is None  # not a cell marker


def test_the_animation_visits_every_cell_row_by_row_with_the_real_values(bundled, digit):
    steps = ConvolutionSteps(bundled)
    maps = steps.maps(digit)
    output = maps["conv_1"].output[..., 3]
    fig = sliding_window(maps["conv_1"].input, output, layer_geometry(steps.layer("conv_1"), (28, 28)))
    assert len(fig.frames) == 26 * 26
    last = fig.frames[-1].data
    assert last[3].text == (f"row 25, col 25: {output[25, 25]:.3f}",)
    assert min(x for x in last[0].x) == 25 - 0.5  # the window over input columns 25-27
    assert [image.xref for image in fig.layout.images] == ["x", "x2"]  # pictures: they stay while it plays
    assert fig.layout.updatemenus[0].buttons[0].label == "▶ Play"
    assert fig.layout.updatemenus[0].font.size >= 28  # plotly draws a button ~1.3 x its text + 8 px: 44 px to tap


def test_pictures_are_sharp_blocks_and_zero_maps_dark():
    zeros = np.asarray(picture(np.zeros((3, 3)), "Viridis"))
    assert zeros.shape[0] >= 300 and (zeros == zeros[0, 0]).all() and zeros[0, 0].sum() < 300  # Viridis' dark end


# the page, under AppTest


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv_zoo")
    save_zoo(folder)
    return folder


@pytest.fixture
def page(zoo_dir, monkeypatch):
    """Opens the page with a model of the zoo (or the bundled one) picked, and a test digit as input."""
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(zoo_dir))

    def run(model: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        if model:
            at.session_state["model_path"] = str(zoo_dir / f"{model}.keras")
        at.switch_page(CONV).run()
        assert not at.exception
        return at
    return run


def shown_value(at: AppTest) -> tuple[str, int, int, int, float]:
    """The layer, row, column, filter and value the page says lands in the output map."""
    metric = at.metric[0]
    row, col, f = map(int, re.fullmatch(r"Lands at row (\d+), column (\d+) of map (\d+)", metric.label).groups())
    return at.segmented_control(key="conv_layer").value, row, col, f, float(metric.value)


def assert_page_shows_the_model_output(at: AppTest, model: keras.Model, image: np.ndarray) -> None:
    layer, row, col, f, value = shown_value(at)
    expected = Predictor(model).activations(image)[layer][row, col, f]
    assert value == pytest.approx(float(expected), abs=5e-4)  # shown with 3 decimals


def test_page_with_a_test_digit_shows_the_models_own_number(page, bundled, page_digit):
    at = page()
    assert any("MNIST test image #0" in i.value for i in at.info)
    assert_page_shows_the_model_output(at, bundled, page_digit)
    at.segmented_control(key="conv_layer").set_value("conv_2").run()
    at.slider(key="conv_filter_conv_2").set_value(17).run()
    at.slider(key="conv_row_conv_2").set_value(5).run()
    layer, row, _, f, _ = shown_value(at)
    assert not at.exception and (layer, row, f) == ("conv_2", 5, 17)
    assert_page_shows_the_model_output(at, bundled, page_digit)
    assert "See the numbers of one of the 32 slices" in [e.label for e in at.expander]
    assert len(at.get("plotly_chart")) == 10  # window, map, 3 panels, 3 slice panels, vector, animation


def draw_seven(at: AppTest) -> None:
    at.session_state["canvas"] = drawing(SEVEN)


def upload_seven(at: AppTest) -> None:
    at.segmented_control(key="input_source").set_value("Upload").run()
    at.file_uploader[0].upload("seven.png", png_bytes(SEVEN.convert("L")), "image/png")


@pytest.mark.parametrize("give_input", [draw_seven, upload_seven])
def test_page_follows_a_drawing_or_an_upload(page, bundled, give_input):
    at = page()
    at.switch_page("views/draw.py").run()
    give_input(at)
    at.run()
    source = at.session_state["current_input"].source
    at.switch_page(CONV).run()
    assert not at.exception and not any("test image #0" in i.value for i in at.info)
    assert source == {draw_seven: "drawing", upload_seven: "upload"}[give_input]
    assert_page_shows_the_model_output(at, bundled, at.session_state["current_input"].prep.image)


@pytest.mark.parametrize("model, filters", [("notes_63", 63), ("seed_unnamed", 7)])
def test_page_with_unnamed_layers_and_63_filters(page, zoo_dir, model, filters, page_digit):
    at = page(model)
    assert at.segmented_control(key="conv_layer").options[0].startswith("conv2d")
    last = at.segmented_control(key="conv_layer").options[-1].split(" → ")[0]
    at.segmented_control(key="conv_layer").set_value(last).run()
    assert not at.exception and at.slider(key=f"conv_filter_{last}").max == filters - 1
    assert_page_shows_the_model_output(at, load_model(zoo_dir / f"{model}.keras"), page_digit)


def test_dense_only_model_gets_one_sentence(page):
    at = page("dense_only")
    assert [i.value for i in at.info][-1].startswith("This model has no convolution layers")
    assert not at.metric and not at.get("plotly_chart")


# the page in a real browser: what AppTest cannot do, a click on a plotly chart and its animation

PLOTTED = """key => document.querySelector(`.st-key-${key} .js-plotly-plot`)?._fullLayout?.xaxis !== undefined"""
CELL_ON_SCREEN = """([key, row, col]) => {
    const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    const box = gd.getBoundingClientRect(), layout = gd._fullLayout;
    return [box.left + layout.xaxis._offset + layout.xaxis.d2p(col),
            box.top + layout.yaxis._offset + layout.yaxis.d2p(row)];
}"""


def wait_for_text(locator, wanted: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text() if locator.count() else ""
        if wanted in text:
            return text
        time.sleep(0.1)
    raise TimeoutError(f"{wanted!r} not shown within {timeout} s (last: {text!r})")


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}")
def test_in_a_browser_a_click_moves_the_window_and_play_fills_the_map(tmp_path, bundled, page_digit):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with running_app({"CONVNET_LAB_MODELS": str(tmp_path)}) as url, sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{url}/convolution")
        metric = page.locator("[data-testid='stMetric']").first
        wait_for_text(metric, "Lands at row", timeout=90)
        page.wait_for_function(PLOTTED, arg="conv_output_map", timeout=30000)
        page.mouse.click(*page.evaluate(CELL_ON_SCREEN, ["conv_output_map", 20, 5]))
        text = wait_for_text(metric, "Lands at row 20, column 5 of map 0")
        expected = Predictor(bundled).activations(page_digit)["conv_1"][20, 5, 0]
        assert float(text.split()[-1]) == pytest.approx(float(expected), abs=5e-4)
        animation = page.locator(".st-key-conv_animation")
        readout = animation.locator("g.textpoint text")
        assert readout.text_content().startswith("row 0, col 0:")
        animation.locator("g.updatemenu-button").first.click()  # ▶ Play
        time.sleep(1.5)
        assert not readout.text_content().startswith("row 0, col 0:")  # the window moved on ...
        assert animation.locator("g.imagelayer image").count() == 2  # ... and both maps are still drawn
        browser.close()
