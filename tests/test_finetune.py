"""Fine-tuning on a class's digits: the split by student, the copy, the numbers before and after."""

import threading

import numpy as np
import pytest
from model_zoo import logits

from classroom.finetune import FinetuneConfig, FinetuneResult, epoch_indices, finetune, split_by_student, too_few
from classroom.paired import PairedAccuracy
from mnist_model.engine.inference import evaluate
from mnist_model.engine.training import TrainingCancelled

QUICK = FinetuneConfig(epochs=2, mnist_per_epoch=192, batch_size=32, learning_rate=1e-3)


@pytest.fixture(scope="module")
def class_digits(mnist):
    """40 "class" drawings from five students: MNIST test digits outside tiny_data, as the store keeps them."""
    (_, _), (x_test, y_test) = mnist
    x = np.rint(x_test[1000:1040, :, :, 0] * 255).astype(np.uint8)
    return x, y_test[1000:1040].argmax(1), [f"student-{i % 5}" for i in range(40)]


@pytest.mark.parametrize("students", [
    [f"s{i % 5}" for i in range(40)],
    ["ann"] * 30 + ["bob"] * 2 + ["cy"] * 5 + ["dee"],
    [f"writer{i}" for i in range(100)],
    ["a", "b"],
])
def test_the_split_holds_out_whole_students_about_half_of_them(students):
    train, held = split_by_student(students, seed=3)
    assert sorted([*train, *held]) == list(range(len(students)))
    train_names, held_names = {students[i] for i in train}, {students[i] for i in held}
    assert not train_names & held_names  # nobody's drawings on both sides
    assert len(held_names) == round(len(set(students)) / 2)
    again = split_by_student(students, seed=3)
    assert np.array_equal(again[1], held)  # reproducible


def test_different_seeds_hold_out_different_students():
    students = [f"s{i}" for i in range(20)]
    assert not np.array_equal(split_by_student(students, 0)[1], split_by_student(students, 1)[1])


def test_one_student_cannot_be_split():
    with pytest.raises(ValueError, match="at least 2 students"):
        split_by_student(["ann"] * 30)


@pytest.mark.parametrize(("n_drawings", "n_students", "says"), [
    (0, 0, "0 drawings from 0 students"),
    (1, 1, "1 drawing from 1 student."),
    (19, 10, "19 drawings"),
    (200, 3, "at least 4 students"),
    (20, 4, None),
    (500, 30, None),
])
def test_too_few_says_when_a_fine_tune_would_mean_nothing(n_drawings, n_students, says):
    reason = too_few(n_drawings, n_students)
    assert reason is None if says is None else says in reason


def test_each_epoch_mixes_fresh_mnist_with_a_fixed_share_of_every_class_drawing():
    config = FinetuneConfig(mnist_per_epoch=300, class_share=0.25)
    mnist, repeats = epoch_indices(1000, 7, config, epoch=0)
    assert len(mnist) == len(set(mnist)) == 300 and len(repeats) == 100
    counts = np.bincount(repeats, minlength=7)
    assert counts.max() - counts.min() <= 1  # every drawing equally often
    assert not np.array_equal(epoch_indices(1000, 7, config, epoch=1)[0], mnist)


def test_finetune_measures_before_and_after_and_leaves_the_given_model_alone(tiny_model, tiny_data, class_digits):
    x, y, students = class_digits
    weights = [w.copy() for w in tiny_model.get_weights()]
    seen = []
    result = finetune(tiny_model, x, y, students, tiny_data, QUICK, progress=lambda done, text: seen.append(done))
    assert all(np.array_equal(a, b) for a, b in zip(tiny_model.get_weights(), weights))
    assert result.model is not tiny_model
    assert [layer.name for layer in result.model.layers] == [layer.name for layer in tiny_model.layers]
    assert any(not np.array_equal(a, b) for a, b in zip(result.model.get_weights(), weights))  # it trained

    _, held = split_by_student(students, QUICK.seed)
    (_, _), (x_test, y_test) = tiny_data
    class_before = evaluate(tiny_model, x[held, :, :, None] / np.float32(255), np.eye(10)[y[held]])
    assert result.class_accuracy_before == pytest.approx(class_before["test_accuracy"])
    assert result.mnist_accuracy_before == pytest.approx(evaluate(tiny_model, x_test, y_test)["test_accuracy"])
    assert result.mnist_accuracy_after == pytest.approx(evaluate(result.model, x_test, y_test)["test_accuracy"])
    assert 0 <= result.class_accuracy_after <= 1
    assert (result.n_train_drawings, result.n_held_out_drawings) == (24, 16)  # 3 students train, 2 measure
    assert not set(result.train_students) & set(result.held_out_students)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert len(result.snapshots) == QUICK.epochs  # the weights after each epoch, for the timeline
    assert all(np.array_equal(a, b) for a, b in zip(result.snapshots[-1], result.model.get_weights(), strict=True))
    card = result.card()
    assert "model" not in card and "snapshots" not in card and card["config"]["learning_rate"] == QUICK.learning_rate
    assert card["held_out_students"] == result.held_out_students
    assert result.held_out.n_clusters == 2  # the intervals count each held-out student as one unit
    said = result.summary()
    assert "It trained on 24 drawings by 3 students (with MNIST) and was checked on 16 drawings by 2 other " \
           "students" in said and "each of the 2 students as one unit" in said


@pytest.mark.parametrize("after, says", [
    (PairedAccuracy(both=114, lost=0, gained=0, neither=0, clusters=[(60, 0, 0, 0), (54, 0, 0, 0)]),
     "read all 114 right before and still does, so these drawings cannot show whether the fine-tune helped"),
    (PairedAccuracy(both=113, lost=1, gained=0, neither=0, clusters=[(60, 0, 0, 0), (53, 1, 0, 0)]),
     "read all 114 right before, so these drawings could show a loss but never a gain"),
    (PairedAccuracy(both=100, lost=1, gained=10, neither=3, clusters=[(50, 1, 5, 3), (50, 0, 5, 0)]),
     "of which the model already read 101 right before fine-tuning"),
])
def test_the_summary_says_plainly_when_nothing_could_change(after, says):
    result = FinetuneResult(model=None, config=QUICK, held_out=after, mnist=after, train_students=["a", "b", "c"],
                            held_out_students=["d", "e"], n_train_drawings=120, n_held_out_drawings=114, seconds=1.0)
    assert says in result.summary()
    assert "checked on 114 drawings by 2 other students" in result.summary()


def test_a_model_that_outputs_logits_is_fine_tuned_too(tiny_data, class_digits):
    result = finetune(logits(), *class_digits, tiny_data, FinetuneConfig(epochs=1, mnist_per_epoch=64))
    assert 0 <= result.class_accuracy_after <= 1 and np.isfinite(result.model.get_weights()[0]).all()


def test_a_cancelled_fine_tune_raises_and_keeps_nothing(tiny_model, tiny_data, class_digits):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled, match="stopped"):
        finetune(tiny_model, *class_digits, tiny_data, QUICK, cancel=cancel)


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda x, y, s: (x[:19], y[:19], s[:19]), "19 drawings"),
    (lambda x, y, s: (x, y, ["ann", "bob", "cy"] * 13 + ["ann"]), "at least 4 students"),
    (lambda x, y, s: (x.astype(np.float32), y, s), r"\(N, 28, 28\) uint8"),
    (lambda x, y, s: (x, y[:39], s), "differ in length"),
    (lambda x, y, s: (x, np.full_like(y, 11), s), "digits from 0 to 9"),
], ids=["19 drawings", "3 students", "float images", "39 labels", "label 11"])
def test_finetune_refuses_data_that_cannot_work(tiny_model, tiny_data, class_digits, spoil, message):
    with pytest.raises(ValueError, match=message):
        finetune(tiny_model, *spoil(*class_digits), tiny_data, QUICK)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"class_share": 1.0}, {"held_out_share": 0}, {"learning_rate": 0}])
def test_a_config_that_cannot_train_is_refused(bad):
    with pytest.raises(ValueError, match="must be"):
        FinetuneConfig(**bad)
