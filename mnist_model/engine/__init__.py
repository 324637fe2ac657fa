"""The engine: everything a model needs to exist and answer, and nothing about the lab built on it.

- ``data``: MNIST from ``data/mnist.npz``; ``network``: the seed convnet and the dense network;
  ``config``: ``TrainConfig``; ``training``: ``train()``; ``timeline``: the weights after each epoch.
- ``storage``: saving, loading, uploading, renaming and listing models; ``model_files`` and
  ``layer_sizes``: the checks a file passes before Keras opens it; ``model_names``: names that read
  unambiguously; ``errors``: ``ModelFileError``.
- ``preprocess``: any image to MNIST's 28x28 (``png_chunks``: a PNG's cost before it is decoded);
  ``inference``: ``Predictor``, every activation in one call.
- ``worker``: the protocol of long jobs in their own processes, each capping its own memory;
  ``train_worker``: training as one.
- ``jsonio``: strict JSON.

Modules are imported by name (``from mnist_model.engine.storage import load_model``): this
package imports nothing itself, so ``model_files`` can check a file without loading TensorFlow.
"""
