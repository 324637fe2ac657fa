"""The worker side of a job in its own process: ``serve(run_job)`` is a worker module's ``main``.

The app runs long jobs (training, the live data-efficiency run) in processes of their own,
so they never hold the server's interpreter, and at the lowest priority, so the server keeps
answering drawings at full speed while they run. Every such worker speaks one protocol:

- the first line on stdin is the request, a JSON object;
- each later line is a command, and ``stop`` (or stdin closing: the server went away) cancels;
- progress comes back on stdout as JSON lines, one event each (``{"event": "...", ...}``);
- the last line is the outcome: ``done``, ``cancelled`` or ``failed``, with a ``message`` for people.

``ui/worker_process.py`` is the server's side of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable

PRIORITY = 19  # the lowest: drawings in the server come first
OUTCOMES = ("done", "cancelled", "failed")  # the events that end a run

Emit = Callable[[dict], None]
Job = Callable[[dict, Emit, threading.Event], dict]  # (request, emit, cancel) -> the outcome event


def serve(run_job: Job) -> None:
    """Run one job as the protocol says: lower this process' priority, read the request, report
    each event ``run_job`` emits and then the outcome it returns.

    Args:
        run_job: does the work; it must return the outcome event rather than raise, and stop
            soon after its ``cancel`` event is set.
    """
    os.nice(PRIORITY)
    out, lock = sys.stdout, threading.Lock()

    def emit(event: dict) -> None:
        with lock:  # run_job may report from several threads
            out.write(json.dumps(event, allow_nan=False) + "\n")
            out.flush()

    request = json.loads(sys.stdin.readline() or "{}")
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
