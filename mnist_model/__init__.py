"""Convnet Lab's engine: MNIST, the seed convnet, training, inspection, storage and figures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ banner drowns the CLI's output
