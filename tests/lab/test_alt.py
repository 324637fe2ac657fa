"""Each chart's text alternative: its numbers, written as the app writes them, from the arrays it is drawn from."""

import numpy as np
import pytest

from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.figures import alt
from mnist_model.figures.explain import Overlay
from mnist_model.figures.numbers import ink_words

PROBS = np.array([0.001, 0.002, 0.0005, 0.992, 0.0001, 0.0002, 0.0001, 0.0001, 0.005, 0.0001])


def test_the_probability_bars_say_the_answer_and_the_next_two_never_rounding_into_certainty():
    assert alt.probabilities_alt(PROBS) == ("Bar chart of the probability of each digit: 3 at 99.2%, then 8 at 0.5% "
                                            "and 1 at 0.2%.")
    sure = np.full(10, 1e-9)
    sure[7] = 1 - 9e-9
    assert alt.probabilities_alt(sure, "the probability of each digit after epoch 2").startswith(
        "Bar chart of the probability of each digit after epoch 2: 7 at >99.9%, then ")
    assert alt.probabilities_alt(sure).endswith("at <0.1% and 8 at <0.1%.")


def test_before_and_after_bars_say_how_the_answer_moved():
    start = "Bar chart of the probability of each digit, with all switched on and with yours switched off: "
    assert alt.before_after_alt(PROBS, PROBS) == start + "3 stays at 99.2%."
    after = PROBS.copy()
    after[[3, 8]] = 0.3, 0.697
    assert alt.before_after_alt(PROBS, after) == start + "3 goes from 99.2% to 30.0%; now 8 leads, at 69.7%."


@pytest.mark.parametrize("history, epochs, said", [
    ({"x": [0.05, 1.0, 2.35], "loss": [1, .5, .2], "accuracy": [.5, .9, .971], "val_x": [1.0, 2.0],
      "val_loss": [.3, .2], "val_accuracy": [.97, .982]}, 5,
     "Line charts of loss and accuracy over 2.4 of 5 epochs: training accuracy 97.1% and validation accuracy "
     "98.2% after epoch 2."),
    ({"loss": [1, .5], "accuracy": [.9, .99], "val_loss": [.1, .1], "val_accuracy": [.98, .989]}, None,
     "Line charts of loss and accuracy over 2 epochs: training accuracy 99.0% and validation accuracy 98.9% after "
     "epoch 2."),  # a Keras history, as the CLI has it
    ({"x": [5.0], "loss": [0.1]}, 5, "Line charts of loss and accuracy over 5 epochs."),
])
def test_the_training_curves_say_how_far_training_got_and_where_accuracy_ends(history, epochs, said):
    assert alt.training_alt(history, epochs) == said


def test_the_timeline_says_the_first_last_and_marked_epoch():
    assert alt.timeline_alt([0.978, 0.985, 0.991], 2, [0.95, 0.98, 0.996]) == (
        "Line chart of test accuracy after each of 3 epochs: 97.80% after epoch 1, 99.10% after epoch 3; epoch 2, "
        "marked, at 98.50%; training accuracy, dotted, ends at 99.60%.")
    assert alt.timeline_alt([0.978], 1) == "Test accuracy after 1 epoch: 97.80%."


def test_the_architecture_diagram_names_each_block_and_its_shape():
    rows = [{"layer": "conv_1", "output_shape": (26, 26, 32)}, {"layer": "dense_2", "output_shape": (10,)}]
    assert alt.architecture_alt(rows) == ("Diagram of the layers, left to right, each with the shape of its output: "
                                          "input 28x28x1, conv_1 26x26x32, dense_2 10.")


def test_feature_maps_say_the_strongest_channels_and_the_dark_ones():
    maps = np.zeros((4, 3, 2))
    maps[1, 0, 0], maps[3, 2, 1], maps[2] = 2.0, 1.0, -1.0
    assert alt.feature_maps_alt(maps, "conv_1") == ("Grid of the 4 feature maps of conv_1, 3x2 each; strongest: "
                                                    "channels 1 and 3; 2 stay dark (nothing above 0).")
    assert alt.feature_maps_alt(np.zeros((1, 3, 3)), "conv_9") == ("Grid of the 1 feature map of conv_9, 3x3; all dark "
                                                                   "(nothing above 0).")
    assert alt.one_map_alt(maps[1], "Channel 1 of conv_1") == ("Channel 1 of conv_1, 3x2: values from 0.00 to 2.00, "
                                                               "the highest at row 0, column 0.")


def test_kernels_patterns_and_units_say_their_numbers():
    kernels = np.array([[[-0.41, 0.1], [0.0, 0.2]], [[0.0, 0.38], [0.1, 0.0]]])
    assert alt.kernels_alt(kernels, "of conv_1") == ("Grid of 2 kernels of conv_1, 2x2 weights each, from -0.41 "
                                                     "(blue) to 0.38 (red).")
    patterns = np.zeros((32, 28, 28))
    assert alt.patterns_alt(patterns, "conv_1", np.array([4, 9])) == (
        "Grid of 32 pictures, one per filter of conv_1: for each, the 28x28 input that excites it most; 2 nearly "
        "blank (filters 4 and 9).")
    assert alt.patterns_alt(patterns, "conv_1", np.array([], int)).endswith("that excites it most.")
    assert alt.units_alt(np.array([0.0, 4.31, -1, 3.2, 2.9, 0.1]), "dense_1") == (
        "Bar chart of the 6 units of dense_1: 4 above 0; strongest: unit 1 at 4.31, unit 3 at 3.20 and unit 4 at 2.90.")


def test_the_preprocessing_steps_say_the_box_the_fit_and_the_input():
    canvas = np.zeros((320, 320), np.uint8)
    canvas[40:280, 150:190] = 255  # a 1: 240 pixels tall, 40 wide
    prep = canvas_to_mnist(canvas)
    assert alt.preprocessing_alt(prep, "your drawing") == (
        "Four steps, left to right: your drawing with its ink boxed (240x40 pixels), cropped to the ink, scaled to "
        f"{prep.fitted.shape[0]}x{prep.fitted.shape[1]} to fit a 20x20 box, then centred by mass in 28x28: "
        f"{ink_words(prep.image)}.")
    assert prep.fitted.shape[0] == 20


def test_counts_confusion_and_mistakes_per_digit():
    assert alt.class_counts_alt(np.array([1, 2] + [0] * 8), np.array([1, 1] + [0] * 8)) == (
        "Bar chart of the drawings sent for each digit meant, read right and read wrong. Read right per digit meant: "
        "0s: 1 of 1; 1s: 1 of 2.")
    confusion = np.diag([100] * 10)
    confusion[4, 9], confusion[7, 2], confusion[5, 3], confusion[1, 7] = 12, 9, 8, 1
    assert alt.confusion_alt(confusion) == (
        "Confusion matrix of 1,030 test digits: 1,000 read right (97.1%), on the diagonal; commonest mix-ups: 4s read "
        "as 9 (12), 7s read as 2 (9) and 5s read as 3 (8).")
    assert alt.confusion_alt(np.diag([1, 2] + [0] * 8), "drawing") == ("Confusion matrix of 3 drawings: 3 read right "
                                                                        "(100%), on the diagonal; no mix-ups.")
    assert alt.confusion_alt(np.zeros((10, 10)), "drawing") == "Confusion matrix, empty: no drawings yet."
    assert alt.error_bars_alt(confusion.sum(axis=1), np.diag(confusion)) == (
        "Bar chart of the test digits read wrong, for each true digit: 0s 0 of 100; 1s 1 of 101; 2s 0 of 100; 3s 0 "
        "of 100; 4s 12 of 112; 5s 8 of 108; 6s 0 of 100; 7s 9 of 109; 8s 0 of 100; 9s 0 of 100. Most on the 4s.")


def test_a_unit_its_field_and_its_filters_patches():
    values = np.arange(12, dtype=float).reshape(3, 4)
    assert alt.unit_map_alt(values, 1, 2, "conv_2") == (
        "Map of the 3x4 units of conv_2, each lit by its strongest filter: the outlined unit, row 1, column 2, at "
        "6.00; the brightest, row 2, column 3, at 11.00.")
    image = np.zeros((28, 28))
    image[5:10, 5:8] = 1.0  # 15 pixels of ink, 9 of them in rows 0-7 and columns 3-9
    assert alt.field_alt(image, (-1, 3, 8, 10), 0, 1) == ("The 28x28 input with the field of unit (0, 1) outlined: "
                                                          "rows 0-7, columns 3-9, with 9 pixels of ink in it.")
    activations = np.array([[1, 0], [0, 0], [2, 1]])
    assert alt.patches_alt(np.zeros((3, 9, 5, 5)), activations, 16, "conv_2") == (
        "Grid of the test-digit patches that excite filters 16-18 of conv_2 most: up to 9 patches of 5x5 pixels per "
        "filter, strongest first; filter 17 never fires.")


def test_the_shift_charts():
    grid = np.full((5, 5), 0.2)
    grid[1:4, 1:3] = 0.9
    grid[2, 2] = 0.999
    assert alt.shift_alt(grid, 7, "classic (convnet)") == (
        "classic (convnet): map of the probability of 7 with the digit moved up to 2 px each way: over 50% at 6 of 25 "
        "positions; 99.9% where it was, in the middle.")
    moved = np.zeros((4, 4))
    moved[1, 2] = 2.31
    then = moved.copy()
    then[0, 0] = 0.001
    inside = np.ones((4, 4), bool)
    assert alt.equivariance_alts(moved, then, inside, "conv_1's map 5", "1 px right") == (
        "conv_1's map 5 of the moved digit (1 px right): 4x4, strongest at row 1, column 2 (2.31).",
        "conv_1's map 5 of the digit, then moved (1 px right): 4x4, strongest at row 1, column 2 (2.31).",
        "The difference between the two maps, away from the grey borders: at most 0.0010.")
    inside[0, 0] = False  # the border is left out
    assert alt.equivariance_alts(moved, then, inside, "m", "1 px right")[2].endswith("at most 0.0000.")
    assert alt.unit_bars_alt(np.array([1.0, 3.1, 0]), np.array([0.2, 0.4, 1]), 0.43) == (
        "Bar chart of the dense network's 3 units, for the digit where it was and moved: the patterns match 43%; "
        "unit 1, the strongest where it was, goes from 3.10 to 0.40.")
    assert alt.shift_curves_alt(np.arange(9), np.linspace(0.991, 0.902, 9), np.linspace(0.98, 0.201, 9),
                                "classic (convnet)", "dense (dense)") == (
        "Line chart of test accuracy against how far every test digit is moved, 0 to 8 px: classic (convnet) from "
        "99.1% to 90.2% and dense (dense) from 98.0% to 20.1%.")


def test_an_explanation_map_says_where_it_is_most_red_and_most_blue_in_its_own_hover_words():
    values, words = np.full((28, 28), np.nan), np.full((28, 28), "", dtype=object)
    values[6, 6], words[6, 6] = 0.12, "without this ink: 7 12.0 points less likely"
    values[7, 7], words[7, 7] = -0.02, "without this ink: 7 2.0 points likelier"
    assert alt.overlay_alt(Overlay("Occlusion (6x6 square)", values, True, "%{text}", words)) == (
        "Occlusion (6x6 square), over the digit in grey: most red at row 6, column 6 (without this ink: 7 12.0 points "
        "less likely); most blue at row 7, column 7 (without this ink: 7 2.0 points likelier).")
    values[7, 7] = -0.001  # under 5% of the reddest: too faint a blue to name
    assert alt.overlay_alt(Overlay("Occlusion", values, True, "%{text}", words)) == (
        "Occlusion, over the digit in grey: most red at row 6, column 6 (without this ink: 7 12.0 points less likely).")
    cam = np.full((28, 28), np.nan)
    cam[5:10, 5:8] = 0.5
    cam[8, 6] = 0.9
    assert alt.overlay_alt(Overlay("Grad-CAM on conv_2", cam, False, "")) == (
        "Grad-CAM on conv_2, over the digit in grey: 15 pixels coloured, the strongest at row 8, column 6.")
    assert alt.overlay_alt(Overlay("Grad-CAM on conv_2", np.full((28, 28), np.nan), False, "")) == (
        "Grad-CAM on conv_2, over the digit: nothing to show, every value is 0.")


@pytest.mark.parametrize("lead, off, said", [
    (2.5, (2,), "filter 1 by 3.1, filter 3 by 1.9 and filter 0 by 1.0; the whole lead is 2.5, so filter 1 alone "
                "changes the answer."),
    (6.2, (), "filter 1 by 3.1, filter 2 by 2.4 and filter 3 by 1.9; the whole lead is 6.2, more than any one of "
              "them takes."),
    (-0.5, (), "filter 1 by 3.1, filter 2 by 2.4 and filter 3 by 1.9."),
])
def test_the_ranking_says_the_top_three_left_on_and_whether_one_alone_changes_the_answer(lead, off, said):
    drops = np.array([1.0, 3.1, 2.4, 1.9, -0.5])
    start = "Bar chart of how much the lead shrinks when one more filter is switched off, largest first: "
    assert alt.ranking_alt(drops, lead, "filter", off) == start + said
    assert alt.ranking_alt(drops[:2], 1.0, "unit", (0, 1)) == ("Bar chart of the units to switch off: every one is "
                                                               "switched off already.")


def test_data_efficiency_says_both_ends_as_accuracy_or_as_mistakes():
    args = [100, 1000, 60000], [0.801, 0.95, 0.992], [0.623, 0.9, 0.98]
    assert alt.efficiency_alt(*args, live=2) == (
        "Line chart of test accuracy against training digits (log scale): with 100 digits the convnet 80.1%, the "
        "dense network 62.3%; with 60,000 digits the convnet 99.2%, the dense network 98.0%; your 2 runs as stars.")
    assert alt.efficiency_alt(*args, metric="error") == (
        "Line chart of the share of test digits got wrong against training digits, both on log scales: with 100 "
        "digits the convnet 19.9%, the dense network 37.7%; with 60,000 digits the convnet 0.8%, the dense network "
        "2.0%.")


def test_the_convolution_charts():
    assert alt.window_alt(np.zeros((28, 28, 1)), (3, 4), (3, 3), "conv_1") == (
        "Input of conv_1, a 28x28 picture, with the 3x3 window outlined at rows 3 to 5, columns 4 to 6.")
    assert alt.window_alt(np.zeros((13, 13, 32)), (-1, 11), (3, 3), "conv_2") == (
        "Input of conv_2, 32 maps of 13x13, with the 3x3 window outlined at rows -1 to 1, columns 11 to 13 (partly "
        "in the zeros around it).")
    values = np.arange(12, dtype=float).reshape(3, 4)
    assert alt.output_map_alt(values, 0, 1, "Output map of filter 3") == (
        "Output map of filter 3, 3x4: the ringed cell, row 0, column 1, is 1.000; the highest, 11.000, is at row 2, "
        "column 3.")
    assert alt.output_map_alt(values, 2, 3, "Output map of filter 3") == (
        "Output map of filter 3, 3x4: the ringed cell, row 2, column 3, is 11.000, the highest.")
    assert alt.numbers_alt(np.array([[0, 0.5, 1], [0.25, -0.5, 1]])[..., None], "The patch") == (
        "The patch, 2x3 numbers, row by row: 0.00, 0.50, 1.00; 0.25, -0.50, 1.00.")
    deep = np.linspace(-1, 2, 3 * 3 * 32).reshape(3, 3, 32)
    assert alt.numbers_alt(deep, "The kernel of filter 3") == (
        "The kernel of filter 3: 32 slices of 3x3, one per input channel, numbers from -1.00 to 2.00.")
    assert alt.depth_vector_alt(np.array([0.0, 1.5, -0.2, 0.3]), 3, 4, 5) == (
        "Bar chart of all 4 filters' values at row 4, column 5: filter 3, in red, 0.300; the highest, filter 1, "
        "1.500; 2 above 0.")
    assert alt.depth_vector_alt(np.array([0.0, 1.5, -0.2, 0.3]), 1, 4, 5) == (
        "Bar chart of all 4 filters' values at row 4, column 5: filter 1, in red, 1.500, the highest; 2 above 0.")
    assert alt.sliding_alt(values, "conv_1", 3) == (
        "Animation: the window slides over the input of conv_1 row by row, filling the 3x4 output map of filter 3, "
        "values from 0.00 to 11.00.")
