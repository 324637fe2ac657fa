"""MNIST, offline: the bundled npz first, Keras' download only as a last resort."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NPZ = PROJECT_ROOT / "data" / "mnist.npz"
ENV_VAR = "MNIST_NPZ"
_KEYS = {"x_train": (28, 28), "y_train": (), "x_test": (28, 28), "y_test": ()}

Split = tuple[np.ndarray, np.ndarray]


class DataError(ValueError):
    """The MNIST file is missing, unreadable or not in Keras' layout."""


def resolve_data_path(path: str | os.PathLike | None = None) -> Path | None:
    """The npz to read: explicit path, else $MNIST_NPZ, else data/mnist.npz, else None."""
    if path is not None:
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_NPZ if DEFAULT_NPZ.exists() else None


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Load MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``, uint8.

    Args:
        path: an npz in Keras' layout. Defaults to $MNIST_NPZ, then the bundled
            ``data/mnist.npz``, then ``keras.datasets.mnist.load_data()`` (needs internet).

    Raises:
        DataError: the file is missing, not an npz, or lacks the expected arrays.
    """
    npz = resolve_data_path(path)
    if npz is None:
        return _download()
    if not npz.is_file():
        raise DataError(f"MNIST file not found: {npz}. Expected an .npz with x_train, y_train, "
                        f"x_test, y_test (Keras' mnist.npz layout); the project ships data/mnist.npz.")
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = {key: f[key] for key in _KEYS if key in f}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{npz} is not a readable .npz file ({err}). "
                        f"Expected Keras' mnist.npz layout.") from err
    _validate(npz, arrays)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _validate(npz: Path, arrays: dict[str, np.ndarray]) -> None:
    missing = [key for key in _KEYS if key not in arrays]
    if missing:
        raise DataError(f"{npz} lacks {missing}; expected arrays {list(_KEYS)} (Keras' mnist.npz layout).")
    for key, tail in _KEYS.items():
        if arrays[key].ndim != 1 + len(tail) or arrays[key].shape[1:] != tail:
            raise DataError(f"{npz}: {key} has shape {arrays[key].shape}, expected (N, *{tail}).")
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(f"{npz}: x_{split} and y_{split} differ in length.")


def _download() -> tuple[Split, Split]:
    import keras

    try:
        return keras.datasets.mnist.load_data()
    except Exception as err:  # network errors come in many types
        raise DataError(f"No MNIST file found (looked at ${ENV_VAR} and {DEFAULT_NPZ}) and the download "
                        f"failed: {err}. Put Keras' mnist.npz at {DEFAULT_NPZ}.") from err


def prepare_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) to float32 (N, 28, 28, 1) in [0, 1], as in the seed notebook."""
    return (x.reshape((-1, 28, 28, 1)).astype("float32") / 255.0)


def prepare_labels(y: np.ndarray) -> np.ndarray:
    """Integer labels to one-hot float32 (N, 10)."""
    return np.eye(10, dtype="float32")[np.asarray(y, dtype="int64")]


def load_prepared(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """``load_mnist`` followed by the seed notebook's preparation of images and labels."""
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    return ((prepare_images(x_train), prepare_labels(y_train)),
            (prepare_images(x_test), prepare_labels(y_test)))
