"""Models are checked and prepared off the server, one at a time, before anyone can pick them.

Every model a session could pick, other than the bundled ones, goes through
``mnist_model.lab.prepare_worker`` first: a process at the lowest priority that loads it
(every check, a test batch), computes what the pages show of it once per model, and marks
it ready. The server watches the worker's time and memory and kills it past its limits.
The picker lists a model only once it is ready (every open picker re-lists when what it
offers changes). Worker threads never call ``st.*``.

Several servers share one models folder: one prepares a model, the others wait for it.
Whoever prepares holds a lock on a file in that folder (``flock``; the kernel drops it if the
server dies, so a killed server leaves nothing stuck); a server that gets the lock after
another finds the ready mark, or the refusal mark (``storage.mark_refused``), and does no
work. A refused file is not tried again by any server until it changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from mnist_model.engine.check_process import check_isolated
from mnist_model.engine.storage import (
    ModelFileError,
    delete_model,
    is_ready,
    mark_refused,
    model_digest,
    refusal,
)

try:
    import fcntl
except ImportError:  # Windows: one server, nothing to share
    fcntl = None

from .worker_process import Limits, WorkerProcess

BASE_SECONDS = 300  # a preparation's time limit: the bundled convnet takes about a minute on 2 busy cores ...
SECONDS_PER_MFLOP = 6  # ... plus this much per MFLOP a model needs per image (200 MFLOP at most)
MEMORY_BYTES = int(1.5 * 2**30)  # the bundled convnet's preparation peaks at about 1.0 GB
KEPT = 64  # finished preparations remembered (their messages, for the sessions that wait on them)
TEACHERS, STUDENTS = 0, 1  # the queue's two lanes: a training's or fine-tune's model goes before any upload


@contextlib.contextmanager
def _preparing(path: Path, waiting):
    """Hold the models folder's lock on ``path``'s preparation; calls ``waiting()`` first if another has it."""
    if fcntl is None:
        yield
        return
    lock = path.parent / f".prepare-{hashlib.sha256(path.name.encode()).hexdigest()[:16]}.lock"
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)  # until the other server is done, or dies
        yield


@dataclass(frozen=True)
class Preparation:
    """Where one model's preparation stands; copied out under the lock."""

    key: str  # the model's path, or "upload:<temp file>" until an upload has its name
    status: str = "queued"  # queued, running, ready, failed
    done: float = 0.0
    what: str = "waiting for its turn"
    message: str = ""  # why it failed, for people
    path: str | None = None  # the model file, once known
    name: str = ""  # what people call it: the upload's own name or the file's stem
    mtime: float = 0.0  # of the file when it was queued: a failure is not retried until the file changes

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class ModelPreparer:
    """The server's one queue of models to check and prepare, shared by every session."""

    def __init__(self, limits: Limits | None = None):
        self._lock = threading.Lock()
        self._jobs: dict[str, Preparation] = {}
        self._lanes: tuple[deque, deque] = (deque(), deque())  # (key, request, limits); first come, first served
        self._busy = False
        self._limits = limits

    def prepare(self, path: str | Path, first: bool = False) -> Preparation:
        """Queue the model at ``path`` unless it is queued, running, or failed on this very file.

        ``first``: a model the teacher's jobs made (a training, a class fine-tune) goes before the uploads
        waiting, and moves up if it was already queued behind them.
        """
        key, path = str(path), Path(path)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        with self._lock:
            known = self._jobs.get(key)
            if known is not None and (known.active or (known.status == "failed" and known.mtime == mtime)):
                if first:
                    self._move_up(key)
                return known
        job = Preparation(key, path=key, name=path.stem, mtime=mtime)
        try:
            refused = refusal(path, model_digest(path))  # by this server before a restart, or by another
            if refused is not None:
                return self._record(replace(job, status="failed", message=refused))
            cost = check_isolated(path, path.name)  # hostile bytes fail here, outside the server
        except (ModelFileError, OSError) as err:
            return self._record(replace(job, status="failed", message=str(err)))
        return self._enqueue(job, {"path": key}, cost.flops, TEACHERS if first else STUDENTS)

    def upload(self, staged: Path, name: str, folder: Path, uploaded_by: str | None, flops: int) -> Preparation:
        """Queue an upload already checked from its bytes (``storage.stage_upload``: ``staged`` is a hidden
        file in ``folder``, ``flops`` what its config says one image costs)."""
        request = {"upload": str(staged), "name": name, "folder": str(folder), "uploaded_by": uploaded_by}
        return self._enqueue(Preparation(f"upload:{staged}", name=name), request, flops)

    def state(self, key: str) -> Preparation | None:
        with self._lock:
            return self._jobs.get(key)

    def in_line(self, key: str) -> str:
        """Where ``key`` waits, for people: "next in line", "3rd in line"; "" when it is not waiting."""
        place = self.place(key)
        if place is None:
            return ""
        if place == 1:
            return "next in line"
        suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
        return f"{place}{suffix} in line"

    def place(self, key: str) -> int | None:
        """Where ``key`` waits: 1 when it is next, None when it is not waiting (running, done, unknown)."""
        with self._lock:
            waiting = [queued for lane in self._lanes for queued, _, _ in lane]
        return waiting.index(key) + 1 if key in waiting else None

    def active(self) -> list[Preparation]:
        """The preparations queued or running, oldest first."""
        with self._lock:
            return [job for job in self._jobs.values() if job.active]

    def failed(self) -> list[Preparation]:
        with self._lock:
            return [job for job in self._jobs.values() if job.status == "failed"]

    def wait(self, path: str | Path, poll_s: float = 0.5) -> Preparation | None:
        """Queue the model at ``path`` ahead of uploads and block until its preparation ends (for a training's or
        fine-tune's follower thread: the teacher's jobs never wait behind students' uploads)."""
        key = self.prepare(path, first=True).key
        job = self.state(key)
        while job is not None and job.active:
            time.sleep(poll_s)
            job = self.state(key)
        return job

    def forget(self, key: str) -> None:
        """Drop what is known of ``key`` (a renamed or deleted model, a rewritten file)."""
        with self._lock:
            if key in self._jobs and not self._jobs[key].active:
                del self._jobs[key]

    def _enqueue(self, job: Preparation, request: dict, flops: int, lane: int = STUDENTS) -> Preparation:
        limits = self._limits or Limits(BASE_SECONDS + SECONDS_PER_MFLOP * flops / 1e6, MEMORY_BYTES)
        with self._lock:
            self._jobs[job.key] = job
            self._lanes[lane].append((job.key, request, limits))
        self._next()
        return job

    def _move_up(self, key: str) -> None:
        """Move a waiting ``key`` to the teachers' lane (the lock is held)."""
        students = self._lanes[STUDENTS]
        found = next((item for item in students if item[0] == key), None)
        if found is not None:
            students.remove(found)
            self._lanes[TEACHERS].append(found)

    def _record(self, job: Preparation) -> Preparation:
        with self._lock:
            self._jobs[job.key] = job
            while len(self._jobs) > KEPT:
                oldest = next((k for k, j in self._jobs.items() if not j.active), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        return job

    def _next(self) -> None:
        with self._lock:
            lane = next((lane for lane in self._lanes if lane), None)
            if self._busy or lane is None:
                return
            key, request, limits = lane.popleft()
            self._busy = True
            self._jobs[key] = replace(self._jobs[key], status="running", what="starting")
        threading.Thread(target=self._run, args=(key, request, limits), name="preparation", daemon=True).start()

    def _run(self, key: str, request: dict, limits: Limits) -> None:
        """Prepare one model (on a thread of its own): an upload here; a model in the shared folder once."""
        if "path" not in request:  # an upload: only this server has its file
            self._work(key, request, limits)
            return
        path = Path(request["path"])
        waiting = {"what": "being prepared by another server"}
        with _preparing(path, waiting=lambda: self._progress(key, waiting)):
            try:
                digest = model_digest(path)
            except (ModelFileError, OSError) as err:
                self._end(key, {"event": "failed", "message": str(err)})
                return
            if is_ready(path, digest):
                self._end(key, {"event": "done", "path": str(path)})
                return
            refused = refusal(path, digest)
            if refused is not None:
                self._end(key, {"event": "failed", "message": refused})
                return
            self._work(key, request, limits, digest).wait()  # the lock is held until the worker is done

    def _work(self, key: str, request: dict, limits: Limits, digest: str = "") -> threading.Event:
        """Start the worker; the event returned is set once it has ended. A file refused by its
        preparation (``digest`` given: a model in the shared folder) gets a refusal mark."""
        ended = threading.Event()

        def end(outcome: dict) -> None:
            if outcome.get("event") != "done" and digest and not outcome.get("crashed"):
                with contextlib.suppress(ModelFileError, OSError):
                    mark_refused(request["path"], digest, self._refusal(key, outcome))
            ended.set()
            self._end(key, outcome)

        try:
            WorkerProcess("mnist_model.lab.prepare_worker", request, on_event=lambda e: self._progress(key, e),
                          on_end=end, what="check of the model", limits=limits)
        except OSError as err:
            ended.set()
            self._end(key, {"event": "failed", "message": f"The model could not be checked: {err}"})
        return ended

    def _progress(self, key: str, event: dict) -> None:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs[key] = replace(job, done=float(event.get("done", job.done)),
                                          what=str(event.get("what", job.what)), path=event.get("path", job.path))

    def _refusal(self, key: str, outcome: dict) -> str:
        """The sentence a failed preparation leaves for people."""
        message = outcome.get("message", "")
        if outcome.get("limit"):
            with self._lock:
                name = self._jobs[key].name
            message = f"{name}: {message} The model is not offered."
        return message

    def _end(self, key: str, outcome: dict) -> None:
        message = self._refusal(key, outcome)
        with self._lock:
            job = self._jobs[key]
            self._busy = False
        if outcome.get("event") == "done":
            self._record(replace(job, status="ready", done=1.0, what="ready", path=outcome.get("path")))
        else:
            if outcome.get("limit") and job.key.startswith("upload:") and job.path:
                with contextlib.suppress(ModelFileError):  # published, then stopped: the upload is refused
                    delete_model(job.path)
            self._record(replace(job, status="failed", message=message))
        self._next()
