"""Saving and loading models safely: atomic writes, model cards, clear errors, a registry."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras

from .config import TrainConfig
from .network import INPUT_SHAPE, NUM_CLASSES

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
PRETRAINED_MODEL = PRETRAINED_DIR / "classic.keras"
LEGACY_SUFFIXES = (".h5", ".hdf5")
_REQUIRED_MEMBERS = ("config.json", "model.weights.h5")


class ModelFileError(ValueError):
    """A model file cannot be used; the message says why and what to do."""


def card_path(model_path: str | os.PathLike) -> Path:
    """The JSON model card that sits beside a model: ``x.keras`` -> ``x.json``."""
    return Path(model_path).with_suffix(".json")


def make_card(result, command: str | None = None) -> dict:
    """The model card for a TrainResult: config, scores, timing, versions and provenance."""
    import tensorflow as tf

    return {
        "config": result.config.to_dict(),
        "recipe": result.config.recipe,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "training_seconds": round(result.seconds, 1),
        "n_train": result.n_train,
        "history": result.history,
        "params": result.model.count_params(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__},
        "command": command,
        **result.extra,
    }


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then move the result over ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(model: keras.Model, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Save ``model`` as ``.keras`` (and its card as JSON beside it), atomically.

    A crash at any moment leaves either the old files or the new ones, never a
    half-written model at ``path``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {path.name!r}")
    atomic_write(path, lambda tmp: model.save(tmp))
    if card is not None:
        text = json.dumps(card, indent=2)
        atomic_write(card_path(path), lambda tmp: tmp.write_text(text))
    return path


def check_model_file(path: str | os.PathLike) -> Path:
    """Refuse files that are not a complete Keras 3 archive, before Keras sees them.

    Raises:
        ModelFileError: missing, legacy HDF5, not a zip, truncated or incomplete.
    """
    path = Path(path)
    if path.suffix.lower() in LEGACY_SUFFIXES:
        raise ModelFileError(f"{path.name} is a legacy HDF5 model; only Keras 3 '.keras' files are "
                             f"loaded. Re-save it with model.save('model.keras') in Keras 3.")
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path.name} is not a '.keras' model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path.name} is not a Keras model: a '.keras' file is a zip archive, "
                             f"and this one is not (truncated or overwritten?). Retrain or re-copy it.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ModelFileError(f"{path.name} is a damaged archive ({err}). Retrain or re-copy it.") from err
    if bad is not None:
        raise ModelFileError(f"{path.name} is damaged: member {bad!r} fails its checksum. "
                             f"Retrain or re-copy it.")
    missing = [m for m in _REQUIRED_MEMBERS if m not in names]
    if missing:
        raise ModelFileError(f"{path.name} lacks {missing}: it is not a complete Keras model.")
    return path


def load_model(path: str | os.PathLike = PRETRAINED_MODEL) -> keras.Model:
    """Load a ``.keras`` model safely and check it fits MNIST.

    Args:
        path: the model file; defaults to the bundled pretrained model.

    Returns:
        A model taking (None, 28, 28, 1) to 10 class probabilities.

    Raises:
        ModelFileError: the file is missing, damaged, legacy, unsafe (Lambda layers,
            custom code) or does not take 28x28x1 images to 10 classes.
    """
    path = check_model_file(path)
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises many types (ValueError, TypeError, OSError, KeyError)
        raise ModelFileError(_explain_load_error(path, err)) from err
    _check_io(path, model)
    return model


def _explain_load_error(path: Path, err: Exception) -> str:
    text = str(err)
    if "Lambda" in text or "safe_mode" in text:
        return (f"{path.name} contains a Lambda layer or custom code, which is refused for safety "
                f"(it could run arbitrary code). Use a model built from standard layers.")
    if "Could not locate" in text or "Unknown layer" in text:
        return f"{path.name} uses a layer or class this app does not know ({text.splitlines()[0]})."
    return f"{path.name} could not be loaded as a Keras model: {text.splitlines()[0] if text else type(err).__name__}"


def _check_io(path: Path, model: keras.Model) -> None:
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or tuple(inputs[0].shape) != (None, *INPUT_SHAPE):
        got = [tuple(t.shape) for t in inputs] if inputs else "no defined input"
        raise ModelFileError(f"{path.name} takes {got}, but MNIST models must take (None, 28, 28, 1).")
    outputs = model.outputs
    if len(outputs) != 1 or tuple(outputs[0].shape) != (None, NUM_CLASSES):
        raise ModelFileError(f"{path.name} outputs {[tuple(t.shape) for t in outputs]}, but MNIST "
                             f"models must output 10 class probabilities (None, 10).")


def read_card(model_path: str | os.PathLike) -> dict | None:
    """The model's card, or None when it has none or it is unreadable."""
    try:
        return json.loads(card_path(model_path).read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class ModelEntry:
    """One model the app can offer: its file, its card and whether it shipped with the project."""

    path: Path
    card: dict | None
    bundled: bool

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def label(self) -> str:
        acc = (self.card or {}).get("test_accuracy")
        score = f" · {acc:.2%}" if isinstance(acc, (int, float)) else ""
        return f"{self.name}{' (bundled)' if self.bundled else ''}{score}"

    @property
    def config(self) -> TrainConfig | None:
        data = (self.card or {}).get("config")
        return TrainConfig.from_dict(data) if data else None


def list_models(*folders: str | os.PathLike) -> list[ModelEntry]:
    """The bundled model, then every ``.keras`` file in ``folders`` (newest first)."""
    entries = [ModelEntry(PRETRAINED_MODEL, read_card(PRETRAINED_MODEL), True)] \
        if PRETRAINED_MODEL.exists() else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.keras"), key=lambda p: p.stat().st_mtime, reverse=True)
        entries += [ModelEntry(p, read_card(p), False) for p in found
                    if not p.name.startswith(".") and p.resolve() != PRETRAINED_MODEL.resolve()]
    return entries
