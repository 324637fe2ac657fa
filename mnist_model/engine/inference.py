"""Fast inference: one compiled forward pass gives the prediction and every layer's output."""

from __future__ import annotations

import threading
from collections import OrderedDict

import keras
import numpy as np
import tensorflow as tf

from .light import softmax as softmax  # re-exported: callers import it from here
from .preprocess import Preprocessed, canvas_to_mnist

EVAL_BATCH = 1000
RECENT = 64  # images whose layer outputs a Predictor keeps (see ``Predictor.activations``)
BATCH_VALUES = 2**25  # values all layers of a batch may output together (128 MB of float32)
SALIENCY_STEPS = 32  # images on the path from black to the drawing (integrated gradients)


def inner_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that compute something: all but the InputLayer a functional model lists."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def activation_model(model: keras.Model) -> keras.Model:
    """A model with the same input that outputs every inner layer's activations, last = the model's output.

    A Sequential model's layers are chained afresh on a new input: a loaded Sequential is
    built several times while it loads, and ``layer.output`` names the first of those
    graphs, 37 operations long instead of 9, which doubles the time of every forward pass.
    """
    layers = inner_layers(model)
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
        outputs, x = [], inputs
        for layer in layers:
            x = layer(x)
            outputs.append(x)
    else:
        inputs, outputs = model.inputs[0], [layer.output for layer in layers]
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{model.name}_activations")


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model ends in a softmax; if not, its outputs are taken as logits.

    A softmax of log-probabilities gives the probabilities back, so a model ending in
    log_softmax is read correctly too.
    """
    last = inner_layers(model)[-1]
    if isinstance(last, keras.Model):  # a nested model: look at how it ends
        return outputs_probabilities(last)
    return isinstance(last, keras.layers.Softmax) or getattr(last, "activation", None) is keras.activations.softmax


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
        # traced once, called as the concrete graph: no signature matching on every drawing
        self._forward = tf.function(self._activations, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)]
                                    ).get_concrete_function()
        self._saliency = tf.function(self._ink_shares, reduce_retracing=True,
                                     input_signature=[tf.TensorSpec((28, 28), tf.float32)])
        self._lock = threading.Lock()  # one forward pass at a time: TF's CPU pool is already parallel
        self._recent: OrderedDict[bytes, dict[str, np.ndarray]] = OrderedDict()  # see ``activations``
        self._recent_lock = threading.Lock()

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
        """Each layer's output for one 28x28 image, by layer name, batch axis removed; read-only.

        The last RECENT images' outputs are kept: the prediction, the familiarity check and the
        page's views of one drawing share one forward pass.
        """
        image = np.ascontiguousarray(image, dtype=np.float32)
        key = image.tobytes()
        with self._recent_lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        outputs = {name: out[0] for name, out in zip(self.layer_names, self.forward(image[None]))}
        for out in outputs.values():
            out.flags.writeable = False  # shared with every later caller
        with self._recent_lock:
            self._recent[key] = outputs
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        return outputs

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """The 10 class probabilities for one 28x28 image."""
        return self.to_probabilities(self.activations(image)[self.layer_names[-1]])

    def to_probabilities(self, output: np.ndarray) -> np.ndarray:
        """The model's output made probabilities: as is after a softmax, else softmax of the logits."""
        return output if self.softmax_in_model else softmax(output)

    def saliency(self, image: np.ndarray) -> np.ndarray:
        """The ink that pushed the network towards its answer, scaled to [0, 1].

        Integrated gradients (as ``explain.integrated_gradients``, on the predicted class),
        each pixel's share spread over its 3x3 neighbourhood so a stroke reads as one piece,
        keeping what speaks for the answer. Empty paper gets nothing, unlike a plain gradient.
        """
        with self._lock:
            heat = self._saliency(tf.constant(np.asarray(image, np.float32))).numpy()
        return heat / heat.max() if heat.max() > 0 else heat

    def _ink_shares(self, image: tf.Tensor) -> tf.Tensor:
        alphas = tf.reshape((tf.range(SALIENCY_STEPS, dtype=tf.float32) + 0.5) / SALIENCY_STEPS, (-1, 1, 1, 1))
        batch = tf.concat([image[None, ..., None], alphas * image[None, ..., None]], axis=0)
        with tf.GradientTape() as tape:
            tape.watch(batch)
            probs = self.model(batch, training=False)
            if not self.softmax_in_model:
                probs = tf.nn.softmax(probs)
            score = tf.reduce_sum(probs[1:, tf.argmax(probs[0])])
        shares = tf.reduce_mean(tape.gradient(score, batch)[1:], axis=0, keepdims=True) * image[None, ..., None]
        spread = tf.nn.conv2d(shares, tf.fill((3, 3, 1, 1), 1 / 9), strides=1, padding="SAME")
        return tf.nn.relu(spread[0, ..., 0])


def batch_size(model: keras.Model, largest: int = EVAL_BATCH) -> int:
    """Images per forward pass such that all of a batch's layer outputs hold at most ``BATCH_VALUES``
    values: ``largest`` for an MNIST-sized model, fewer for one with wide layers, so memory stays bounded."""
    values = 0
    for layer in inner_layers(model):
        try:
            values += int(np.prod(layer.output.shape[1:]))
        except (AttributeError, ValueError, TypeError):  # a layer used twice has no single output
            return max(1, min(largest, 64))
    return max(1, min(largest, BATCH_VALUES // max(1, values)))


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict:
    """Test loss (categorical cross-entropy) and accuracy of ``model`` on prepared data."""
    step = batch_size(model)
    probs = np.concatenate([model.predict_on_batch(x[i:i + step]) for i in range(0, len(x), step)])
    if not outputs_probabilities(model):
        probs = softmax(probs)
    labels = y.argmax(1) if y.ndim == 2 else y
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"test_accuracy": float((probs.argmax(1) == labels).mean()),
            "test_loss": float(-np.log(picked).mean()), "n": int(len(labels))}
