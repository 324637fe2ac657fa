"""One training per class store: the sidebar's training and a class fine-tune share the store's lease."""


import classroom
from classroom import StoreLease, acquire_job_lease, job_lease
from mnist_model.engine.config import TrainConfig
from server.training_job import TrainingJob

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


def _gone_owner() -> str:
    """The owner id of a process that ran and is gone, as a killed server's."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = classroom.owner_id("training", pid=child.pid)
    child.kill()
    child.wait()
    return owner


def test_a_lease_whose_server_is_gone_from_this_machine_is_taken_over_at_once(store):
    gone = _gone_owner()
    assert classroom.leases.owner_gone(gone) and not classroom.leases.owner_gone(classroom.owner_id("training"))
    assert acquire_job_lease(store, gone, ttl=600)  # a server killed while it trained: no release, no lapse yet
    taker = StoreLease(lambda: store)
    assert taker.acquire() and job_lease(store).owner == taker.owner


def test_a_lease_held_on_another_machine_or_in_the_old_format_waits_for_its_expiry(store):
    for owner in ("training:another-host:1:12345:abcd1234", "lab-1:812:abcd1234"):
        assert acquire_job_lease(store, owner, ttl=600)
        assert not StoreLease(lambda: store).acquire()
        classroom.release_job_lease(store, owner)


def test_a_refusal_says_who_holds_the_lease(store):
    holder = classroom.owner_id("finetune")
    assert acquire_job_lease(store, holder, ttl=600)
    classroom.renew_job_lease(store, holder, ttl=600, state={"code": "K7QZ2P", "done": 0.5, "message": "Epoch 1"})
    lease = StoreLease(lambda: store)
    assert not lease.acquire()
    host, pid = holder.split(":")[1:3]
    assert lease.refusal == f"a class fine-tune of class K7QZ2P on server {host} (pid {pid})"


def test_a_stopping_server_gives_its_leases_back(store):
    classroom.release_all()  # what earlier tests in this process left held
    held = StoreLease(lambda: store)
    assert held.acquire()
    assert classroom.release_all() == 1
    assert job_lease(store) is None and classroom.release_all() == 0  # twice is harmless
