import keras
import numpy as np
import pytest
from browser_support import UNIPEN, load_unipen, pick_digits, render_strokes, stroke_paths
from model_zoo import BUILDERS

from mnist_model.engine.inference import Predictor
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import PRETRAINED_MODEL, load_model, save_model
from mnist_model.lab import familiarity
from mnist_model.lab.familiarity import (
    Familiarity,
    FamiliarityCheck,
    familiarity_path,
    feature_function,
    feature_layers,
    fit_familiarity,
    load_or_fit_familiarity,
)

CANVAS, PEN = 320, 18  # the draw page's canvas and default pen
ZIGZAG = [(20, 30), (300, 280), (30, 290), (290, 20), (160, 310), (10, 150), (310, 170)]


@pytest.fixture(scope="module")
def bundled():
    """The bundled model with its stored familiarity, and the check built from them."""
    model = load_model()
    fitted = []
    stored = load_or_fit_familiarity(model, PRETRAINED_MODEL, on_progress=lambda f, what: fitted.append(f))
    return model, stored, FamiliarityCheck(model, stored), fitted


@pytest.fixture
def small_fit(monkeypatch):
    """Fitting on a handful of digits, so a test fits a tiny model in well under a second."""
    monkeypatch.setattr(familiarity, "REFERENCES_PER_CLASS", 3)
    monkeypatch.setattr(familiarity, "CALIBRATION_IMAGES", 60)


def canvas_input(strokes) -> np.ndarray:
    """Strokes drawn as the canvas draws them, preprocessed as the draw page does."""
    return canvas_to_mnist(np.asarray(render_strokes(strokes, CANVAS, PEN))).image


def flagged(model, fam: Familiarity, images: np.ndarray) -> np.ndarray:
    features = [out.numpy() for out in feature_function(model)(np.asarray(images, np.float32).reshape(-1, 28, 28, 1))]
    return fam.scores(features) > fam.threshold


def test_the_bundled_models_familiarity_is_stored_beside_it_and_not_fitted_again(bundled):
    _, stored, _, fitted = bundled
    assert familiarity_path(PRETRAINED_MODEL).is_file() and fitted == []
    assert stored.layers == ("conv_1", "conv_2", "conv_3", "dense")
    assert [refs.shape for refs in stored.references] == [(1000, 512), (1000, 576), (1000, 576), (1000, 64)]


def test_typical_mnist_test_digits_are_familiar(bundled, mnist):
    model, stored, _, _ = bundled
    held_out = mnist[1][0][1::2][:500]  # the threshold was set on the even-numbered test digits
    assert flagged(model, stored, held_out).mean() <= 0.03


@pytest.mark.skipif(not UNIPEN.exists(), reason=f"real pen strokes not found at {UNIPEN}")
def test_real_pen_drawn_digits_are_familiar(bundled):
    model, stored, _, _ = bundled
    samples = pick_digits(load_unipen(), 100, seed=3)
    images = [canvas_input(stroke_paths(sample, CANVAS, seed=i)) for i, sample in enumerate(samples)]
    assert flagged(model, stored, np.stack(images)).mean() <= 0.05


def test_the_zigzag_the_network_calls_an_8_is_unfamiliar(bundled):
    model, _, check, _ = bundled
    image = canvas_input([ZIGZAG])
    assert model.predict_on_batch(image[None, ..., None]).max() > 0.95  # the network itself is sure (96%)
    assert check.unfamiliar(image)
    assert check.unfamiliar(image, Predictor(model).activations(image))  # as the draw page asks


def test_random_noise_is_unfamiliar(bundled):
    _, _, check, _ = bundled
    noise = np.random.default_rng(0).integers(0, 256, (CANVAS, CANVAS), dtype=np.uint8)
    assert check.unfamiliar(canvas_to_mnist(noise).image)


def test_most_random_scribbles_are_unfamiliar(bundled):
    model, stored, _, _ = bundled
    rng = np.random.default_rng(1)
    scribbles = [canvas_input([rng.uniform(10, 310, (rng.integers(6, 12), 2)).tolist()]) for _ in range(40)]
    assert flagged(model, stored, np.stack(scribbles)).mean() >= 0.5  # about 2 in 3 over 200 scribbles


def test_scores_are_the_largest_scaled_distance_to_the_nearest_reference():
    fam = Familiarity(("a", "b"), (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]])),
                      np.array([0.5, 1.0]), threshold=0.45)
    features = [np.array([[3.0, 4.0], [0.0, 2.0]]), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])]
    # image 0: 1 - 0.8 = 0.2 in a (scaled 0.4), 0 in b; image 1: 0 in a, 1 - 0 = 1 in b
    assert fam.scores(features) == pytest.approx([0.4, 1.0])
    assert list(fam.scores(features) > fam.threshold) == [False, True]


def test_familiarity_is_fitted_once_and_stored_beside_the_model(tmp_path, tiny_model, small_fit):
    path = save_model(tiny_model, tmp_path / "m.keras")
    calls = []
    first = load_or_fit_familiarity(tiny_model, path, on_progress=lambda f, what: calls.append(f))
    assert familiarity_path(path).is_file() and calls[-1] == pytest.approx(1.0)
    again = load_or_fit_familiarity(tiny_model, path, on_progress=lambda f, what: calls.append("again"))
    assert "again" not in calls and again.threshold == pytest.approx(first.threshold)
    assert np.allclose(again.references[0], first.references[0], atol=1e-3)


@pytest.mark.parametrize("change", ["retrained model", "damaged file"])
def test_a_stale_or_damaged_familiarity_is_fitted_again(tmp_path, tiny_model, small_fit, change):
    path = save_model(tiny_model, tmp_path / "m.keras")
    load_or_fit_familiarity(tiny_model, path)
    if change == "retrained model":
        tiny_model.get_layer("dense").kernel.assign(tiny_model.get_layer("dense").kernel * 2)
        save_model(tiny_model, path)
    else:
        familiarity_path(path).write_bytes(b"not an npz")
    calls = []
    load_or_fit_familiarity(tiny_model, path, on_progress=lambda f, what: calls.append(f))
    assert calls and calls[-1] == pytest.approx(1.0)


def test_a_network_without_hidden_layers_compares_the_pixels(mnist, small_fit):
    (x_train, y_train), (x_test, _) = mnist
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    assert feature_layers(model) == []
    fam = fit_familiarity(model, x_train[:300], y_train[:300], x_test[:100])
    assert fam.layers == () and fam.references[0].shape == (30, 576)  # 28x28 averaged down to 24x24
    reference = x_train[familiarity._reference_indices(y_train[:300].argmax(1))[0]]
    check = FamiliarityCheck(model, fam)
    assert check.score(reference) == pytest.approx(0.0, abs=1e-5) and not check.unfamiliar(reference)
    assert check.score_activations(reference, {}) == check.score(reference)  # the pixels, however called


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_kind_of_model_can_be_checked(name, mnist, small_fit):
    (x_train, y_train), (x_test, _) = mnist
    model = BUILDERS[name]()
    fam = fit_familiarity(model, x_train[:300], y_train[:300], x_test[:60])
    assert len(fam.layers) >= 1 and np.isfinite(fam.threshold)
    assert all(refs.shape[1] <= familiarity.MAX_VALUES for refs in fam.references[:-1])
    check, image = FamiliarityCheck(model, fam), x_test[100].astype(np.float32) / 255
    assert np.isfinite(check.score(image))
    # the draw page scores the layer outputs its forward pass gave: the same score, one forward pass
    assert check.score_activations(image, Predictor(model).activations(image)) == pytest.approx(
        check.score(image), rel=1e-4, abs=1e-5)


def test_a_deep_model_compares_at_most_max_layers_from_first_to_last():
    convs = [keras.layers.Conv2D(2, 3, padding="same", name=f"c{i}") for i in range(7)]
    model = keras.Sequential([keras.Input((28, 28, 1)), *convs, keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    assert feature_layers(model) == ["c0", "c2", "c4", "c6"]


@pytest.mark.parametrize("image, message", [
    (np.zeros((27, 28), np.float32), "28x28 images"),
    (np.zeros((2, 28, 28), np.float32), "one 28x28 image"),
    (np.full((28, 28), 255.0), r"\[0, 1\]"),
], ids=["wrong size", "two images", "0-255 floats"])
def test_bad_images_are_refused_with_what_is_accepted(bundled, image, message):
    _, _, check, _ = bundled
    with pytest.raises(ValueError, match=message):
        check.score(image)


@pytest.mark.parametrize("labels, test_images, message", [
    (np.zeros(5, int), np.zeros((4, 28, 28), np.float32), "one label per image"),
    (np.zeros(10, int), np.zeros((0, 28, 28), np.float32), "no test images"),
], ids=["labels mismatch", "no test images"])
def test_bad_fitting_data_is_refused(tiny_model, labels, test_images, message):
    with pytest.raises(ValueError, match=message):
        fit_familiarity(tiny_model, np.zeros((10, 28, 28), np.float32), labels, test_images)


def test_a_familiarity_from_another_model_is_refused(bundled):
    _, stored, _, _ = bundled
    other = BUILDERS["dense_only"]()
    with pytest.raises(ValueError, match="fit it on this model"):
        FamiliarityCheck(other, stored)


@pytest.mark.parametrize("shape", [(26, 26, 32), (11, 11, 64), (3, 3, 64), (64,), (13, 13, 5), (28, 7)])
def test_the_numpy_shrink_averages_areas_as_tensorflow_does(shape):
    """What score_activations compares is what the fitted references were made of."""
    import tensorflow as tf

    output = np.random.default_rng(0).random(shape, np.float32)
    expected = familiarity._shrink(tf.constant(output[None]), familiarity._grid((None, *shape))).numpy()[0]
    np.testing.assert_allclose(familiarity._AreaShrink(shape)(output), expected, atol=1e-5)
