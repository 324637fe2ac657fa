import json
import zipfile

import keras
import numpy as np
import pytest

from mnist_model.storage import (
    ModelFileError,
    list_models,
    load_model,
    read_card,
    save_model,
)


def test_save_and_load_round_trip_with_card(tmp_path, tiny_model):
    path = save_model(tiny_model, tmp_path / "m.keras", {"test_accuracy": 0.5})
    loaded = load_model(path)
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), tiny_model(x).numpy(), atol=1e-6)
    assert read_card(path) == {"test_accuracy": 0.5}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_crash_mid_write_leaves_the_old_model_loadable(tmp_path, tiny_model, monkeypatch):
    path = save_model(tiny_model, tmp_path / "m.keras")
    before = path.read_bytes()

    def crash(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(tiny_model, path)
    assert path.read_bytes() == before
    assert load_model(path).count_params() == tiny_model.count_params()
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def _bad_file(tmp_path, kind, tiny_model):
    good = save_model(tiny_model, tmp_path / "good.keras")
    if kind == "missing":
        return tmp_path / "absent.keras"
    if kind == "legacy h5":
        path = tmp_path / "old.h5"
        path.write_bytes(b"\x89HDF\r\n\x1a\n")
        return path
    if kind == "not a zip":
        path = tmp_path / "text.keras"
        path.write_text("hello")
        return path
    if kind == "truncated":
        path = tmp_path / "cut.keras"
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return path
    if kind == "incomplete":
        path = tmp_path / "empty.keras"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("metadata.json", "{}")
        return path
    if kind == "corrupt member":
        data = bytearray(good.read_bytes())
        with zipfile.ZipFile(good) as z:
            info = z.getinfo("model.weights.h5")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
        data[start:start + 50] = bytes(50)
        path = tmp_path / "flipped.keras"
        path.write_bytes(bytes(data))
        return path
    if kind == "wrong input":
        model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
        return save_model(model, tmp_path / "cifar.keras")
    if kind == "wrong output":
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
        return save_model(model, tmp_path / "three.keras")
    if kind == "lambda":
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2),
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
        return save_model(model, tmp_path / "lambda.keras")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("missing", "Model file not found"),
    ("legacy h5", "legacy HDF5"),
    ("not a zip", "is not a zip archive|a '.keras' file is a zip archive"),
    ("truncated", "zip archive|damaged"),
    ("incomplete", r"lacks \['config.json', 'model.weights.h5'\]"),
    ("corrupt member", "fails its checksum|damaged"),
    ("wrong input", r"must take \(None, 28, 28, 1\)"),
    ("wrong output", r"10 class probabilities"),
    ("lambda", "Lambda layer"),
])
def test_every_bad_model_file_is_refused_with_a_clear_error(tmp_path, tiny_model, kind, message):
    with pytest.raises(ModelFileError, match=message):
        load_model(_bad_file(tmp_path, kind, tiny_model))


def test_save_refuses_other_suffixes(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="must end in .keras"):
        save_model(tiny_model, tmp_path / "m.h5")


def test_registry_lists_the_bundled_model_then_user_models(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "mine.keras", {"test_accuracy": 0.9, "config": {"epochs": 1}})
    (tmp_path / ".half.tmp.keras").write_text("junk")
    entries = list_models(tmp_path)
    assert entries[0].bundled and entries[0].card["test_accuracy"] >= 0.994
    assert [e.name for e in entries[1:]] == ["mine"]
    assert entries[1].label == "mine · 90.00%" and entries[1].config.epochs == 1


def test_bundled_card_records_how_the_model_was_made():
    card = json.loads((load_model.__defaults__[0]).with_suffix(".json").read_text())
    assert card["command"].startswith("python -m mnist_model train --recipe improved")
    assert card["params"] == 93_322 and card["test_accuracy"] >= 0.994
