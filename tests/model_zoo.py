"""Models the app must cope with, all taking 28x28x1 images to 10 classes, untrained and tiny.

Each builder returns a fresh model; ``save_zoo`` writes them all as ``.keras`` files, prepared
as the app's preparer would (``prepare_quickly``) so that the picker offers them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers, models

ROOT = Path(__file__).resolve().parent.parent
SMALL_MNIST = Path(tempfile.gettempdir()) / "convnet-lab-small-mnist.npz"  # 2,000 training, 500 test digits


def seed_unnamed() -> keras.Model:
    """Listing 5.1 as the seed notebook types it: no layer names, input_shape on the first conv."""
    model = models.Sequential()
    with warnings.catch_warnings():  # Keras 3 prefers keras.Input, and says so; the notebook predates it
        warnings.simplefilter("ignore", UserWarning)
        model.add(layers.Conv2D(4, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(8, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(7, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def notes_63() -> keras.Model:
    """The notes' variant at full size: conv 32, 64 and 63 filters, Input given by keras.Input."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(63, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def dense_only() -> keras.Model:
    """A densely connected network: no convolution at all."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Flatten(),
        layers.Dense(117, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def regularised() -> keras.Model:
    """Extra layers that change nothing at inference (Dropout) or have untrained weights (BatchNorm)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(4, (3, 3), activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Conv2D(8, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def rescaled() -> keras.Model:
    """A Rescaling layer before the first conv, as keras.io's examples start."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(4, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def reshaped_rows() -> keras.Model:
    """Reshape to 28 rows of 28 pixels, a dense layer per row: a 2-D activation without channels."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Reshape((28, 28)),
        layers.Dense(6, activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def same_padding() -> keras.Model:
    """'same' padding, a 5x5 kernel, a strided conv without bias, global pooling."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(4, (5, 5), padding="same", activation="relu"),
        layers.Conv2D(7, (3, 3), strides=2, padding="same", use_bias=False, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ])


def one_filter() -> keras.Model:
    """Convs with a single filter: one over the image, one over four channels."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(1, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(4, (3, 3), activation="relu"),
        layers.Conv2D(1, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def functional() -> keras.Model:
    """keras.Model with an Input and two conv branches over the image, concatenated."""
    image = keras.Input(shape=(28, 28, 1))
    small = layers.Conv2D(3, (3, 3), padding="same", activation="relu")(image)
    large = layers.Conv2D(2, (5, 5), padding="same", activation="relu")(image)
    x = layers.Concatenate()([small, large])
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Flatten()(x)
    return keras.Model(image, layers.Dense(10, activation="softmax")(x))


def logits() -> keras.Model:
    """The last layer is Dense(10) without softmax: it outputs logits, not probabilities."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(4, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10),
    ])


BUILDERS = {builder.__name__: builder for builder in (
    seed_unnamed, notes_63, dense_only, regularised, rescaled, reshaped_rows, same_padding, one_filter,
    functional, logits)}


def save_zoo(folder: Path) -> dict[str, Path]:
    """Every zoo model saved as ``folder/<name>.keras`` and prepared; returns the paths by name.

    Built and prepared once per test session, then copied with their stored results.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for built in _prepared_zoo().iterdir():
        shutil.copy2(built, folder / built.name)
    return {name: folder / f"{name}.keras" for name in BUILDERS}


@functools.cache
def _prepared_zoo() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="zoo-"))
    for name, build in BUILDERS.items():
        build().save(folder / f"{name}.keras")
        prepare_quickly(folder / f"{name}.keras")
    return folder


def small_mnist() -> Path:
    """A slice of MNIST in Keras' layout, written once per machine: enough for every per-model result."""
    if not SMALL_MNIST.exists():
        with np.load(ROOT / "data" / "mnist.npz") as full:
            arrays = {"x_train": full["x_train"][:2000], "y_train": full["y_train"][:2000],
                      "x_test": full["x_test"][:500], "y_test": full["y_test"][:500]}
        part = SMALL_MNIST.with_suffix(f".{os.getpid()}.npz")
        np.savez(part, **arrays)
        os.replace(part, SMALL_MNIST)
    return SMALL_MNIST


@contextlib.contextmanager
def small_mnist_env():
    """$MNIST_NPZ pointing at ``small_mnist()`` for as long as the block runs."""
    before = os.environ.get("MNIST_NPZ")
    os.environ["MNIST_NPZ"] = str(small_mnist())
    try:
        yield
    finally:
        if before is None:
            del os.environ["MNIST_NPZ"]
        else:
            os.environ["MNIST_NPZ"] = before


def prepare_quickly(path: Path) -> None:
    """What the app's preparer does before offering a model, in this process, on a slice of MNIST and
    with few gradient-ascent steps: the pages' results are then stored, as for any prepared model."""
    from mnist_model.lab import inspection
    from mnist_model.lab.prepare import prepare_model

    steps = inspection.PATTERN_STEPS
    inspection.PATTERN_STEPS = 4
    try:
        with small_mnist_env():
            prepare_model(path)
    finally:
        inspection.PATTERN_STEPS = steps
