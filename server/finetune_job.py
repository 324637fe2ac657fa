"""This server's fine-tune on a class's digits: one worker process and its progress, for the teacher's panel."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import streamlit as st

import classroom

from . import resources
from .worker_process import SharedJob, WorkerProcess


@dataclass(frozen=True)
class FinetuneState:
    """What the panel shows of this server's fine-tune."""

    status: str = "idle"  # idle, running, stopping, done, cancelled, failed
    code: str = ""
    done: float = 0.0
    message: str = ""
    outcome: dict | None = None  # the worker's last line, with the accuracies before and after
    started: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")


class FinetuneJob(SharedJob):
    """At most one fine-tune per server process (the store's lease makes it one per store)."""

    def __init__(self):
        super().__init__(FinetuneState())

    def start(self, code: str, model_path: str) -> bool:
        """Start the worker; False when this server already runs one."""
        with self._lock:
            if self._state.active:
                return False
            self._state = FinetuneState("running", code, message="Starting: loading TensorFlow ...",
                                        started=time.time())
            request = {"db": classroom.default_url(), "code": code, "model_path": model_path,
                       "models_dir": str(resources.models_dir()), "config": _config()}
            try:
                self._worker = WorkerProcess("classroom.finetune_worker", request, self._progress, self._end,
                                              what="fine-tune")
            except OSError as err:
                self._state = FinetuneState("failed", code, message=f"The fine-tune could not start: {err}")
                return False
        return True

    def _progress(self, event: dict) -> None:
        if event.get("event") == "progress":
            with self._lock:
                self._state = replace(self._state, done=event["done"], message=event["message"])

    def _end(self, outcome: dict) -> None:
        """Runs on the worker's follower thread: a saved model is done once it is prepared and in every picker."""
        message, offered = outcome.get("message", ""), False
        if outcome["event"] == "done" and outcome.get("model_path"):
            with self._lock:
                self._state = replace(self._state, done=1.0,
                                      message="Preparing the new model for the lab's pages (its filters, "
                                              "patterns and scores) ...")
            resources.forget_models()
            prepared = resources.preparer().wait(outcome["model_path"])
            offered = prepared is not None and prepared.status == "ready"
            if offered:
                message = f"{message} It is in the model picker, for everyone; choose it there to use it."
            else:
                why = prepared.message if prepared is not None else "it was forgotten"
                message = (f"{message} It could not be prepared for the lab's pages, so the picker does not "
                           f"offer it: {why}")
        with self._lock:
            self._state = replace(self._state, status=outcome["event"], message=message,
                                  outcome={**outcome, "message": message, "offered": offered})
        resources.forget_models()


def _config() -> dict:
    """Tests shrink the fine-tune with $CONVNET_LAB_TRAIN_LIMIT, as they shrink training."""
    limit = os.environ.get("CONVNET_LAB_TRAIN_LIMIT")
    return {"epochs": 1, "mnist_per_epoch": int(limit)} if limit else {}


@st.cache_resource
def finetune_job() -> FinetuneJob:
    """This server's fine-tune, shared by its sessions."""
    return FinetuneJob()
