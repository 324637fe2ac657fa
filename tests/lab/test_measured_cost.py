"""A model's passes are timed against the bundled model's before it is offered; a far slower one is refused."""

import re
import time

import pytest

from mnist_model.engine.errors import ModelFileError
from mnist_model.engine.storage import PRETRAINED_MODEL, load_model
from mnist_model.lab import measured_cost
from mnist_model.lab.measured_cost import COST_BATCH, COST_MULTIPLE, check_measured_cost


class Sleepy:
    """A stand-in model whose every call takes at least ``seconds``, and whose answer depends on its input."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, batch, training=False):
        import tensorflow as tf

        time.sleep(self.seconds)
        return tf.tile(tf.reduce_mean(batch, axis=[1, 2, 3])[:, None], [1, 10])


@pytest.fixture(scope="module")
def bundled():
    return load_model(PRETRAINED_MODEL)


def test_a_small_model_and_the_bundled_one_itself_pass(tiny_model, bundled):
    cost = check_measured_cost("tiny.keras", tiny_model, bundled)
    assert min(cost.ms, cost.bundled_ms) > 0 and cost.limit_ms == COST_MULTIPLE * cost.bundled_ms
    assert check_measured_cost("classic.keras", bundled, bundled).ms <= cost.limit_ms


def test_a_model_a_hundred_times_slower_than_the_reference_is_refused_with_its_times():
    with pytest.raises(ModelFileError) as caught:
        check_measured_cost("slow.keras", Sleepy(0.2), Sleepy(0.002))  # the sleeps alone: 100 times
    said = str(caught.value)
    assert said.startswith(f"slow.keras is refused: a forward and a gradient pass on {COST_BATCH} digits took ")
    taken, reference, limit = (float(n.replace(",", "")) for n in re.findall(r"([\d,.]+) ms", said))
    assert taken >= 200 and limit == pytest.approx(COST_MULTIPLE * reference, abs=COST_MULTIPLE * 0.05 + 0.05)
    assert f"more than {COST_MULTIPLE} times the bundled model's" in said


def test_the_fastest_of_the_runs_counts(monkeypatch):
    monkeypatch.setattr(measured_cost, "RUNS", 3)
    times = iter([9.0, 0.5, 0.2, 0.4])  # the first warms up and is not counted
    monkeypatch.setattr(measured_cost, "pass_seconds", lambda model, images: next(times))
    assert measured_cost.fastest_pass_ms(None, None) == pytest.approx(200)
