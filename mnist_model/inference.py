"""Fast inference: one compiled forward pass gives the prediction and every layer's output."""

from __future__ import annotations

import threading

import keras
import numpy as np
import tensorflow as tf

from .preprocess import Preprocessed, canvas_to_mnist

EVAL_BATCH = 1000


def activation_model(model: keras.Model) -> keras.Model:
    """A model with the same input that outputs every layer's activations, last = probabilities."""
    return keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers],
                       name=f"{model.name}_activations")


class Predictor:
    """A loaded model ready for drawings: compiled once, safe to share between threads."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.layer_names = [layer.name for layer in model.layers]
        self._activations = activation_model(model)
        self._forward = tf.function(self._activations, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
        self._lock = threading.Lock()  # one forward pass at a time: TF's CPU pool is already parallel

    @staticmethod
    def prepare(image) -> Preprocessed:
        """Preprocess a drawing, photo or MNIST image (see ``canvas_to_mnist``)."""
        return canvas_to_mnist(image)

    def forward(self, images: np.ndarray) -> list[np.ndarray]:
        """All layer outputs for a batch of 28x28 images (N, 28, 28) or (N, 28, 28, 1)."""
        batch = np.asarray(images, dtype=np.float32).reshape((-1, 28, 28, 1))
        with self._lock:
            outputs = self._forward(tf.constant(batch))
        return [out.numpy() for out in outputs]

    def activations(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Each layer's output for one 28x28 image, by layer name, batch axis removed."""
        return {name: out[0] for name, out in zip(self.layer_names, self.forward(image[None]))}

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """The 10 class probabilities for one 28x28 image."""
        return self.forward(image[None])[-1][0]


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict:
    """Test loss (categorical cross-entropy) and accuracy of ``model`` on prepared data."""
    probs = np.concatenate([model.predict_on_batch(x[i:i + EVAL_BATCH])
                            for i in range(0, len(x), EVAL_BATCH)])
    labels = y.argmax(1) if y.ndim == 2 else y
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"test_accuracy": float((probs.argmax(1) == labels).mean()),
            "test_loss": float(-np.log(picked).mean()), "n": int(len(labels))}
