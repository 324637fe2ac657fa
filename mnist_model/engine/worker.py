"""The worker side of a job in its own process: ``serve(run_job)`` is a worker module's ``main``.

The app runs long jobs (training, the live data-efficiency run) in processes of their own,
so they never hold the server's interpreter, and at the lowest priority, so the server keeps
answering drawings at full speed while they run. Every such worker speaks one protocol:

- the first line on stdin is the request, a JSON object;
- each later line is a command, and ``stop`` (or stdin closing: the server went away) cancels;
- progress comes back on stdout as JSON lines, one event each (``{"event": "...", ...}``);
- the last line is the outcome: ``done``, ``cancelled`` or ``failed``, with a ``message`` for people.

A request may carry ``"memory_bytes"``, the resident memory the server allows the worker. The
worker then caps its own address space (``RLIMIT_AS``) before it starts the job: what
TensorFlow has mapped once warmed up, plus what is left of the allowance, plus headroom for
threads it may start later. An allocation past the cap fails in the worker itself, which says
so in its outcome, however fast it grows; the server's polling of resident memory stays as a
second line.

``ui/worker_process.py`` is the server's side of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import sys
import threading
from collections.abc import Callable
from pathlib import Path

PRIORITY = 19  # the lowest: drawings in the server come first
OUTCOMES = ("done", "cancelled", "failed")  # the events that end a run
# Address space a worker may map beyond its warmed-up size and its allowance: each thread TensorFlow starts
# later may map a 64 MiB malloc arena and an 8 MiB stack it hardly touches (measured: TensorFlow maps
# 1.2 GB at import and 2.4 GB after a first forward and gradient pass, resident 0.7 GB, on 2 cores).
HEADROOM_BYTES = 512 * 2**20 + 72 * 2**20 * (os.cpu_count() or 1)
_cap: dict[str, int] = {}  # the allowance this worker was given, once it capped itself

Emit = Callable[[dict], None]
Job = Callable[[dict, Emit, threading.Event], dict]  # (request, emit, cancel) -> the outcome event


def serve(run_job: Job, warm_up: Callable[[], None] | None = None) -> None:
    """Run one job as the protocol says: lower this process' priority, read the request, cap its
    memory when the request gives an allowance, report each event ``run_job`` emits and then the
    outcome it returns.

    Args:
        run_job: does the work; it must return the outcome event rather than raise, and stop
            soon after its ``cancel`` event is set.
        warm_up: maps what the job's libraries map whatever the job (TensorFlow's thread pools),
            before the address space is measured and capped; see ``warm_tensorflow``.
    """
    os.nice(PRIORITY)
    out, lock = sys.stdout, threading.Lock()

    def emit(event: dict) -> None:
        with lock:  # run_job may report from several threads
            out.write(json.dumps(event, allow_nan=False) + "\n")
            out.flush()

    request = json.loads(sys.stdin.readline() or "{}")
    allowance = request.get("memory_bytes")
    if isinstance(allowance, int) and not isinstance(allowance, bool) and allowance > 0:
        if warm_up is not None:
            warm_up()
        cap_address_space(allowance)
    cancel = threading.Event()
    threading.Thread(target=_listen, args=(cancel,), daemon=True).start()
    with contextlib.suppress(BrokenPipeError):  # the server went away: nobody left to tell
        emit(run_job(request, emit, cancel))


def _listen(cancel: threading.Event) -> None:
    """Stop on a ``stop`` line, or when stdin closes because the server is gone."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    cancel.set()


def cap_address_space(allowance: int) -> int:
    """Cap this process' address space so that its resident memory cannot grow far past ``allowance``.

    Returns:
        The cap in bytes: what is mapped now, plus what ``allowance`` leaves beyond what is
        resident now, plus HEADROOM_BYTES.
    """
    mapped, resident = _status_bytes("VmSize"), _status_bytes("VmRSS")
    cap = mapped + max(allowance - resident, 0) + HEADROOM_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    _cap["allowance"] = allowance
    return cap


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (Linux), in bytes."""
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if found is None:
        raise OSError(f"/proc/self/status has no {field} line")
    return int(found.group(1)) * 1024


def warm_tensorflow() -> None:
    """Import TensorFlow and run one tiny forward and gradient pass, so its thread pools exist."""
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    images = tf.constant(np.zeros((8, 28, 28, 1), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(images))
    tape.gradient(loss, model.trainable_variables)


def failure(err: Exception, doing: str) -> dict:
    """The ``failed`` outcome for an error the job did not expect: running out of its memory said
    plainly, anything else named.

    Args:
        err: what was raised.
        doing: the job in words, for "<doing> failed: ...", e.g. "Training".
    """
    if isinstance(err, MemoryError) or type(err).__name__ == "ResourceExhaustedError":
        allowance = _cap.get("allowance")
        limit = f" of {_size(allowance)}" if allowance else ""
        return {"event": "failed", "message": f"{doing} needed more memory than the server allows a job{limit}, "
                                              f"so it was stopped; nothing else on the server was affected."}
    return {"event": "failed", "message": f"{doing} failed: {type(err).__name__}: {err}"}


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
