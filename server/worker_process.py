"""The server's side of a job in its own process (the protocol is in ``mnist_model/engine/worker.py``).

A job object (the sidebar's training, the live data-efficiency run) keeps its state for every
session to poll; a ``WorkerProcess`` starts the worker, turns its report lines into calls on
that job from a thread of its own, and asks it to stop. Worker threads never call ``st.*``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mnist_model.engine.worker import OUTCOMES

APP_ROOT = Path(__file__).resolve().parent.parent
STDERR_KEPT = 4000  # characters of a dead worker's stderr read back for its last line
WATCH_EVERY_S = 0.2  # how often a limited worker's time and memory are looked at


@dataclass(frozen=True)
class Limits:
    """What a worker may take before it is killed: wall-clock seconds and resident memory."""

    seconds: float
    memory_bytes: int


class WorkerProcess:
    """One ``python -m <module>`` worker, fed its request, followed until it ends.

    Args:
        module: the worker module, e.g. ``mnist_model.engine.train_worker``.
        request: its request (JSON-able).
        on_event: called with each progress event, on the follower thread.
        on_end: called once with the outcome event, on the follower thread: the worker's last
            line, or a ``failed`` event (with ``"crashed": True``) saying how the process died.
        what: the job in words, for that sentence ("training").
        limits: kill the worker when it outlives these, and say so in the outcome.

    Raises:
        OSError: the process could not be started.
    """

    def __init__(self, module: str, request: dict, on_event: Callable[[dict], None],
                 on_end: Callable[[dict], None], what: str, limits: Limits | None = None):
        self.what = what
        self._on_event, self._on_end = on_event, on_end
        self._killed_for: str | None = None
        # TensorFlow is chatty on stderr, and an unread pipe could fill up and block the worker:
        # it goes to a file, read back only if the worker dies.
        self._errlog = tempfile.TemporaryFile("w+")  # noqa: SIM115 (kept open for the process' lifetime)
        try:
            self._process = subprocess.Popen([sys.executable, "-m", module], cwd=APP_ROOT, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._errlog, text=True, bufsize=1)
        except OSError:
            self._errlog.close()
            raise
        # the worker caps its own address space at this allowance (engine/worker.py); the watch below is a second line
        self._send(json.dumps({**request, "memory_bytes": limits.memory_bytes} if limits is not None else request))
        threading.Thread(target=self._follow, name=what, daemon=True).start()
        if limits is not None:
            threading.Thread(target=self._watch, args=(limits,), name=f"{what} limits", daemon=True).start()

    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """Ask the worker to stop soon; how it ended still comes through ``on_end``."""
        self._send("stop")

    def _send(self, line: str) -> None:
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):  # already gone: _follow reports how it ended
            pass

    def _follow(self) -> None:
        outcome = None
        for line in self._process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") in OUTCOMES:
                outcome = event
            else:
                self._on_event(event)
        self._process.wait()
        self._on_end(outcome or self._crash_report())
        self._errlog.close()

    def _watch(self, limits: Limits) -> None:
        """Kill the worker once it has run longer, or holds more memory, than ``limits`` allow."""
        deadline = time.monotonic() + limits.seconds
        while self.running():
            if time.monotonic() > deadline:
                self._kill(f"took longer than {limits.seconds:.0f} s")
            elif resident_bytes(self._process.pid) > limits.memory_bytes:
                self._kill(f"needed more than {_size(limits.memory_bytes)} of memory")
            time.sleep(WATCH_EVERY_S)

    def _kill(self, why: str) -> None:
        self._killed_for = why
        self._process.kill()

    def _crash_report(self) -> dict:
        if self._killed_for:
            return {"event": "failed", "crashed": True, "limit": True,
                    "message": f"The {self.what} {self._killed_for}, so it was stopped."}
        self._errlog.seek(0)
        last = self._errlog.read()[-STDERR_KEPT:].strip().splitlines()
        return {"event": "failed", "crashed": True,
                "message": f"The {self.what} process ended unexpectedly (exit code {self._process.returncode}"
                           f"{': ' + last[-1] if last else ''})."}


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"


def resident_bytes(pid: int) -> int:
    """A process' resident memory (Linux /proc); 0 when it is gone or cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next((line for line in status if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    except OSError:
        return 0
    return int(line.split()[1]) * 1024


class SharedJob:
    """At most one job of a kind per server, its state shared with every session that polls it.

    A subclass starts ``self._worker`` (a ``WorkerProcess``) and keeps ``self._state``, a
    dataclass with ``status``, ``message`` and an ``active`` property, up to date from the
    worker's reports, always under ``self._lock``.
    """

    def __init__(self, idle_state):
        self._lock = threading.Lock()
        self._state = idle_state
        self._worker: WorkerProcess | None = None

    def state(self):
        """The state now (a dataclass; don't change it)."""
        with self._lock:
            return self._state

    def stop(self) -> None:
        """Ask the running job to stop after its current batch; how it ended still comes from the worker."""
        with self._lock:
            if not self._state.active:
                return
            self._state = replace(self._state, status="stopping", message="Stopping after this batch ...")
            self._worker.stop()
