"""Fast inference: one compiled forward pass gives the prediction and every layer's output."""

from __future__ import annotations

import threading

import keras
import numpy as np
import tensorflow as tf

from .preprocess import Preprocessed, canvas_to_mnist

EVAL_BATCH = 1000
SMOOTHGRAD_SAMPLES = 15  # noisy copies averaged for the saliency map
SMOOTHGRAD_NOISE = 0.15  # their pixel noise (images are in [0, 1])


def inner_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that compute something: all but the InputLayer a functional model lists."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def activation_model(model: keras.Model) -> keras.Model:
    """A model with the same input that outputs every inner layer's activations, last = the model's output."""
    return keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in inner_layers(model)],
                       name=f"{model.name}_activations")


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model ends in a softmax; if not, its outputs are taken as logits.

    A softmax of log-probabilities gives the probabilities back, so a model ending in
    log_softmax is read correctly too.
    """
    last = inner_layers(model)[-1]
    if isinstance(last, keras.Model):  # a nested model: look at how it ends
        return outputs_probabilities(last)
    return isinstance(last, keras.layers.Softmax) or getattr(last, "activation", None) is keras.activations.softmax


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits along the last axis, without overflow."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Predictor:
    """A loaded model ready for drawings: compiled once, safe to share between threads.

    Any model from 28x28x1 images to 10 classes works; one that outputs logits gets a
    softmax, so ``probabilities`` and ``saliency`` always speak of probabilities.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.layer_names = [layer.name for layer in inner_layers(model)]
        self.softmax_in_model = outputs_probabilities(model)
        self._activations = activation_model(model)
        self._forward = tf.function(self._activations, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
        self._saliency = tf.function(self._smooth_gradient, reduce_retracing=True,
                                     input_signature=[tf.TensorSpec((28, 28), tf.float32)])
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
        return self.to_probabilities(self.forward(image[None])[-1][0])

    def to_probabilities(self, output: np.ndarray) -> np.ndarray:
        """The model's output made probabilities: as is after a softmax, else softmax of the logits."""
        return output if self.softmax_in_model else softmax(output)

    def saliency(self, image: np.ndarray) -> np.ndarray:
        """Which pixels sway the predicted class most: |gradient|, averaged over noisy copies
        (SmoothGrad, which removes the speckle of a single gradient), scaled to [0, 1]."""
        with self._lock:
            heat = self._saliency(tf.constant(np.asarray(image, np.float32))).numpy()
        return heat / heat.max() if heat.max() > 0 else heat

    def _smooth_gradient(self, image: tf.Tensor) -> tf.Tensor:
        noise = tf.random.stateless_normal((SMOOTHGRAD_SAMPLES, 28, 28), seed=(0, 1), stddev=SMOOTHGRAD_NOISE)
        batch = tf.concat([image[None], image[None] + noise], axis=0)[..., None]
        with tf.GradientTape() as tape:
            tape.watch(batch)
            probs = self.model(batch, training=False)
            if not self.softmax_in_model:
                probs = tf.nn.softmax(probs)
            target = tf.argmax(probs[0])
            score = tf.reduce_sum(probs[:, target])
        return tf.reduce_mean(tf.abs(tape.gradient(score, batch)), axis=0)[..., 0]


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict:
    """Test loss (categorical cross-entropy) and accuracy of ``model`` on prepared data."""
    probs = np.concatenate([model.predict_on_batch(x[i:i + EVAL_BATCH])
                            for i in range(0, len(x), EVAL_BATCH)])
    if not outputs_probabilities(model):
        probs = softmax(probs)
    labels = y.argmax(1) if y.ndim == 2 else y
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"test_accuracy": float((probs.argmax(1) == labels).mean()),
            "test_loss": float(-np.log(picked).mean()), "n": int(len(labels))}
