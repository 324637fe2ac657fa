"""Numbers for people: no probability rounded into a certainty, changes of percentages in points."""

import pytest

from mnist_model.figures.numbers import count, percent, points, share, sure, visible


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


@pytest.mark.parametrize("probability, text", [(0.8734, "87.3% sure"), (0.99996, ">99.9% sure"), (1.0, ">99.9% sure"),
                                               (0.5, "50.0% sure")])
def test_sure_is_said_one_way(probability, text):
    assert sure(probability) == text


@pytest.mark.parametrize("n, noun, text", [(1, "drawing", "1 drawing"), (0, "drawing", "0 drawings"),
                                           (1234, "drawing", "1,234 drawings"), (2, "child", "2 children")])
def test_count_says_plurals(n, noun, text):
    assert count(n, noun, "children" if noun == "child" else None) == text


@pytest.mark.parametrize("right, total, text", [(218, 219, ">99%"), (219, 219, "100%"), (0, 3, "0%"), (0, 0, "–"),
                                                (1, 2, "50%")])
def test_share_is_100_percent_only_when_every_one_was_right(right, total, text):
    assert share(right, total) == text
