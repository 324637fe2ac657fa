"""The class dashboard's figures: whole drawings on count axes, the same words as the confusion matrix."""

import numpy as np
import pytest

from mnist_model.figures.classroom import MEANT, class_counts_bars, counts_words
from mnist_model.figures.common import whole_step


@pytest.mark.parametrize("largest, step", [(0, 1), (1, 1), (3, 1), (7, 2), (12, 5), (40, 10), (219, 50)])
def test_a_count_axis_steps_in_whole_drawings(largest, step):
    assert whole_step(largest) == step


def test_the_bars_count_whole_drawings_and_name_the_digit_as_the_matrix_does():
    counts, right = np.array([2, 1] + [0] * 8), np.array([2, 0] + [0] * 8)
    fig = class_counts_bars(counts, right)
    assert fig.layout.yaxis.dtick >= 1 and fig.layout.yaxis.tickformat == "d" and fig.layout.yaxis.range[0] == 0
    assert fig.layout.xaxis.title.text == MEANT
    assert fig.data[0].customdata[1] == "1: 0 of 1 drawing read right"
    assert list(fig.data[2].text[:3]) == ["2/2", "0/1", ""]  # nobody sent a 2: no label


def test_the_bars_have_a_text_alternative_with_their_numbers():
    counts, right = np.array([0, 2, 0, 0, 2, 0, 0, 1, 0, 0]), np.array([0, 2, 0, 0, 1, 0, 0, 0, 0, 0])
    assert counts_words(counts, right) == "Read right per digit meant: 1s: 2 of 2; 4s: 1 of 2; 7s: 0 of 1."
    assert counts_words(np.zeros(10), np.zeros(10)) == "No drawings yet."
