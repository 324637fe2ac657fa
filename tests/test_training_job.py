import time

from mnist_model.config import TrainConfig
from ui.training_job import TrainingJob


def wait_until_idle(job, timeout=120):
    deadline = time.monotonic() + timeout
    while job.state().active and time.monotonic() < deadline:
        time.sleep(0.1)
    return job.state()


def test_one_job_at_a_time_and_stop_keeps_nothing(tmp_path):
    job = TrainingJob(tmp_path, train_limit=300)
    config = TrainConfig(epochs=30, filters=(4, 8, 8), dense_units=16)
    assert job.start(config)
    assert not job.start(config)  # a second click, or a second user, sees the running job instead
    deadline = time.monotonic() + 60
    while job.state().step == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    job.stop()
    state = wait_until_idle(job)
    assert state.status == "cancelled" and "untouched" in state.message
    assert list(tmp_path.iterdir()) == []


def test_a_finished_job_saves_a_model_with_its_card_and_curves(tmp_path):
    job = TrainingJob(tmp_path, train_limit=300)
    assert job.start(TrainConfig(epochs=2, filters=(4, 8, 8), dense_units=16, validation_split=0.2))
    state = wait_until_idle(job)
    assert state.status == "done", state.message
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".keras"]
    assert state.curves["val_x"] == [1.0, 2.0] and len(state.curves["loss"]) >= 2
    assert state.fraction == 1.0 and state.config.train_limit == 300
