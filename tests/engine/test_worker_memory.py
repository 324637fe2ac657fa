"""A worker's memory allowance is a cap it cannot overshoot: its own address-space limit, set before the job."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GiB = 2**30

JOB = textwrap.dedent("""
    import resource

    import numpy as np

    from mnist_model.engine.worker import failure, serve


    def run_job(request, emit, cancel):
        try:
            block = np.empty(request["allocate"], np.uint8)  # never touched: without a cap it costs nothing
            return {"event": "done", "bytes": block.nbytes, "cap": resource.getrlimit(resource.RLIMIT_AS)[0]}
        except MemoryError as err:
            return failure(err, "The test job")


    serve(run_job)
""")


def start(request: dict) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", JOB], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    child.stdin.write(json.dumps(request) + "\n")
    child.stdin.flush()
    return child


def outcome(child: subprocess.Popen) -> dict:
    out, _ = child.communicate(timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def test_a_worker_allocating_past_its_allowance_fails_with_a_sentence_and_the_others_are_unaffected():
    from mnist_model.engine.worker import HEADROOM_BYTES

    past = HEADROOM_BYTES + 2 * GiB  # past the cap: what is mapped (0.15 GB) + 0.25 GB + the headroom
    greedy = start({"memory_bytes": GiB // 4, "allocate": past})
    modest = start({"memory_bytes": GiB // 4, "allocate": 16 * 2**20})
    uncapped = start({"allocate": past})  # no allowance given: no cap (the server's polling alone)
    said = outcome(greedy)
    assert said["event"] == "failed"
    assert said["message"] == ("The test job needed more memory than the server allows a job of 256 MB, so it was "
                               "stopped; nothing else on the server was affected.")
    assert outcome(modest)["event"] == "done"
    assert outcome(uncapped)["event"] == "done"


def test_the_cap_is_what_is_mapped_plus_the_allowance_plus_headroom():
    from mnist_model.engine.worker import HEADROOM_BYTES

    done = outcome(start({"memory_bytes": GiB, "allocate": 1}))
    assert GiB + HEADROOM_BYTES < done["cap"] < 2 * GiB + HEADROOM_BYTES  # a Python with numpy maps ~0.15 GB


@pytest.mark.parametrize("allowance", [0, -5, "1000", True, None])
def test_no_usable_allowance_means_no_cap(allowance):
    import resource

    done = outcome(start({"memory_bytes": allowance, "allocate": 1}))
    assert done["cap"] == resource.RLIM_INFINITY


class ResourceExhaustedError(Exception):
    """Named as TensorFlow's out-of-memory error."""


@pytest.mark.parametrize("err, message", [
    (MemoryError(), "Training needed more memory than the server allows a job, so it was stopped; nothing else on "
                    "the server was affected."),
    (ResourceExhaustedError("OOM when allocating tensor"), "Training needed more memory than the server allows"),
    (ValueError("boom"), "Training failed: ValueError: boom"),
])
def test_a_job_that_fails_says_so_in_a_sentence(err, message):
    from mnist_model.engine.worker import failure

    said = failure(err, "Training")
    assert said["event"] == "failed" and said["message"].startswith(message)
