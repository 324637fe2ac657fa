"""A loaded model's first forward pass, on a fixed batch, before anyone else's drawing meets it.

A file can pass every check of its bytes and still be useless or harmful once it runs: weights
of 1e38 overflow to NaN ("nan% confident"), and a layer whose activation is a Keras function
other than an activation (``keras.config.set_epsilon``) changes the settings of every model in
the process. ``probe_model`` runs the model once on a few images and refuses it if its answers
are not finite, or if running it touched Keras' process-wide settings (which it puts back).
"""

from __future__ import annotations

import keras
import numpy as np

from .errors import ModelFileError
from .inference import outputs_probabilities, softmax

_SETTINGS = {  # Keras' process-wide settings: a getter and the setter that puts it back
    "epsilon": (keras.config.epsilon, keras.config.set_epsilon),
    "floatx": (keras.config.floatx, keras.config.set_floatx),
    "image_data_format": (keras.config.image_data_format, keras.config.set_image_data_format),
    "dtype_policy": (lambda: keras.config.dtype_policy().name, keras.config.set_dtype_policy),
    "max_epochs": (keras.config.max_epochs, keras.config.set_max_epochs),
    "max_steps_per_epoch": (keras.config.max_steps_per_epoch, keras.config.set_max_steps_per_epoch),
}


def probe_batch() -> np.ndarray:
    """Eight 28x28x1 images in [0, 1]: blank, full, noise, a bar, a ring, a cross, a dot, a faint smear."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    ring = np.abs(np.hypot(yy - 14, xx - 14) - 7) < 1.5
    cross = (np.abs(yy - xx) < 2) | (np.abs(yy + xx - 27) < 2)
    images = [np.zeros((28, 28)), np.ones((28, 28)), rng.random((28, 28)), (np.abs(xx - 14) < 2) & (yy > 4) & (yy < 24),
              ring, cross, np.hypot(yy - 14, xx - 14) < 3, 0.1 * rng.random((28, 28))]
    return np.stack(images).astype(np.float32)[..., None]


def probe_model(label: str, model: keras.Model) -> np.ndarray:
    """Run ``model`` on ``probe_batch()`` and return the probabilities it gives (softmax of logits).

    Raises:
        ModelFileError: running it failed, changed Keras' process-wide settings, or gave
            NaN or infinite outputs.
    """
    before = _settings()
    try:
        outputs = np.asarray(model(probe_batch(), training=False), np.float64)
    except Exception as err:  # Keras and TensorFlow raise many types; the file is what is wrong
        raise ModelFileError(f"{label} could not be run on a test batch: {_first_line(err)}") from err
    finally:
        changed = _restore(before)
    if changed:
        raise ModelFileError(f"{label} is refused for safety: running it changed Keras' settings for the whole "
                             f"server ({', '.join(changed)}), which were put back. Use a model built from "
                             f"standard Keras layers and activations.")
    if not np.isfinite(outputs).all():
        raise ModelFileError(f"{label} gives NaN or infinite outputs on ordinary images (its weights overflow?), "
                             f"so it cannot predict. Retrain it.")
    probabilities = outputs if outputs_probabilities(model) else softmax(outputs)
    if not np.isfinite(probabilities).all():
        raise ModelFileError(f"{label} gives outputs too large to turn into probabilities, so it cannot predict.")
    return probabilities


def _settings() -> dict[str, object]:
    return {name: get() for name, (get, _) in _SETTINGS.items()}


def _restore(before: dict[str, object]) -> list[str]:
    """Put back every setting that moved; returns their names."""
    changed = [name for name, value in _settings().items() if value != before[name]]
    for name in changed:
        _SETTINGS[name][1](before[name])
    return changed


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
