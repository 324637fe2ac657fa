"""Models are checked and prepared in a worker process, within limits, before the picker offers them."""

import time
from pathlib import Path

import numpy as np
import pytest
from hostile_models import HOSTILE

from mnist_model.engine.network import build_convnet
from mnist_model.engine.storage import is_ready, list_models, model_digest, stage_upload
from server.preparer import ModelPreparer
from server.worker_process import Limits

ROOT = Path(__file__).resolve().parent.parent
SIDECARS = ["evaluation.npz", "familiarity.npz", "json", "keras", "patterns.npz", "ready.json", "shift.npz",
            "top_patches.npz"]


def wait(preparer: ModelPreparer, key: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while preparer.state(key).active and time.monotonic() < deadline:
        time.sleep(0.2)
    return preparer.state(key)


@pytest.fixture(autouse=True)
def small_mnist(tmp_path_factory, monkeypatch):
    """The workers read a slice of MNIST (2,000 training, 500 test digits): the same steps, in seconds."""
    path = tmp_path_factory.getbasetemp() / "small_mnist.npz"
    if not path.exists():
        with np.load(ROOT / "data" / "mnist.npz") as full:
            np.savez(path, x_train=full["x_train"][:2000], y_train=full["y_train"][:2000],
                     x_test=full["x_test"][:500], y_test=full["y_test"][:500])
    monkeypatch.setenv("MNIST_NPZ", str(path))


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "tiny.keras"
    build_convnet((2, 4, 4), 8).save(path)
    return path.read_bytes()


def _files(folder: Path) -> list[str]:
    """The sidecars' kinds; hidden files (the servers' preparation locks) aside."""
    return sorted(p.name.split(".", 1)[1] for p in folder.iterdir() if not p.name.startswith("."))


def test_a_model_copied_into_the_folder_is_prepared_and_marked_ready(tmp_path, good_bytes):
    path = tmp_path / "copied.keras"
    path.write_bytes(good_bytes)
    preparer = ModelPreparer()
    job = wait(preparer, preparer.prepare(path).key)
    assert job.status == "ready", job.message
    assert is_ready(path, model_digest(path))
    assert _files(tmp_path) == [s for s in SIDECARS if s != "json"]
    assert preparer.prepare(path).status == "queued"  # asking again (a sidecar went missing) prepares again


def test_an_upload_is_checked_published_under_its_name_and_prepared(tmp_path, good_bytes):
    preparer = ModelPreparer()
    staged, cost = stage_upload(good_bytes, "my net.keras", tmp_path)
    job = wait(preparer, preparer.upload(staged, "my net.keras", tmp_path, "Ada", cost.flops).key)
    assert job.status == "ready", job.message
    assert Path(job.path).name == "my net.keras" and not staged.exists()
    assert _files(tmp_path) == SIDECARS
    assert [e.card["uploaded_by"] for e in list_models(tmp_path) if not e.bundled] == ["Ada"]


def test_an_upload_that_fails_once_it_runs_is_refused_and_leaves_nothing(tmp_path, good_bytes):
    good = tmp_path / "good.keras"
    good.write_bytes(good_bytes)
    make, message = HOSTILE["weights of 1e38"]
    bad = make(good, tmp_path / "overflow.keras")
    folder = tmp_path / "models"
    preparer = ModelPreparer()
    staged, cost = stage_upload(bad.read_bytes(), "overflow.keras", folder)  # its bytes are fine
    job = wait(preparer, preparer.upload(staged, "overflow.keras", folder, None, cost.flops).key)
    assert job.status == "failed" and message in job.message and job.message.startswith("overflow.keras")
    assert list(folder.iterdir()) == []


def test_hostile_bytes_are_refused_before_any_worker_starts(tmp_path, good_bytes):
    good = tmp_path / "good.keras"
    good.write_bytes(good_bytes)
    make, _ = HOSTILE["declares a 4 GiB kernel"]
    bad = make(good, tmp_path / "huge.keras")
    job = ModelPreparer().prepare(bad)
    assert job.status == "failed" and "values for the layer 'conv_1'" in job.message


@pytest.mark.parametrize("limits, said", [(Limits(seconds=2, memory_bytes=2**32), "took longer than 2 s"),
                                          (Limits(seconds=300, memory_bytes=50 * 2**20), "needed more than 50 MB")])
def test_a_worker_past_its_limits_is_stopped_and_the_upload_refused(tmp_path, good_bytes, limits, said):
    preparer = ModelPreparer(limits)
    staged, cost = stage_upload(good_bytes, "slow.keras", tmp_path)
    job = wait(preparer, preparer.upload(staged, "slow.keras", tmp_path, None, cost.flops).key)
    assert job.status == "failed" and said in job.message and "The model is not offered." in job.message
    assert [p for p in tmp_path.iterdir() if p.suffix == ".keras" and not p.name.startswith(".")] == []


def test_without_mnist_a_model_is_not_offered_and_the_reason_is_kept(tmp_path, good_bytes, monkeypatch):
    monkeypatch.setenv("MNIST_NPZ", str(tmp_path / "nowhere.npz"))
    path = tmp_path / "copied.keras"
    path.write_bytes(good_bytes)
    preparer = ModelPreparer()
    job = wait(preparer, preparer.prepare(path).key)
    assert job.status == "failed" and "MNIST file not found" in job.message
    assert preparer.prepare(path).status == "failed"  # not retried until the file changes


def test_two_servers_prepare_a_model_once(tmp_path, good_bytes, monkeypatch):
    """Two preparers over one models folder, as two servers are: one does the work, the other waits for it."""
    import server.preparer

    workers, real = [], server.preparer.WorkerProcess
    monkeypatch.setattr(server.preparer, "WorkerProcess", lambda *args, **kw: workers.append(args) or real(*args, **kw))
    path = tmp_path / "shared.keras"
    path.write_bytes(good_bytes)
    first, second = ModelPreparer(), ModelPreparer()
    jobs = [(first, first.prepare(path).key), (second, second.prepare(path).key)]
    assert [wait(preparer, key).status for preparer, key in jobs] == ["ready", "ready"]
    assert len(workers) == 1 and is_ready(path, model_digest(path))


def test_a_refused_model_is_not_tried_again_by_any_server_until_it_changes(tmp_path, good_bytes):
    from mnist_model.engine.storage import mark_refused, refusal

    path = tmp_path / "refused.keras"
    path.write_bytes(good_bytes)
    mark_refused(path, model_digest(path), "refused.keras: its preparation took longer than 300 s.")
    job = ModelPreparer().prepare(path)  # a server that never saw it, or one restarted since
    assert job.status == "failed" and "longer than 300 s" in job.message
    path.write_bytes(good_bytes + b"\0")  # rewritten: the mark no longer holds for it
    assert refusal(path, model_digest(path)) is None


def test_a_server_killed_mid_preparation_leaves_nothing_stuck(tmp_path, good_bytes):
    import hashlib
    import subprocess
    import sys

    path = tmp_path / "orphan.keras"
    path.write_bytes(good_bytes)
    lock = tmp_path / f".prepare-{hashlib.sha256(path.name.encode()).hexdigest()[:16]}.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)",
                               str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"  # another server is preparing it
    preparer = ModelPreparer()
    key = preparer.prepare(path).key
    deadline = time.monotonic() + 30
    while preparer.state(key).what != "being prepared by another server" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert preparer.state(key).what == "being prepared by another server"
    holder.kill()  # that server dies: the kernel drops its lock
    holder.wait()
    assert wait(preparer, key).status == "ready"


def test_a_preparation_within_its_memory_cap_succeeds_and_the_cap_holds(tmp_path, good_bytes):
    """The worker caps its own address space at what TensorFlow maps once warmed up, plus the allowance:
    an ordinary preparation fits under it (a cap too tight would refuse every model)."""
    import json
    import subprocess
    import sys

    from server.preparer import MEMORY_BYTES

    path = tmp_path / "capped.keras"
    path.write_bytes(good_bytes)
    run = subprocess.run([sys.executable, "-m", "mnist_model.lab.prepare_worker"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, input=json.dumps({"path": str(path), "memory_bytes": MEMORY_BYTES}))
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["event"] == "done", outcome
    assert is_ready(path, model_digest(path))
    mark = json.loads(path.with_suffix(".ready.json").read_text())
    assert min(mark["pass_ms"], mark["bundled_pass_ms"]) > 0  # its passes were timed against the bundled model's


def test_the_teachers_models_go_before_uploads_and_everyone_sees_their_place(tmp_path, good_bytes, monkeypatch):
    """Nothing runs here (the worker is held back), so the queue stands still and can be read."""
    monkeypatch.setattr(ModelPreparer, "_next", lambda self: None)
    preparer = ModelPreparer()
    paths = {name: tmp_path / f"{name}.keras" for name in ("upload-1", "upload-2", "trained")}
    for path in paths.values():
        path.write_bytes(good_bytes)
    keys = {name: preparer.prepare(path).key for name, path in paths.items() if name != "trained"}
    keys["trained"] = preparer.prepare(paths["trained"], first=True).key  # what a training or fine-tune waits on
    assert [preparer.place(keys[name]) for name in ("trained", "upload-1", "upload-2")] == [1, 2, 3]
    assert preparer.in_line(keys["upload-2"]) == "3rd in line" and preparer.in_line(keys["trained"]) == "next in line"
    preparer.prepare(paths["upload-2"], first=True)  # a teacher's job asks for a model already waiting: it moves up
    assert [preparer.place(keys[name]) for name in ("trained", "upload-2", "upload-1")] == [1, 2, 3]
    assert preparer.place("not queued") is None and preparer.in_line("not queued") == ""
