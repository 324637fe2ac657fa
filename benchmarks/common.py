"""What every benchmark group shares: run sizes, percentiles, the bundled model, machine facts."""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sizes:
    """How much each group measures; the full run backs the README, the quick one smoke-tests."""

    inference_calls: int  # timed calls of the app's path (canvas_to_mnist + Predictor.forward)
    naive_calls: int  # timed calls of the tutorial path, interleaved with the app's
    batch: int  # images per call for the batched throughput
    memory_calls: int  # predictions over which the RSS growth is measured
    memory_warmup: int  # predictions before the first RSS reading
    train_images: int  # images in the one-epoch training comparison
    train_repeats: int  # runs of each training path, alternated
    test_images: int  # MNIST test images for test_accuracy
    drawn_digits: int  # UNIPEN digits replayed in the browser and rendered offline
    sessions: int  # browser pages drawing at once against one server
    session_digits: int  # digits each of those pages draws
    one_core_sessions: int  # sessions drawing at once against a server held to one core


FULL = Sizes(inference_calls=200, naive_calls=50, batch=1024, memory_calls=10_000, memory_warmup=500,
             train_images=20_000, train_repeats=3, test_images=10_000, drawn_digits=200, sessions=30,
             session_digits=3, one_core_sessions=60)
QUICK = Sizes(inference_calls=40, naive_calls=8, batch=256, memory_calls=500, memory_warmup=50,
              train_images=2_000, train_repeats=1, test_images=1_000, drawn_digits=6, sessions=3,
              session_digits=1, one_core_sessions=6)


def summary(values) -> dict:
    """Median, 95th percentile and count of a list of measurements."""
    arr = np.asarray(values, dtype=float)
    return {"p50": float(np.median(arr)), "p95": float(np.percentile(arr, 95)), "n": int(arr.size)}


def time_ms(fn) -> float:
    """Wall time of one call of ``fn`` in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


@functools.cache
def bundled_predictor():
    """The app's Predictor for the bundled model, loaded and traced once per process."""
    from mnist_model.engine.inference import Predictor
    from mnist_model.engine.storage import load_model

    predictor = Predictor(load_model())
    predictor.forward(np.zeros((1, 28, 28), np.float32))
    return predictor


def machine() -> dict:
    """CPU model, cores, memory and the versions that matter for these numbers."""
    import keras
    import streamlit
    import tensorflow as tf

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gb": round(_memory_bytes() / 2**30, 1),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "streamlit": streamlit.__version__, "os": platform.platform()}


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.processor()


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
