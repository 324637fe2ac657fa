import json
import os
import signal
import stat

import keras
import numpy as np
import pytest

from mnist_model.cli import print_json
from mnist_model.engine.storage import (
    atomic_write,
    card_path,
    json_safe,
    list_models,
    load_model,
    read_card,
    remove_stale_temp,
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


def test_save_refuses_other_suffixes(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="must end in .keras"):
        save_model(tiny_model, tmp_path / "m.h5")


def test_registry_lists_the_bundled_models_then_user_models(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "mine.keras", {"test_accuracy": 0.9, "config": {"epochs": 1}})
    (tmp_path / ".half.tmp.keras").write_text("junk")
    entries = list_models(tmp_path)
    assert [e.name for e in entries[:2]] == ["classic", "dense"] and all(e.bundled for e in entries[:2])
    assert entries[0].card["test_accuracy"] >= 0.994 and entries[1].config.architecture == "dense"
    assert [e.name for e in entries[2:]] == ["mine"]
    assert entries[2].label == "mine · 90.00%" and entries[2].config.epochs == 1


def test_bundled_card_records_how_the_model_was_made():
    card = json.loads((load_model.__defaults__[0]).with_suffix(".json").read_text())
    assert card["command"].startswith("python -m mnist_model train --recipe improved")
    assert card["params"] == 93_322 and card["test_accuracy"] >= 0.994


def test_atomic_write_flushes_the_file_before_the_move_and_the_folder_after(tmp_path, monkeypatch):
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        events.append("fsync folder" if stat.S_ISDIR(info.st_mode) else f"fsync {info.st_size} bytes")
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "m.bin", lambda tmp: tmp.write_bytes(b"12345"))
    assert events == ["fsync 5 bytes", "replace", "fsync folder"]


def test_sigkill_mid_write_leaves_the_old_file_and_a_temp_file_to_clean(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"the old model")

    def killed(tmp):
        tmp.write_bytes(b"PK\x03\x04 half a model")
        os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:  # the child dies mid-write, as on a power loss: no finally, no cleanup
        try:
            atomic_write(path, killed)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert path.read_bytes() == b"the old model"
    assert remove_stale_temp(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


@pytest.mark.parametrize("obj, expected", [
    (float("nan"), None),
    ({"loss": [0.5, float("inf"), -float("inf")]}, {"loss": [0.5, None, None]}),
    ((1, np.float32(0.25), np.int64(3), np.bool_(True)), [1, 0.25, 3, True]),
    (np.array([[1.0, np.nan]]), [[1.0, None]]),
    (np.float64("nan"), None),
    ({"name": "m", "n": None, "ok": False}, {"name": "m", "n": None, "ok": False}),
])
def test_json_safe_turns_non_finite_and_numpy_values_into_plain_json(obj, expected):
    assert json_safe(obj) == expected
    assert json.loads(json.dumps(json_safe(obj), allow_nan=False)) == expected


def _refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def test_a_card_with_a_diverged_history_is_strict_json(tmp_path, tiny_model):
    card = {"history": {"loss": [0.7, float("nan")], "val_loss": np.array([np.inf, 0.5])},
            "test_loss": np.float32("nan"), "params": np.int64(2258)}
    path = save_model(tiny_model, tmp_path / "m.keras", card)
    text = card_path(path).read_text()
    assert json.loads(text, parse_constant=_refuse) == {
        "history": {"loss": [0.7, None], "val_loss": [None, 0.5]}, "test_loss": None, "params": 2258}


def test_cli_json_lines_are_strict(capsys):
    print_json({"file": "x.png", "probabilities": [float("nan"), np.float32(0.5)], "digit": np.int64(1)})
    line = json.loads(capsys.readouterr().out, parse_constant=_refuse)
    assert line == {"file": "x.png", "probabilities": [None, 0.5], "digit": 1}
