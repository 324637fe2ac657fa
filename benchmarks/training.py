"""One epoch through the project's training path against the seed notebook's plain ``model.fit``."""

from __future__ import annotations

import json
import time

import keras
import numpy as np

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.data import load_prepared
from mnist_model.engine.network import build_convnet
from mnist_model.engine.train_worker import progress_callback
from mnist_model.engine.training import train

from .common import Sizes

TEST_SLICE = 1000  # train() scores the model afterwards; untimed, so a slice keeps the run short


def run(sizes: Sizes) -> dict:
    """Both paths on the same images, alternated (ABBA...) so drift hits both alike."""
    (x_train, y_train), (x_test, y_test) = load_prepared()
    x, y = x_train[:sizes.train_images], y_train[:sizes.train_images]
    data = ((x, y), (x_test[:TEST_SLICE], y_test[:TEST_SLICE]))
    app_s, plain_s = [], []
    for repeat in range(sizes.train_repeats):
        pair = [(app_s, lambda: app_seconds(data)), (plain_s, lambda: plain_seconds(x, y))]
        for times, measure in pair[::-1] if repeat % 2 else pair:
            times.append(measure())
    app, plain = len(x) / float(np.median(app_s)), len(x) / float(np.median(plain_s))
    return {"train_samples_per_s_app": app, "train_samples_per_s_plain": plain, "train_ratio": app / plain,
            "train_seconds_app": app_s, "train_seconds_plain": plain_s, "train_images": len(x)}


def app_seconds(data) -> float:
    """``train()`` with the app's progress callback, seed recipe, one epoch, no hold-out: fit seconds."""
    config = TrainConfig.for_recipe("seed", epochs=1)
    progress = progress_callback(lambda event: json.dumps(event))  # the worker's reports, minus the pipe
    return train(config, data, callbacks=[progress]).seconds


def plain_seconds(x: np.ndarray, y: np.ndarray) -> float:
    """The seed notebook: compile with rmsprop, ``fit(x, y, epochs=1, batch_size=64)``."""
    keras.utils.set_random_seed(0)
    model = build_convnet()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return time.perf_counter() - start
