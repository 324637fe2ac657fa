"""The numpy forward pass that answers the first drawings while TensorFlow imports."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from browser_support import ROOT

from mnist_model.engine.inference import Predictor
from mnist_model.engine.light import LightPredictor
from mnist_model.engine.storage import PRETRAINED_DENSE, PRETRAINED_MODEL, load_model, save_model


def images(mnist, n=16) -> np.ndarray:
    (_, _), (x_test, _) = mnist
    return x_test[:n, ..., 0].astype(np.float32)


@pytest.mark.parametrize("path", [PRETRAINED_MODEL, PRETRAINED_DENSE], ids=["convnet", "dense"])
def test_a_bundled_model_answers_in_numpy_as_in_tensorflow(path, mnist):
    light, full = LightPredictor.load(path, full=lambda: None), Predictor(load_model(path))
    assert light.layer_names == full.layer_names and light.softmax_in_model
    for ours, theirs in zip(light.forward(images(mnist)), full.forward(images(mnist))):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    image = images(mnist)[0]
    np.testing.assert_allclose(light.probabilities(image), full.probabilities(image), atol=1e-5)
    assert list(light.activations(image)) == full.layer_names


def test_same_padding_strides_logits_and_activation_layers_follow_keras(tmp_path, mnist):
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(5, 5, strides=2, padding="same", name="wide"),
        keras.layers.Activation("tanh", name="squash"), keras.layers.Conv2D(4, 3, strides=(1, 2), name="narrow"),
        keras.layers.ReLU(name="rectify"), keras.layers.MaxPooling2D(3, strides=1, name="pool"),
        keras.layers.Flatten(name="flat"), keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(10, name="logits")])
    path = save_model(model, tmp_path / "odd.keras")
    light, full = LightPredictor.load(path, full=lambda: None), Predictor(load_model(path))
    assert not light.softmax_in_model
    for ours, theirs in zip(light.forward(images(mnist, 4)), full.forward(images(mnist, 4))):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    np.testing.assert_allclose(light.probabilities(images(mnist)[1]), full.probabilities(images(mnist)[1]), atol=1e-5)


@pytest.mark.parametrize("layer", [lambda: keras.layers.BatchNormalization(),
                                   lambda: keras.layers.Conv2D(2, 3, dilation_rate=2),
                                   lambda: keras.layers.AveragePooling2D(2), lambda: keras.layers.LeakyReLU()],
                         ids=["batchnorm", "dilated", "average pool", "leaky relu"])
def test_a_layer_it_does_not_know_leaves_the_model_to_tensorflow(tmp_path, layer):
    model = keras.Sequential([keras.Input((28, 28, 1)), layer(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    assert LightPredictor.load(save_model(model, tmp_path / "other.keras"), full=lambda: None) is None


def test_what_numpy_does_not_give_comes_from_the_full_predictor():
    full = Predictor(load_model())
    light = LightPredictor.load(PRETRAINED_MODEL, full=lambda: full)
    assert light.model is full.model and light.saliency == full.saliency


def test_a_missing_or_damaged_file_is_none(tmp_path):
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    assert LightPredictor.load(tmp_path / "bad.keras", full=lambda: None) is None
    assert LightPredictor.load(tmp_path / "gone.keras", full=lambda: None) is None


def test_the_draw_page_answers_before_tensorflow_is_imported():
    """While the server warms up, the whole draw page (sidebar included) runs and predicts without TensorFlow."""
    script = textwrap.dedent("""
        import importlib.abc, sys
        class NoTensorFlow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("tensorflow", "keras"):
                    raise ImportError(f"{name} imported while the server warms up")
        sys.meta_path.insert(0, NoTensorFlow())
        import numpy as np
        from streamlit.testing.v1 import AppTest
        from mnist_model.engine.data import load_mnist
        from mnist_model.engine.preprocess import canvas_to_mnist
        from server import resources
        from ui.current import CurrentInput
        resources.start_warming()
        (_, _), (x_test, _) = load_mnist()
        at = AppTest.from_file("app.py", default_timeout=60)
        seven = CurrentInput("drawing", canvas_to_mnist(x_test[0].reshape(28, 28)))
        at.session_state["kept_inputs"] = {"drawing": seven}
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(m.value == "# Prediction: 7" for m in at.markdown), [m.value for m in at.markdown]
        assert "tensorflow" not in sys.modules
        print("answered without TensorFlow")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "answered without TensorFlow" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]


def test_the_server_hands_out_the_light_predictor_only_while_it_warms():
    from server import resources

    resources.start_warming()
    try:
        assert isinstance(resources.get_predictor(), LightPredictor)
        assert resources.familiarity_check() is None  # TensorFlow's part waits
    finally:
        resources.stop_warming()
    assert isinstance(resources.get_predictor(), Predictor)
