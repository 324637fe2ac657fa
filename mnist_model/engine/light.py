"""A bundled model's forward pass in numpy, for the seconds TensorFlow takes to import.

A server's first answer should not wait for TensorFlow: importing it takes 4 to 5 s on a
laptop's two cores, longer than the whole of a cold start may. ``LightPredictor`` reads a
``.keras`` file of the plain layers a bundled model is made of (Conv2D, MaxPooling2D, Flatten,
Dense, Dropout, activations) with ``zipfile``, ``json`` and ``h5py`` alone and runs it in
numpy, giving what ``Predictor`` gives for a drawing (every layer's output, the probabilities)
to float rounding. Anything else it is asked for (the model itself, saliency) comes from the
full ``Predictor``, which its ``full`` callable returns once it is ready.

Only for the app's own bundled files: it trusts the file's config as Keras' safe loading
would not need to, and it refuses (``load`` gives None) any layer or setting it does not know.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

_SNAKE = {"Conv2D": "conv2d", "Dense": "dense"}  # the weights file's group of each layer with weights
_ACTIVATIONS = {"linear": lambda x: x, None: lambda x: x, "relu": lambda x: np.maximum(x, 0.0),
                "softmax": lambda x: softmax(x), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
                "tanh": np.tanh}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits along the last axis, without overflow (``inference`` re-exports it)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class LightPredictor:
    """What ``Predictor`` gives for drawings, from a numpy forward pass; the rest from the full one."""

    light = True  # the page swaps it for the full Predictor once that is ready

    def __init__(self, layers: list[tuple[str, Callable[[np.ndarray], np.ndarray]]], softmax_in_model: bool,
                 full: Callable[[], object]):
        self._layers = layers
        self.layer_names = [name for name, _ in layers]
        self.softmax_in_model = softmax_in_model
        self._full = full

    @classmethod
    def load(cls, path: str | Path, full: Callable[[], object]) -> LightPredictor | None:
        """The model at ``path`` in numpy, or None when it holds a layer or setting this module does not run.

        Args:
            path: a bundled ``.keras`` file.
            full: returns the full ``Predictor`` (waiting for it if need be), for what numpy does not give.
        """
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                weights_file = io.BytesIO(archive.read("model.weights.h5"))
            import h5py

            with h5py.File(weights_file, "r") as weights:
                layers = _layers(config, weights)
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
            return None
        if layers is None:
            return None
        last = config["config"]["layers"][-1]
        softmax_in_model = last["class_name"] == "Softmax" or last["config"].get("activation") == "softmax"
        return cls(layers, softmax_in_model, full)

    def forward(self, images: np.ndarray) -> list[np.ndarray]:
        """All layer outputs for a batch of 28x28 images, as ``Predictor.forward``."""
        x = np.asarray(images, np.float32).reshape((-1, 28, 28, 1))
        outputs = []
        for _, layer in self._layers:
            x = np.stack([layer(image) for image in x]).astype(np.float32, copy=False)
            outputs.append(x)
        return outputs

    def activations(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Each layer's output for one 28x28 image, by layer name, batch axis removed."""
        return {name: out[0] for name, out in zip(self.layer_names, self.forward(np.asarray(image)[None]))}

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        return self.to_probabilities(self.forward(np.asarray(image)[None])[-1][0])

    def to_probabilities(self, output: np.ndarray) -> np.ndarray:
        return output if self.softmax_in_model else softmax(output)

    def __getattr__(self, name: str):  # the model, saliency, ...: the full Predictor's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._full(), name)


def _layers(config: dict, weights) -> list[tuple[str, Callable]] | None:
    """Each layer of a Sequential config as (name, function of one image), or None if one is not known."""
    if config.get("class_name") != "Sequential":
        return None
    counts: dict[str, int] = {}
    layers = []
    for layer in config["config"]["layers"]:
        kind, settings = layer["class_name"], layer["config"]
        if kind == "InputLayer":
            continue
        values = None
        if kind in _SNAKE:
            group = _SNAKE[kind] + (f"_{counts[kind]}" if counts.get(kind) else "")
            counts[kind] = counts.get(kind, 0) + 1
            values = [np.asarray(weights[f"layers/{group}/vars/{i}"], np.float32)
                      for i in range(len(weights[f"layers/{group}/vars"]))]
        function = _layer(kind, settings, values)
        if function is None:
            return None
        layers.append((settings["name"], function))
    return layers


def _layer(kind: str, settings: dict, values: list[np.ndarray] | None) -> Callable | None:
    activation = _ACTIVATIONS.get(settings.get("activation")) if "activation" in settings else None
    if "activation" in settings and settings["activation"] not in _ACTIVATIONS:
        return None
    if settings.get("data_format", "channels_last") != "channels_last":
        return None
    if kind == "Conv2D":
        if (settings.get("groups", 1) != 1 or list(settings.get("dilation_rate", [1, 1])) != [1, 1]
                or settings.get("padding") not in ("valid", "same")):
            return None
        kernel, bias = values[0], (values[1] if settings.get("use_bias", True) else 0.0)
        strides, same = tuple(settings["strides"]), settings["padding"] == "same"
        return lambda x: activation(_conv(x, kernel, strides, same) + bias)
    if kind == "MaxPooling2D":
        if settings.get("padding") != "valid":
            return None
        pool, strides = tuple(settings["pool_size"]), tuple(settings["strides"] or settings["pool_size"])
        return lambda x: _windows(x, pool, strides).max(axis=(-2, -1))
    if kind == "Dense":
        kernel, bias = values[0], (values[1] if settings.get("use_bias", True) else 0.0)
        return lambda x: activation(x @ kernel + bias)
    if kind == "Flatten":
        return lambda x: x.reshape(-1)
    if kind == "Dropout":
        return lambda x: x
    if kind == "Activation":
        return activation
    if kind == "ReLU" and not any(settings.get(key) for key in ("max_value", "negative_slope", "threshold")):
        return _ACTIVATIONS["relu"]
    if kind == "Softmax" and settings.get("axis", -1) == -1:
        return softmax
    return None


def _windows(x: np.ndarray, size: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """(H', W', C, kh, kw) views of ``x`` (H, W, C): every window a kernel or pool visits."""
    views = np.lib.stride_tricks.sliding_window_view(x, size, axis=(0, 1))
    return views[::strides[0], ::strides[1]]


def _conv(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], same: bool) -> np.ndarray:
    """Keras' Conv2D (channels last) of one image: im2col, then one matrix product."""
    kh, kw, channels, filters = kernel.shape
    if same:
        pads = []
        for size, k, s in zip(x.shape[:2], (kh, kw), strides):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [*pads, (0, 0)])
    windows = _windows(x, (kh, kw), strides)  # (H', W', C, kh, kw)
    rows = windows.transpose(0, 1, 3, 4, 2).reshape(windows.shape[0], windows.shape[1], kh * kw * channels)
    return rows @ kernel.reshape(kh * kw * channels, filters)
