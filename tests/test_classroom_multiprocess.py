"""Several OS processes sharing one class store, as app replicas behind a load balancer do:
one SQLite file, and one PostgreSQL database (the ``db_url`` fixture's two backends)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import classroom
from classroom.store import SEND_LIMIT

pytest_plugins = ["classroom_support"]

ROOT = Path(__file__).resolve().parent.parent

# A process of its own: connects, says it is ready, waits for "go", does one thing, prints the result as JSON.
CHILD = r"""
import json, os, sys, time
from pathlib import Path
import numpy as np
import classroom

task = json.loads(sys.argv[1])
if not task.get("starting"):  # else connecting (creating the tables) is part of the race
    store = classroom.connect(task["url"])
Path(task["ready"]).touch()
while not Path(task["go"]).exists():
    time.sleep(0.002)
if task.get("starting"):
    store = classroom.connect(task["url"])

def send(student, intended, sent=[0]):
    sent[0] += 1  # each drawing differs, in every process: the store keeps the same drawing once
    image = np.full((28, 28), intended, np.uint8)
    image[27, -3:] = sent[0] % 256, os.getpid() % 256, os.getpid() // 256 % 256
    return classroom.send_drawing(store, student, image, intended=intended, predicted=intended, confidence=0.9)

if task["do"] == "send":
    student = classroom.join(store, task["code"], "sender")
    result = {"student": student, "id": send(student, 7)}
elif task["do"] == "read":
    try:
        result = [[d.id, d.student, d.intended, int(d.image[0, 0])]
                  for d in classroom.class_drawings(store, task["code"])]
    except classroom.ClassNotFound:
        result = {"error": "ClassNotFound"}
elif task["do"] == "lease":
    result = classroom.acquire_job_lease(store, task["owner"], ttl=60)
elif task["do"] == "same":  # one drawing, sent by every process at once (taps on two servers, a retry)
    result = classroom.send_drawing(store, task["student"], np.full((28, 28), 5, np.uint8), intended=5,
                                    predicted=5, confidence=0.9)
elif task["do"] == "flood":
    result = {"kept": 0, "refused": 0}
    for _ in range(task["n"]):
        try:
            send(task["student"], 1)
            result["kept"] += 1
        except classroom.RateLimited:
            result["refused"] += 1
print(json.dumps(result))
"""


def run_together(tmp_path, db_url, tasks: list[dict], timeout: float = 120) -> list:
    """Start one process per task, let them all go at the same moment, return what each printed."""
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    procs, ready = [], []
    for i, task in enumerate(tasks):
        ready.append(tmp_path / f"ready-{i}-{time.monotonic_ns()}")
        request = {**task, "url": db_url, "ready": str(ready[-1]), "go": str(go)}
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(request)], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in ready):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), _errors(procs)
        time.sleep(0.01)
    go.touch()  # every process is connected and waiting: now they race
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def _errors(procs) -> str:
    return "\n".join(p.communicate()[1] for p in procs if p.poll() is not None)


def test_a_drawing_sent_through_one_process_is_read_by_another(tmp_path, db_url):
    store = classroom.connect(db_url)
    code = classroom.create_class(store, "two servers")
    store.close()
    (sent,) = run_together(tmp_path, db_url, [{"do": "send", "code": code}])
    (read,) = run_together(tmp_path, db_url, [{"do": "read", "code": code}])
    assert read == [[sent["id"], sent["student"], 7, 7]]


def test_servers_starting_at_once_on_an_empty_store_all_come_up(tmp_path, db_url):
    results = run_together(tmp_path, db_url, [{"do": "read", "code": "NOCODE", "starting": True}] * 4)
    assert results == [{"error": "ClassNotFound"}] * 4  # each created or found the tables, then looked


def test_processes_racing_for_the_job_lease_exactly_one_wins(tmp_path, db_url):
    classroom.connect(db_url).close()  # the tables exist: the race is for the lease alone
    owners = [f"server-{i}" for i in range(4)]
    won = run_together(tmp_path, db_url, [{"do": "lease", "owner": owner} for owner in owners])
    assert won.count(True) == 1
    store = classroom.connect(db_url)
    assert classroom.job_lease(store).owner == owners[won.index(True)]
    store.close()


def test_the_send_limit_holds_across_processes(tmp_path, db_url):
    store = classroom.connect(db_url)
    student = classroom.join(store, classroom.create_class(store, "flood"))
    store.close()
    results = run_together(tmp_path, db_url, [{"do": "flood", "student": student, "n": 15}] * 4)
    assert sum(r["kept"] for r in results) == SEND_LIMIT
    assert sum(r["refused"] for r in results) == 4 * 15 - SEND_LIMIT


def test_one_drawing_sent_by_four_processes_at_once_is_stored_once(tmp_path, db_url):
    store = classroom.connect(db_url)
    student = classroom.join(store, classroom.create_class(store, "taps"))
    ids = run_together(tmp_path, db_url, [{"do": "same", "student": student}] * 4)
    assert len(set(ids)) == 1
    assert [record.id for record in classroom.student_drawings(store, student)] == ids[:1]
    store.close()


def test_connections_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    """Each switches the new file to WAL from a shared lock; SQLite refuses all but one at once,
    without waiting: the others must retry (about 1 round in 25 failed before they did)."""
    import threading

    errors = []
    for round_ in range(25):
        url, barrier = f"sqlite:///{tmp_path}/race-{round_}.db", threading.Barrier(6)

        def open_store(url=url, barrier=barrier):
            barrier.wait()
            try:
                classroom.connect(url).close()
            except classroom.ClassStoreError as err:
                errors.append(str(err))

        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
