"""Honest numbers for a fine-tune's check: intervals for each accuracy and for the change, in points."""

import numpy as np
import pytest

from classroom.paired import PairedAccuracy, wilson
from ui.class_job import points, verdict


def test_wilson_by_hand():
    # 8 of 10: centre (0.8 + 1.96²/20) / (1 + 1.96²/10), half-width 1.96·√(0.016 + 1.96²/400) / (1 + 1.96²/10)
    low, high = wilson(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 10)[0] == pytest.approx(0.0) and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 0) == (0.0, 1.0)


def test_counts_and_accuracies_from_two_readings():
    pairs = PairedAccuracy.from_right([True, True, False, False, True], [True, False, True, True, True])
    assert (pairs.both, pairs.lost, pairs.gained, pairs.neither, pairs.n) == (2, 1, 2, 0, 5)
    assert (pairs.before, pairs.after, pairs.difference) == (0.6, 0.8, pytest.approx(0.2))
    with pytest.raises(ValueError, match="same length"):
        PairedAccuracy.from_right([True], [True, False])


def simulate(n: int, before: float, gain: float, rng) -> PairedAccuracy:
    """n items; each read right before with ``before``; after, wrong ones turn right with ``gain`` and right ones
    turn wrong with a small chance, so the readings are correlated as a fine-tune's are."""
    right_before = rng.random(n) < before
    flip = rng.random(n)
    right_after = np.where(right_before, flip > 0.05, flip < gain)
    return PairedAccuracy.from_right(right_before, right_after)


@pytest.mark.parametrize("n, before, gain", [(48, 0.8, 0.5), (200, 0.9, 0.2), (30, 0.7, 0.0)])
def test_the_change_interval_covers_the_true_change_at_least_95_times_in_100(n, before, gain):
    rng = np.random.default_rng(0)
    true_change = (1 - before) * gain - before * 0.05
    covered = 0
    for _ in range(2000):
        low, high = simulate(n, before, gain, rng).difference_interval()
        covered += low <= true_change <= high
    assert covered / 2000 >= 0.945  # never claims a change that is not there more often than it says


def test_a_few_dozen_drawings_cannot_tell_six_points_from_noise_but_hundreds_can():
    small = PairedAccuracy(both=36, lost=1, gained=4, neither=7)  # 48 drawings: 77.1% -> 83.3%
    assert small.difference == pytest.approx(3 / 48) and small.within_noise
    large = PairedAccuracy(both=360, lost=10, gained=40, neither=70)  # the same shares, ten times the drawings
    assert not large.within_noise and large.difference_interval()[0] > 0
    unchanged = PairedAccuracy(both=40, lost=0, gained=0, neither=8)
    assert unchanged.difference == 0 and unchanged.within_noise


def test_changes_are_written_in_points_never_percent():
    assert points(0.0625) == "+6.2 points" and points(-0.0007, 2) == "-0.07 points"
    assert points(0.0) == "0.0 points" and points(-0.00001) == "0.0 points"  # no sign, so no arrow, on nothing
    said = verdict(PairedAccuracy(both=36, lost=1, gained=4, neither=7), 1, "drawings")
    assert "%" not in said.split("the change")[1] and "points" in said
    assert "Within noise" in said and "48 drawings cannot tell" in said
    assert "Beyond noise" in verdict(PairedAccuracy(both=360, lost=10, gained=40, neither=70), 1, "drawings")


def alike_students(per: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 students with ``per`` drawings each, each student's all going one way (their hand is alike): 7 read
    right before and after, 2 wrong before and right after, 1 wrong both times."""
    kinds = [(True, True)] * 7 + [(False, True)] * 2 + [(False, False)]
    before, after = (np.repeat([k[i] for k in kinds], per) for i in (0, 1))
    return before, after, np.repeat(np.arange(len(kinds)), per)


def test_each_student_counts_as_one_unit_so_alike_drawings_widen_the_intervals():
    before, after, groups = alike_students()
    independent = PairedAccuracy.from_right(before, after)
    by_student = PairedAccuracy.from_right(before, after, groups=groups)
    assert (by_student.both, by_student.n, by_student.n_clusters) == (independent.both, 120, 10)
    for name in ("before_interval", "after_interval", "difference_interval"):
        (low, high), (i_low, i_high) = getattr(by_student, name)(), getattr(independent, name)()
        assert low <= i_low and high >= i_high  # never narrower than counting drawings one by one
    assert by_student.difference_interval()[1] - by_student.difference_interval()[0] > 1.5 * (
        independent.difference_interval()[1] - independent.difference_interval()[0])
    assert "each of the 10 students as one unit" in by_student.method()
    assert "independent" in independent.method()


def test_clusters_survive_json_and_must_add_up():
    import json

    pairs = PairedAccuracy.from_right([True, True, False, True], [True, False, True, True], groups=["a", "a", "b", "c"])
    again = PairedAccuracy(**json.loads(json.dumps(pairs.to_dict())))
    assert again == pairs and again.difference_interval() == pairs.difference_interval()
    with pytest.raises(ValueError, match="add up"):
        PairedAccuracy(both=2, lost=0, gained=0, neither=0, clusters=[(1, 0, 0, 0)])
