"""Single-drawing latency against the tutorial way, FLOPs and throughput, and memory over many calls."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from mnist_model.engine.preprocess import canvas_to_mnist

from .common import Sizes, bundled_predictor, summary, time_ms
from .drawing import render, replay_digits

WARMUP_CALLS = 20
MATMUL_SIZE = 2048
REPEATS = 10  # timed calls for the throughput medians


def run_latency(sizes: Sizes) -> dict:
    """The app's path and the tutorial's on one drawing, interleaved in this process."""
    image = render(replay_digits(1)[0])
    predictor = bundled_predictor()
    tutorial = naive_path(predictor.model)

    def ours():
        return predictor.forward(canvas_to_mnist(image).image[None])

    def naive():
        return tutorial(canvas_to_mnist(image).image)
    for _ in range(WARMUP_CALLS):
        ours()
        naive()
    per_round = max(1, sizes.inference_calls // sizes.naive_calls)
    ours_ms, naive_ms, prep_ms = [], [], []
    for _ in range(sizes.naive_calls):
        naive_ms.append(time_ms(naive))
        ours_ms += [time_ms(ours) for _ in range(per_round)]
        prep_ms.append(time_ms(lambda: canvas_to_mnist(image)))
    ours_s, naive_s = summary(ours_ms), summary(naive_ms)
    return {"inference_ms_p50": ours_s["p50"], "inference_ms_p95": ours_s["p95"], "inference_calls": ours_s["n"],
            "naive_ms_p50": naive_s["p50"], "naive_calls": naive_s["n"],
            "preprocess_ms_p50": summary(prep_ms)["p50"],
            "inference_speedup": naive_s["p50"] / ours_s["p50"]}


def naive_path(model: keras.Model):
    """The tutorial way: ``predict`` on the classifier, then one sub-model's ``predict`` per layer.

    The sub-models are built here, once, so only the calls are timed.
    """
    per_layer = [keras.Model(inputs=model.inputs[0], outputs=layer.output) for layer in model.layers]

    def outputs(image28: np.ndarray) -> list[np.ndarray]:
        batch = image28.reshape((1, 28, 28, 1))
        return [model.predict(batch, verbose=0)] + [m.predict(batch, verbose=0) for m in per_layer]
    return outputs


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass: a multiply-add counts 2; bias, ReLU, pooling and softmax are left out."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, hout, wout, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * hout * wout
        elif isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            total += 2 * fan_in * fan_out
    return int(total)


def run_flops(sizes: Sizes) -> dict:
    """Achieved batched GFLOP/s of the net against a float32 matmul on the same cores."""
    model = bundled_predictor().model
    flops = forward_flops(model)
    call = tf.function(model, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    batch = tf.constant(np.random.default_rng(0).random((sizes.batch, 28, 28, 1), np.float32))
    batched_s = _median_seconds(lambda: call(batch).numpy())
    a, b = (tf.constant(np.random.default_rng(i).random((MATMUL_SIZE,) * 2, np.float32)) for i in (1, 2))
    matmul = tf.function(tf.linalg.matmul)
    matmul_s = _median_seconds(lambda: matmul(a, b).numpy())
    batched = flops * sizes.batch / batched_s / 1e9
    peak = 2 * MATMUL_SIZE**3 / matmul_s / 1e9
    return {"forward_flops": flops, "batched_gflops": batched, "batched_images_per_s": sizes.batch / batched_s,
            "matmul_peak_gflops": peak, "flops_ratio": batched / peak}


def _median_seconds(fn) -> float:
    fn()
    return float(np.median([time_ms(fn) for _ in range(REPEATS)])) / 1000.0


def run_memory(sizes: Sizes) -> dict:
    """The process's resident memory growth over many predictions through the app's path."""
    images = [render(d) for d in replay_digits(10)]
    predictor = bundled_predictor()

    def predict(i: int) -> None:
        predictor.forward(canvas_to_mnist(images[i % len(images)]).image[None])
    for i in range(sizes.memory_warmup):
        predict(i)
    before = rss_mb()
    for i in range(sizes.memory_calls):
        predict(i)
    return {"rss_growth_mb_10k": rss_mb() - before,
            "rss_mb_after": rss_mb(), "memory_calls": sizes.memory_calls}


def rss_mb() -> float:
    """This process's resident set size in MiB (from /proc, no psutil needed)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
