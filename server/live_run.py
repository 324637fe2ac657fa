"""The server's one live data-efficiency run (both networks on a few hundred fresh digits), in its own process."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

from mnist_model.lab.data_efficiency import EfficiencyPlan, Run

from .worker_process import SharedJob, WorkerProcess


@dataclass(frozen=True)
class LiveRunState:
    """The server's live run, as every session sees it."""

    status: str = "idle"  # idle, running, stopping, done, cancelled, failed
    owner: str = ""  # the session that started it: only that one gets the runs
    size: int = 0  # training images
    done: int = 0  # gradient steps done, over both networks
    total: int = 0  # gradient steps in all
    label: str = ""  # what trains now: "the convnet on 500 images"
    seconds_left: float | None = None  # measured on this server as the run goes; None until measured
    runs: tuple[Run, ...] = ()  # when done: the convnet's and the dense network's
    message: str = ""
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class LiveRun(SharedJob):
    """At most one live run per server, in its own low-priority process (training takes every
    core, and thirty students may be drawing meanwhile); its progress is kept for every session."""

    def __init__(self):
        super().__init__(LiveRunState())

    def start(self, plan: EfficiencyPlan, size: int, owner: str, relative_cost: dict[str, float] | None = None) -> bool:
        """Train both networks on ``size`` fresh random images with ``plan``'s recipe, so the runs
        compare with ``plan``'s; False, and nothing started, while another run goes on.
        ``relative_cost`` (seconds per step of each network elsewhere) lets the time left be
        guessed for a network before it trains; it is measured once it does."""
        seed = int(np.random.default_rng().integers(1_000, 1_000_000))  # not 0..2: a pick unlike the bundled ones
        with self._lock:
            if self._state.active:
                return False
            self._state = LiveRunState("running", owner, size, started=time.time(),
                                       message="Starting: loading TensorFlow and the digits ...")
            try:
                self._worker = WorkerProcess("mnist_model.lab.data_efficiency_worker",
                                             {"plan": dataclasses.asdict(plan), "size": size, "seed": seed,
                                              "relative_cost": relative_cost},
                                             on_event=self._progress, on_end=self._end, what="training")
            except OSError as err:
                self._state = replace(self._state, status="failed", finished=time.time(),
                                      message=f"The run could not start: {err}")
        return True

    def _progress(self, event: dict) -> None:
        with self._lock:
            if event.get("event") == "progress" and self._state.status == "running":
                self._state = replace(self._state, done=event["done"], total=event["total"],
                                      label=event["label"], seconds_left=event.get("seconds_left"), message="")

    def _end(self, outcome: dict) -> None:
        runs = tuple(Run(**run) for run in outcome.get("runs", ()))
        with self._lock:
            self._state = replace(self._state, status=outcome["event"], runs=runs, finished=time.time(),
                                  message=outcome.get("message", ""))


@st.cache_resource
def live_run() -> LiveRun:
    """The server's one live run, shared by every session."""
    return LiveRun()
