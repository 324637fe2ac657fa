"""Numbers for people: no probability rounded into a certainty, changes of percentages in points."""

import pytest

from mnist_model.figures.numbers import percent, points, visible


@pytest.mark.parametrize("value, decimals, exact, text", [
    (0.123, 1, False, "12.3%"),
    (1.0, 1, False, ">99.9%"),  # a softmax never reaches 1: float32 rounds it there
    (0.99996, 1, False, ">99.9%"),
    (0.99949, 1, False, "99.9%"),
    (0.996, 0, False, ">99%"),
    (0.0004, 1, False, "<0.1%"),
    (0.0, 1, False, "<0.1%"),  # nor 0
    (0.004, 0, False, "<1%"),
    (1.0, 1, True, "100%"),  # every test digit of a class read right
    (0.0, 2, True, "0%"),
    (0.99996, 2, True, ">99.99%"),  # one mistake in 25,000 is not 100%
    (0.00004, 2, True, "<0.01%"),
    (0.5, 2, True, "50.00%"),
])
def test_percent_never_claims_a_certainty(value, decimals, exact, text):
    assert percent(value, decimals, exact) == text


@pytest.mark.parametrize("change, decimals, text, shown", [
    (0.0026, 2, "+0.26 points", True),  # 99.18% -> 99.44%
    (-0.062, 1, "-6.2 points", True),
    (0.01, 0, "+1 point", True),
    (0.01, 2, "+1.00 points", True),
    (0.0, 2, "no change", False),  # no sign, so no arrow up or down
    (0.00004, 2, "under 0.01 points", False),
    (-0.00004, 2, "under 0.01 points", False),  # not "-under 0.01"
    (-0.0004, 1, "under 0.1 points", False),
])
def test_points_are_signed_only_when_they_show_a_change(change, decimals, text, shown):
    assert points(change, decimals) == text
    assert visible(change, decimals) is shown
