"""The training job under faults: double clicks, two users, Stop, NaN, a full disk, kills."""

import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.storage import load_model, save_model
from mnist_model.engine.timeline import load_timeline
from mnist_model.engine.train_worker import run_job
from server.training_job import TrainingJob

ROOT = Path(__file__).resolve().parent.parent
TINY = TrainConfig(epochs=1, filters=(4, 8, 8), dense_units=16, train_limit=300)


def wait_until_idle(job, timeout=120):
    deadline = time.monotonic() + timeout
    while job.state().active and time.monotonic() < deadline:
        time.sleep(0.1)
    return job.state()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def request(folder: Path, config: TrainConfig = TINY) -> dict:
    return {"config": config.to_dict(), "models_dir": str(folder), "command": "test"}


def test_one_job_at_a_time_even_when_many_click_at_once_and_stop_keeps_nothing(tmp_path):
    job = TrainingJob(tmp_path, train_limit=300)
    config = TrainConfig(epochs=30, filters=(4, 8, 8), dense_units=16)
    results = []
    clicks = [threading.Thread(target=lambda: results.append(job.start(config))) for _ in range(8)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert sorted(results) == [False] * 7 + [True]  # a double click, or thirty students, start one job
    deadline = time.monotonic() + 60
    # some progress seen, in any epoch: ``step`` alone is back to 0 at each epoch's start, and a poll that
    # only ever met epoch starts waited out all 30 epochs once, so Stop came after the end
    while job.state().active and job.state().fraction == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    job.stop()  # with epochs still to train
    state = wait_until_idle(job)
    assert state.status == "cancelled" and "untouched" in state.message
    assert list(tmp_path.iterdir()) == []


def test_a_finished_job_saves_a_model_with_its_card_and_curves(tmp_path):
    job = TrainingJob(tmp_path, train_limit=300)
    assert job.start(TrainConfig(epochs=2, filters=(4, 8, 8), dense_units=16, validation_split=0.2))
    state = wait_until_idle(job)
    assert state.status == "done", state.message
    assert sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir()) == ["json", "keras", "timeline.npz"]
    assert state.curves["val_x"] == [1.0, 2.0] and len(state.curves["loss"]) >= 2
    assert load_timeline(state.model_path).epochs == 2
    assert state.fraction == 1.0 and state.config.train_limit == 300
    assert load_model(state.model_path).count_params() > 0


def test_a_loss_that_goes_nan_fails_plainly_and_saves_nothing(tmp_path):
    wild = TrainConfig(epochs=1, filters=(4, 8, 8), dense_units=16, train_limit=300, optimizer="sgd",
                       learning_rate=1e12)
    outcome = run_job(request(tmp_path, wild), lambda event: None, threading.Event())
    assert outcome["event"] == "failed" and "loss became NaN" in outcome["message"]
    assert not list(tmp_path.glob("*.keras"))


def test_a_full_disk_while_saving_fails_plainly_and_leaves_no_partial_file(tmp_path, monkeypatch):
    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full)
    outcome = run_job(request(tmp_path), lambda event: None, threading.Event())
    assert outcome["event"] == "failed" and "disk is full" in outcome["message"]
    assert list(tmp_path.iterdir()) == []


def test_the_job_goes_on_when_the_tab_that_started_it_is_gone(tmp_path):
    from streamlit.testing.v1 import AppTest

    from server import resources

    os.environ["CONVNET_LAB_MODELS"] = str(tmp_path)
    os.environ["CONVNET_LAB_TRAIN_LIMIT"] = "300"
    try:
        resources.training_job.clear()
        at = AppTest.from_file("../app.py", default_timeout=120).run()
        at.slider(key="epochs_seed").set_value(1)
        at.button(key="train").click().run()
        job = resources.training_job()
        assert job.state().active
        del at  # the tab is closed
        state = wait_until_idle(job)
        assert state.status == "done", state.message
        assert Path(state.model_path).exists()
    finally:
        del os.environ["CONVNET_LAB_MODELS"], os.environ["CONVNET_LAB_TRAIN_LIMIT"]
        resources.training_job.clear()


SERVER = """
import sys, time
from mnist_model.engine.config import TrainConfig
from server.training_job import TrainingJob
job = TrainingJob(sys.argv[1])
job.start(TrainConfig(epochs=2, filters=(4, 8, 8), dense_units=16, train_limit=600))
print("started", flush=True)
while True:
    state = job.state()
    print(state.status, state.stage or "-", state.message, flush=True)
    time.sleep(0.05)
"""


def test_killing_the_server_at_random_moments_never_breaks_a_model(tmp_path):
    """SIGKILL the server and its training process together, at random moments of training and
    of saving: every model left in the folder loads, and the one that was there is untouched."""
    active = save_model(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                          keras.layers.Dense(10, activation="softmax")]),
                        tmp_path / "active.keras", {"recipe": "seed"})
    before = digest(active)
    rng = random.Random(7)
    saving_hits = 0
    for attempt in range(6):
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        target_save = attempt % 2 == 0  # every other run, aim for the moment of saving
        delay = rng.uniform(0.0, 0.4) if target_save else rng.uniform(0.5, 6.0)
        started = time.monotonic()
        for line in server.stdout:
            if target_save and line.startswith(("running saving", "running timeline")):
                time.sleep(delay)
                saving_hits += 1
                break
            if not target_save and time.monotonic() - started > delay:
                break
            if line.startswith("done"):
                break
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        time.sleep(0.2)
        assert digest(active) == before
        for model in tmp_path.glob("*.keras"):
            load_model(model)  # raises if any model is damaged
            assert json.loads(model.with_suffix(".json").read_text()) is not None
        for stored in tmp_path.glob("*.npz"):
            assert len(np.load(stored).files) > 0  # a familiarity is whole or absent
    assert saving_hits >= 2


def test_the_training_process_stops_when_the_server_dies(tmp_path):
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert server.stdout.readline().startswith("started")
    workers = _children(server.pid)
    assert workers, "the job runs in its own process"
    server.kill()
    server.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    assert not list(tmp_path.glob("*.keras"))


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("line", ["stop\n", ""])
def test_the_worker_stops_on_stop_or_when_its_input_closes(tmp_path, line):
    worker = subprocess.Popen([sys.executable, "-m", "mnist_model.engine.train_worker"], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    config = TrainConfig(epochs=30, filters=(4, 8, 8), dense_units=16, train_limit=300)
    worker.stdin.write(json.dumps(request(tmp_path, config)) + "\n")
    worker.stdin.flush()
    for report in worker.stdout:
        if json.loads(report)["event"] == "batch":
            break
    worker.stdin.write(line)
    worker.stdin.close()
    last = json.loads(worker.stdout.read().strip().splitlines()[-1])
    assert worker.wait(timeout=30) == 0
    assert last["event"] == "cancelled"
    assert not list(tmp_path.glob("*.keras"))
