"""What the training progress says after the last batch, and a Stop that comes too late."""

import threading
import time
from dataclasses import replace

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.storage import load_model
from mnist_model.engine.train_worker import run_job
from server.training_job import TOO_LATE, JobState, TrainingJob
from ui.sidebar import _progress_text

TINY = TrainConfig(epochs=1, filters=(4, 8, 8), dense_units=16, train_limit=300, validation_split=0.2)


def run(folder, stop_on: str | None = None) -> tuple[dict, list[str]]:
    """run_job on TINY; ``stop_on``: the event at which the Stop button is pressed."""
    events, cancel = [], threading.Event()

    def emit(event):
        events.append(event["event"] + (f":{event['what']}" if "what" in event else ""))
        if event["event"] == stop_on:
            cancel.set()
    request = {"config": TINY.to_dict(), "models_dir": str(folder), "command": "test"}
    return run_job(request, emit, cancel), events


def test_after_the_last_batch_the_worker_says_what_it_does(tmp_path):
    outcome, events = run(tmp_path)
    assert outcome["event"] == "done" and outcome["stop_too_late"] is False
    after = events[max(i for i, e in enumerate(events) if e == "batch") + 1:]
    assert [e for e in after if e != "point"] == ["checking", "epoch", "val", "testing", "saving", "saving:timeline"]


def test_a_stop_after_every_epoch_is_trained_is_too_late_and_the_model_is_saved(tmp_path):
    outcome, _ = run(tmp_path, stop_on="testing")
    assert outcome["event"] == "done" and outcome["stop_too_late"] is True
    assert load_model(outcome["model_path"]).count_params() > 0


def test_a_stop_during_the_last_epochs_check_still_stops(tmp_path):
    outcome, _ = run(tmp_path, stop_on="checking")
    assert outcome["event"] == "cancelled" and not list(tmp_path.glob("*.keras"))


def test_the_progress_names_each_stage():
    state = JobState(status="running", config=replace(TINY, epochs=5), epoch=4, step=844, steps=844)
    assert _progress_text(state, 212.4) == "Epoch 5/5 · batch 844/844 · 212 s"
    checking = _progress_text(replace(state, stage="checking"), 213)
    assert checking == "Epoch 5/5 · batch 844/844 · checking the epoch on held-out images · 213 s"
    testing = replace(state, epoch=5, stage="testing")
    assert testing.trained and testing.fraction == 1.0
    assert _progress_text(testing, 214) == "All 5 epochs trained · testing on the 10,000 test digits · 214 s"
    assert "scoring each epoch's weights" in _progress_text(replace(testing, stage="timeline"), 220)


def test_the_job_says_when_a_stop_came_too_late(tmp_path):
    job = TrainingJob(tmp_path)
    assert job.start(TINY)
    deadline = time.monotonic() + 120
    while not job.state().trained and job.state().active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state().trained, job.state()
    job.stop()  # as if the button had been pressed just before it was disabled
    assert job.state().status == "stopping"
    while job.state().active and time.monotonic() < deadline:
        if job.state().stage in ("saving", "timeline"):
            assert job.state().message.startswith("Too late to stop")
        time.sleep(0.01)
    state = job.state()
    assert state.status == "done" and state.message.endswith(TOO_LATE) and "Saved as" in state.message


def test_the_sidebar_curves_are_stacked_from_zero_with_the_legend_above():
    from mnist_model.figures.common import training_curves

    fig = training_curves({"x": [0.5, 1.0], "loss": [2.3, 0.5], "accuracy": [0.1, 0.9], "val_x": [1.0],
                           "val_loss": [0.4], "val_accuracy": [0.92]})
    assert fig.layout.yaxis.title.text == "loss" and fig.layout.yaxis.rangemode == "tozero"
    assert fig.layout.yaxis2.title.text == "accuracy" and fig.layout.yaxis2.range[0] == 0
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis2.domain[1]  # one above the other, not side by side
    assert fig.layout.legend.y > 1 and fig.layout.xaxis2.title.text == "epoch"
