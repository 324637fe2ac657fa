"""The training timeline: one snapshot per epoch, stored beside the model, scored, and never altering it."""

import keras
import numpy as np
import pytest
from conftest import page_with_model

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.inference import Predictor
from mnist_model.engine.network import build_convnet
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import BUNDLED_MODELS, delete_model, read_card, rename_model, save_model
from mnist_model.engine.timeline import load_timeline, model_at, rounded, timeline_path, write_timeline
from mnist_model.engine.training import train
from server import resources


@pytest.fixture(scope="module")
def trained(tiny_data):
    return train(TrainConfig(epochs=3, filters=(4, 8, 8), dense_units=16), tiny_data)


def test_training_keeps_the_weights_after_every_epoch(trained):
    assert len(trained.snapshots) == 3
    final = trained.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(trained.snapshots[-1], final, strict=True))
    assert not np.array_equal(trained.snapshots[0][0], trained.snapshots[-1][0])  # it learned in between


def test_timeline_is_stored_beside_the_model_scored_and_reloaded(trained, tiny_data, tmp_path):
    path = save_model(trained.model, tmp_path / "run.keras")
    assert write_timeline(trained, path, tiny_data) == timeline_path(path) == tmp_path / "run.timeline.npz"
    timeline = load_timeline(path)
    assert timeline.epochs == 3 and len(timeline.test_accuracy) == 3
    x_test, y_test = tiny_data[1]
    copy = model_at(trained.model, timeline, 3)
    expected = float((np.asarray(copy(x_test)).argmax(1) == y_test.argmax(1)).mean())
    assert timeline.test_accuracy[-1] == pytest.approx(expected)
    assert abs(timeline.test_accuracy[-1] - trained.test_accuracy) <= 0.02  # float16 storage barely moves it


def test_a_snapshot_model_is_a_copy_and_the_original_stays_bit_identical(trained, tiny_data, tmp_path):
    path = save_model(trained.model, tmp_path / "run.keras")
    write_timeline(trained, path, tiny_data)
    before = [w.copy() for w in trained.model.get_weights()]
    early = model_at(trained.model, load_timeline(path), 1)
    assert all(np.array_equal(a, b) for a, b in zip(early.get_weights(), rounded(trained.snapshots[0]), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(trained.model.get_weights(), before, strict=True))


@pytest.mark.parametrize("epoch", [0, 4, -1])
def test_epochs_outside_the_run_are_refused(trained, tiny_data, tmp_path, epoch):
    path = save_model(trained.model, tmp_path / "run.keras")
    write_timeline(trained, path, tiny_data)
    with pytest.raises(ValueError, match="epoch must be between 1 and 3"):
        model_at(trained.model, load_timeline(path), epoch)


def test_the_timeline_moves_and_goes_with_its_model(trained, tiny_data, tmp_path):
    path = save_model(trained.model, tmp_path / "run.keras")
    write_timeline(trained, path, tiny_data)
    renamed = rename_model(path, "renamed")
    assert load_timeline(renamed).epochs == 3 and load_timeline(path) is None
    delete_model(renamed)
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_a_timeline_or_with_a_broken_one_has_none(tmp_path):
    assert load_timeline(tmp_path / "none.keras") is None
    timeline_path(tmp_path / "bad.keras").write_bytes(b"not an npz")
    assert load_timeline(tmp_path / "bad.keras") is None


def test_timeline_page_scrubs_through_the_epochs(trained, tiny_data, tmp_path, monkeypatch):
    path = save_model(trained.model, tmp_path / "run.keras")
    write_timeline(trained, path, tiny_data)
    timeline = load_timeline(path)
    at = page_with_model("views/timeline.py", path, monkeypatch)
    assert at.slider(key="timeline_epoch").max == 3 and at.slider(key="timeline_epoch").value == 3
    assert at.metric[0].value == f"{timeline.test_accuracy[2]:.2%}"
    at.slider(key="timeline_epoch").set_value(1).run()
    assert not at.exception and at.metric[0].value == f"{timeline.test_accuracy[0]:.2%}"
    image = canvas_to_mnist(resources.test_images()[0][0]).image
    expected = Predictor(model_at(trained.model, timeline, 1)).probabilities(image).argmax()
    assert at.metric[1].value == str(int(expected))  # the epoch-1 weights' answer for test image #0


def test_timeline_page_says_when_a_model_has_none(tmp_path, monkeypatch):
    path = save_model(build_convnet((4, 8, 8), 16), tmp_path / "uploaded.keras")
    at = page_with_model("views/timeline.py", path, monkeypatch)
    assert "no training timeline" in at.info[0].value


@pytest.mark.parametrize("bundled", BUNDLED_MODELS, ids=lambda p: p.stem)
def test_the_bundled_models_ship_with_their_timeline_and_it_ends_at_their_card(bundled):
    timeline, card = load_timeline(bundled), read_card(bundled)
    assert timeline is not None and timeline.epochs == card["config"]["epochs"] == len(card["history"]["accuracy"])
    assert timeline.test_accuracy[-1] == pytest.approx(card["test_accuracy"], abs=0.0005)
    model = keras.models.load_model(bundled)
    last = model_at(model, timeline, timeline.epochs)
    assert all(np.allclose(a, b, rtol=1e-3, atol=1e-3) for a, b in zip(last.get_weights(), model.get_weights(),
                                                                        strict=True))
