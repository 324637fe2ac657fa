"""What a page computes once per model and keeps for every session (``resources.once_per_model``)."""

import threading
import time

import pytest

from server.resources import once_per_model


def test_a_class_opening_the_page_at_once_computes_it_once():
    calls, results = [], []

    def slow():
        calls.append(1)
        time.sleep(0.2)  # long enough for every other caller to arrive while it runs
        return object()

    callers = [threading.Thread(target=lambda: results.append(once_per_model("slow", ("m.keras", 1.0), slow)))
               for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_it_keeps_the_newest_results_of_each_kind_and_recomputes_the_oldest():
    calls = []

    def compute(key):
        return lambda: calls.append(key) or f"result {key}"

    for key in ("a", "b", "c", "a", "b"):
        assert once_per_model("kept two", key, compute(key), kept=2) == f"result {key}"
    assert calls == ["a", "b", "c", "a", "b"]  # "a" went when "c" came, then "b" when "a" came back
    assert once_per_model("kept two", "b", compute("b"), kept=2) == "result b" and len(calls) == 5
    assert once_per_model("another kind", "b", compute("b"), kept=2) == "result b" and len(calls) == 6


def test_a_failed_computation_is_not_kept_and_the_next_call_tries_again():
    def broken():
        raise ValueError("MNIST is missing")

    with pytest.raises(ValueError, match="MNIST is missing"):
        once_per_model("flaky", "m", broken)
    assert once_per_model("flaky", "m", lambda: 42) == 42


def test_a_model_being_computed_does_not_hold_up_another_model():
    started, release, order = threading.Event(), threading.Event(), []

    def slow():
        started.set()
        release.wait(5)
        order.append("slow")
        return "slow"

    first = threading.Thread(target=lambda: once_per_model("per model", "big.keras", slow))
    first.start()
    started.wait(5)
    assert once_per_model("per model", "small.keras", lambda: order.append("quick") or "quick") == "quick"
    release.set()
    first.join()
    assert order == ["quick", "slow"]  # the second model was served while the first was still computing
