"""Convnet Lab's engine, lab and figures, and the command line (``python -m mnist_model``).

Three packages, the arrows one way: ``figures`` -> ``lab`` -> ``engine``. ``cli`` uses all three.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ banner drowns the CLI's output
