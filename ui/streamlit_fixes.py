"""Turn off Streamlit's Keras clean-up after every script run.

Streamlit calls ``keras.backend.clear_session()`` at the end of each run of any app that
imported Keras (``script_runner._clean_problem_modules``). That is a full ``gc.collect()``
plus clearing TensorFlow's kernel cache: about 0.25 s of CPU per rerun per user, so thirty
idle browsers polling the training job saturate two cores, and the next prediction pays to
rebuild kernels. It also swaps Keras' thread-local state under a training job running in
the background. This app builds its models once and caches them, so there is nothing to
clear; the only other thing that hook does is close matplotlib figures, which we never open.
"""

from streamlit.runtime.scriptrunner import script_runner


def keep_keras_state() -> None:
    script_runner._clean_problem_modules = lambda: None
