"""One training per class store: the sidebar's training and a class fine-tune share the store's lease."""


import classroom
from classroom import StoreLease, acquire_job_lease, job_lease
from mnist_model.engine.config import TrainConfig
from ui.training_job import TrainingJob

pytest_plugins = ["classroom_support"]


def test_a_training_is_refused_while_a_fine_tune_holds_the_store(store, tmp_path):
    assert acquire_job_lease(store, "fine-tune on another server", 60)
    models = tmp_path / "models"
    job = TrainingJob(models, lease=StoreLease(lambda: store))
    assert not job.start(TrainConfig(epochs=1))
    assert not job.state().active and not models.exists()  # no worker was started


def test_two_jobs_on_one_store_one_wins_and_release_frees_it(store):
    first, second = StoreLease(lambda: store), StoreLease(lambda: store)
    assert first.acquire() and job_lease(store).owner == first.owner
    assert not second.acquire()
    first.release()
    assert job_lease(store) is None and second.acquire()


def test_without_a_store_in_use_or_with_one_unreachable_training_goes_on():
    assert StoreLease(lambda: None).acquire()

    def unreachable():
        raise classroom.ClassStoreUnavailable("the class store is unavailable")
    lease = StoreLease(unreachable)
    assert lease.acquire()
    lease.renew()
    lease.release()  # nothing to give back, nothing raised


def test_the_lease_lapses_if_its_server_dies(store):
    dead = StoreLease(lambda: store, ttl=0.0)
    assert dead.acquire()  # and is never renewed
    assert StoreLease(lambda: store).acquire()
