"""Saving and loading models safely: atomic writes, model cards, clear errors, a registry."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .check_process import check_isolated
from .config import INPUT_SHAPE, NUM_CLASSES, TrainConfig
from .jsonio import json_safe as json_safe  # re-exported: callers import it from storage
from .layer_sizes import MAX_ACTIVATION_VALUES as MAX_ACTIVATION_VALUES
from .layer_sizes import MAX_PARAMS as MAX_PARAMS
from .layer_sizes import ModelCost
from .model_files import HDF5_SIGNATURE as HDF5_SIGNATURE  # re-exported: callers import these from storage
from .model_files import LEGACY_SUFFIXES as LEGACY_SUFFIXES
from .model_files import MAX_COMPRESSION_RATIO as MAX_COMPRESSION_RATIO
from .model_files import MAX_CONFIG_BYTES as MAX_CONFIG_BYTES
from .model_files import MAX_MODEL_BYTES as MAX_MODEL_BYTES
from .model_files import MAX_UNPACKED_BYTES as MAX_UNPACKED_BYTES
from .model_files import ModelFileError, check_archive, check_size
from .model_files import check_model_file as check_model_file
from .model_names import MAX_NAME_BYTES as MAX_NAME_BYTES  # re-exported: callers import these from storage
from .model_names import MAX_NAME_CHARS, check_no_badge, check_readable, look_alike
from .model_names import sanitize_model_name as sanitize_model_name

if TYPE_CHECKING:  # Keras is imported where a model is loaded or saved: listing models needs no TensorFlow
    import keras

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
PRETRAINED_MODEL = PRETRAINED_DIR / "classic.keras"  # the default: listing 5.1's convnet
PRETRAINED_DENSE = PRETRAINED_DIR / "dense.keras"  # a dense network of about the convnet's size, to compare
BUNDLED_MODELS = (PRETRAINED_MODEL, PRETRAINED_DENSE)  # shipped with the app, in the picker's order
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # mkstemp's .<stem>.<8 random characters>.tmp<suffix>


def card_path(model_path: str | os.PathLike) -> Path:
    """The JSON model card that sits beside a model: ``x.keras`` -> ``x.json``."""
    return Path(model_path).with_suffix(".json")


def ready_path(model_path: str | os.PathLike) -> Path:
    """The mark that a model passed its checks and its per-model results are stored: ``x.ready.json``."""
    return Path(model_path).with_suffix(".ready.json")


def mark_ready(model_path: str | os.PathLike, digest: str, details: dict | None = None) -> dict:
    """Write the ready mark for the model file whose SHA-256 is ``digest``; returns what was written."""
    mark = {"sha256": digest, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **(details or {})}
    text = json.dumps(json_safe(mark), allow_nan=False)
    atomic_write(ready_path(model_path), lambda tmp: tmp.write_text(text))
    return mark


def is_ready(model_path: str | os.PathLike, digest: str) -> bool:
    """Whether the model file with this SHA-256 was prepared (a rewritten file needs preparing again)."""
    try:
        return json.loads(ready_path(model_path).read_text()).get("sha256") == digest
    except (OSError, ValueError, AttributeError):
        return False


def refused_path(model_path: str | os.PathLike) -> Path:
    """The mark that a model file was refused by its preparation, and why: ``x.refused.json``."""
    return Path(model_path).with_suffix(".refused.json")


def mark_refused(model_path: str | os.PathLike, digest: str, message: str) -> None:
    """Remember, beside the model, that the file with this SHA-256 was refused: no server tries it again."""
    text = json.dumps({"sha256": digest, "message": str(message)}, allow_nan=False)
    atomic_write(refused_path(model_path), lambda tmp: tmp.write_text(text))


def refusal(model_path: str | os.PathLike, digest: str) -> str | None:
    """Why the model file with this SHA-256 was refused, or None when it was not (or was rewritten since)."""
    try:
        mark = json.loads(refused_path(model_path).read_text())
    except (OSError, ValueError):
        return None
    return str(mark.get("message", "")) if isinstance(mark, dict) and mark.get("sha256") == digest else None


def make_card(result, command: str | None = None) -> dict:
    """The model card for a TrainResult: config, scores, timing, versions and provenance."""
    import keras
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
    """Call ``write(tmp_path)`` then move the result over ``path`` in one step.

    The temp file is flushed to disk before the move and the folder after it, so a power
    loss or SIGKILL leaves the old file or the complete new one at ``path``, never a
    half-written or empty one (a stray temp file at most; see ``remove_stale_temp``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model is meant to be shared
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename, link or unlink in ``folder`` durable."""
    if os.name == "posix":  # Windows cannot open a folder; NTFS journals the rename itself
        _fsync(folder)


def remove_stale_temp(folder: str | os.PathLike, older_than_s: float = 0) -> int:
    """Delete the temp files (``.<stem>.<random>.tmp*``) of writes that a crash interrupted.

    Args:
        folder: the model folder; a missing folder has nothing to clean.
        older_than_s: only files untouched for this many seconds, so that a write still
            running in another thread or process keeps its temp file.

    Returns:
        How many files were deleted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.iterdir():
        if _TEMP_NAME.match(path.name) and path.is_file() and path.stat().st_mtime <= cutoff:
            try:
                path.unlink()
            except FileNotFoundError:  # its writer finished or cleaned up meanwhile
                continue
            removed += 1
    return removed


def save_model(model: keras.Model, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Save ``model`` as ``.keras`` (and its card as JSON beside it), atomically.

    A crash at any moment leaves either the old files or the new ones, never a
    half-written model at ``path``. The card is strict JSON: NaN or Infinity (a diverged
    training's history) is written as ``null``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {path.name!r}")
    atomic_write(path, lambda tmp: model.save(tmp))
    if card is not None:
        _write_card(path, card)
    return path


def _write_card(model_path: Path, card: dict) -> None:
    text = json.dumps(json_safe(card), indent=2, allow_nan=False)
    atomic_write(card_path(model_path), lambda tmp: tmp.write_text(text))


def load_model(path: str | os.PathLike = PRETRAINED_MODEL) -> keras.Model:
    """Load a ``.keras`` model safely and check it fits MNIST.

    Args:
        path: the model file; defaults to the bundled pretrained model.

    Returns:
        A model taking (None, 28, 28, 1) to 10 class probabilities, with finite weights,
        that gave finite answers on a test batch without touching Keras' settings.

    Raises:
        ModelFileError: the file is missing, damaged, legacy, unsafe or too costly (see
            ``check_model_file``), does not take 28x28x1 images to 10 classes, has NaN or
            Infinity in its weights, or fails the test batch (see ``probe.probe_model``).
    """
    path = Path(path)
    return _load_checked(path, path.name)


def _load_checked(path: Path, label: str) -> keras.Model:
    import keras

    from .probe import probe_model

    check_archive(path, label)
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises many types (ValueError, TypeError, OSError, KeyError)
        raise ModelFileError(_explain_load_error(label, err)) from err
    _check_io(label, model)
    _check_finite(label, model)
    probe_model(label, model)
    return model


def _explain_load_error(label: str, err: Exception) -> str:
    text = str(err)
    if "Lambda" in text or "safe_mode" in text:
        return (f"{label} contains a Lambda layer or custom code, which is refused for safety "
                f"(it could run arbitrary code). Use a model built from standard layers.")
    if "Could not locate" in text or "Unknown layer" in text:
        return f"{label} uses a layer or class this app does not know ({text.splitlines()[0]})."
    return f"{label} could not be loaded as a Keras model: {text.splitlines()[0] if text else type(err).__name__}"


def _check_io(label: str, model: keras.Model) -> None:
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or tuple(inputs[0].shape) != (None, *INPUT_SHAPE):
        got = [tuple(t.shape) for t in inputs] if inputs else "no defined input"
        raise ModelFileError(f"{label} takes {got}, but MNIST models must take (None, 28, 28, 1).")
    outputs = model.outputs
    if len(outputs) != 1 or tuple(outputs[0].shape) != (None, NUM_CLASSES):
        raise ModelFileError(f"{label} outputs {[tuple(t.shape) for t in outputs]}, but MNIST "
                             f"models must output 10 class probabilities (None, 10).")


def _check_finite(label: str, model: keras.Model) -> None:
    for layer in model.layers:
        if not all(np.isfinite(weights).all() for weights in layer.get_weights()):
            raise ModelFileError(f"{label} has non-finite weights (NaN or Infinity) in layer {layer.name}: "
                                 f"it cannot predict. Retrain it.")


def model_digest(path: str | os.PathLike) -> str:
    """The SHA-256 of a model file in hex: a renamed model keeps its digest, a retrained one does not."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_upload(data: bytes, original_name: str, folder: str | os.PathLike) -> tuple[Path, ModelCost]:
    """An upload written to a hidden file in ``folder`` once its bytes pass every check that needs no Keras.

    The app then hands the staged file to a worker process (``import_model`` and the model's
    preparation); what fails here, most hostile files, costs the server milliseconds.

    Returns:
        The staged file (the caller removes it) and the model's cost from its config.

    Raises:
        ModelFileError: the upload is empty, too large, damaged, unsafe or too costly (see
            ``check_model_file``), its name is refused (``check_name``) or it cannot be written;
            nothing is left in ``folder`` then.
    """
    label = original_name.replace("\\", "/").rsplit("/", 1)[-1] or "the uploaded file"
    check_size(label, len(data))
    check_name(label)
    try:
        staged = _write_upload(Path(folder), data)
    except OSError as err:
        raise ModelFileError(f"{label} could not be saved in {folder}: {err}") from err
    try:
        return staged, check_isolated(staged, label)  # not in this process: it may be a server
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def import_model(data: bytes, original_name: str, folder: str | os.PathLike,
                 uploaded_by: str | None = None) -> Path:
    """Check an uploaded model exactly like a file on disk, then add it to ``folder`` with a card.

    Args:
        data: the uploaded file's bytes.
        original_name: the name it was uploaded under; only its sanitized stem is used.
        folder: the user model folder.
        uploaded_by: who uploaded it, recorded in the card.

    Returns:
        The new model, ``folder/<sanitized name>.keras``; ``-2``, ``-3``... is appended when
        the name is taken, so an existing model is never replaced.

    Raises:
        ModelFileError: the upload is empty, too large, damaged, unsafe, not an MNIST model,
            its name is refused (``check_name``) or it cannot be written; ``folder`` is then left as it was.
    """
    label = original_name.replace("\\", "/").rsplit("/", 1)[-1] or "the uploaded file"
    check_size(label, len(data))
    check_name(label)
    folder = Path(folder)
    try:
        tmp = _write_upload(folder, data)
    except OSError as err:
        raise ModelFileError(f"{label} could not be saved in {folder}: {err}") from err
    try:
        model = _load_checked(tmp, label)
        card = {"uploaded": True, "uploaded_by": uploaded_by,
                "uploaded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "original_name": original_name, "params": model.count_params(), "layers": len(model.layers)}
        return _publish(tmp, folder / f"{sanitize_model_name(original_name)}.keras", card)
    except OSError as err:
        raise ModelFileError(f"{label} could not be saved in {folder}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def _write_upload(folder: Path, data: bytes) -> Path:
    """The bytes in a hidden temp file (``list_models`` skips dot files), flushed to disk."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload.", suffix=".tmp.keras", dir=folder)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    return Path(tmp)


def _publish(tmp: Path, wanted: Path, card: dict) -> Path:
    """Link ``tmp`` at the first free name from ``wanted``, then write its card; both or neither stay."""
    target = _link_at_free_name(tmp, wanted)
    try:
        _write_card(target, card)
    except BaseException:
        target.unlink()
        raise
    return target


def _link_at_free_name(tmp: Path, wanted: Path) -> Path:
    """``wanted``, else ``<stem>-2.keras``, ``<stem>-3.keras``...: the first name no file has."""
    for n in itertools.count(1):
        stem = wanted.stem if n == 1 else f"{wanted.stem[:MAX_NAME_CHARS - len(str(n)) - 1]}-{n}"
        target = wanted.with_name(f"{stem}.keras")
        if _name_taken(wanted.parent, stem) is not None:
            continue
        try:
            os.link(tmp, target)  # unlike os.replace, fails if another upload took the name meanwhile
        except FileExistsError:
            continue
        return target


def check_name(text: str) -> str:
    """The model name ``text`` gives (``sanitize_model_name``), once it reads unambiguously.

    Raises:
        ModelFileError: ``text`` holds characters that do not read as themselves (right-to-left,
            zero-width, Cyrillic or Greek look-alikes, emoji...) or claims the bundled models' badge.
    """
    check_readable(text)
    stem = sanitize_model_name(text)
    check_no_badge(stem, [p.stem for p in BUNDLED_MODELS])
    return stem


def _name_taken(folder: Path, stem: str, own: str | None = None) -> str | None:
    """The name ``stem`` could pass for: a bundled model's, or one of ``folder``'s models or files
    (``<stem>.<something>``) other than the model ``own``; None when it is free."""
    if any(p.name.startswith(f"{stem}.") for p in folder.iterdir()):
        return stem
    names = [p.stem for p in BUNDLED_MODELS]
    names += [p.stem for p in folder.glob("*.keras") if not p.name.startswith(".") and p.stem != own]
    return look_alike(stem, names)


def rename_model(path: str | os.PathLike, new_name: str) -> Path:
    """Rename a user model together with its card, filter patterns and any other ``<name>.*`` files.

    Args:
        path: the model's ``.keras`` file; the bundled model cannot be renamed.
        new_name: the new name; checked and sanitized like an upload's (see ``check_name``),
            so the model stays in its folder and cannot pass for another.

    Returns:
        The model's new path (the same path when the sanitized name is unchanged).

    Raises:
        ModelFileError: the model is bundled or missing, the new name is refused (``check_name``),
            taken or looks like another model's, or the folder cannot be written.
    """
    path = _user_model(path)
    stem = check_name(new_name)
    if stem == path.stem:
        return path
    taken = ModelFileError(f"A model named {stem!r} already exists; choose another name.")
    other = _name_taken(path.parent, stem, own=path.stem)
    if other is not None and other != stem:
        raise ModelFileError(f"{stem!r} looks like the model {other!r} in the picker; choose a name that reads "
                             f"differently.")
    if other is not None:
        raise taken
    sidecars = _sidecars(path)
    target = path.with_name(f"{stem}.keras")
    try:
        os.link(path, target)  # unlike os.rename, refuses to replace a model created meanwhile
        path.unlink()
        for sidecar in sidecars:
            os.replace(sidecar, path.with_name(stem + sidecar.name[len(path.stem):]))
        _fsync_folder(path.parent)
    except FileExistsError:
        raise taken from None
    except OSError as err:
        raise ModelFileError(f"{path.name} could not be renamed: {err}") from err
    return target


def delete_model(path: str | os.PathLike) -> None:
    """Delete a user model with its card, filter patterns and any other ``<name>.*`` files.

    Raises:
        ModelFileError: the model is bundled or missing, or the folder cannot be written.
    """
    path = _user_model(path)
    sidecars = _sidecars(path)
    try:
        path.unlink()
        for sidecar in sidecars:
            sidecar.unlink(missing_ok=True)
        _fsync_folder(path.parent)
    except OSError as err:
        raise ModelFileError(f"{path.name} could not be deleted: {err}") from err


def _user_model(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.resolve().parent == PRETRAINED_DIR:
        raise ModelFileError(f"{path.name} is bundled with the app; it cannot be renamed or deleted.")
    if path.suffix != ".keras" or not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    return path


def _sidecars(path: Path) -> list[Path]:
    """Files beside the model named ``<stem>.<something>``, minus other models such as ``<stem>.v2.keras``."""
    prefix = f"{path.stem}."
    files = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p != path and p.is_file()]
    others = [f"{p.stem}." for p in files if p.suffix == ".keras"]
    return [p for p in files if not any(p.name.startswith(other) for other in others)]


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
        """The picker's words: "classic (convnet, improved recipe, bundled) · 99.44%" says what a
        bundled model's name alone does not, so the name and its card agree."""
        card = self.card or {}
        acc = card.get("test_accuracy")
        score = f" · {acc:.2%}" if isinstance(acc, (int, float)) else ""
        if not self.bundled:
            return f"{self.name}{score}"
        kind = "dense network" if (card.get("config") or {}).get("architecture") == "dense" else "convnet"
        recipe = f", {card['recipe']} recipe" if isinstance(card.get("recipe"), str) else ""
        return f"{self.name} ({kind}{recipe}, bundled){score}"

    @property
    def config(self) -> TrainConfig | None:
        data = (self.card or {}).get("config")
        return TrainConfig.from_dict(data) if data else None


def list_models(*folders: str | os.PathLike) -> list[ModelEntry]:
    """The bundled models (BUNDLED_MODELS' order), then every ``.keras`` file in ``folders`` (newest first)."""
    entries = [ModelEntry(p, read_card(p), True) for p in BUNDLED_MODELS if p.exists()]
    bundled = {p.resolve() for p in BUNDLED_MODELS}
    for folder in folders:
        found = sorted(Path(folder).glob("*.keras"), key=lambda p: p.stat().st_mtime, reverse=True)
        entries += [ModelEntry(p, read_card(p), False) for p in found
                    if not p.name.startswith(".") and p.resolve() not in bundled]
    return entries
