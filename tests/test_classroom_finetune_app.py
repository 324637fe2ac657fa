"""The Teacher page's fine-tune, end to end: the button, the worker process, before and after, the new model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_classroom_app import PASSWORD, teacher_app

import classroom
from classroom.finetune import MIN_DRAWINGS, MIN_STUDENTS
from mnist_model.engine.data import load_mnist
from mnist_model.engine.storage import read_card
from ui import class_job

MNIST_SHOWN = 256  # MNIST images per epoch: the worker trains one small epoch ($CONVNET_LAB_TRAIN_LIMIT)


def tiny_mnist(path):
    """1,000 training and 200 test digits in Keras' layout, for $MNIST_NPZ: the worker measures on the
    test digits twice and fits the new model's familiarity check, which on all of MNIST takes longer than
    the fine-tune itself."""
    (x_train, y_train), (x_test, y_test) = load_mnist()
    np.savez(path, x_train=x_train[:1000], y_train=y_train[:1000], x_test=x_test[:200], y_test=y_test[:200])
    return path


@pytest.fixture
def finetune_job():
    """This server's fine-tune, fresh for the test: the job is cached per process, like on a real server."""
    class_job.finetune_job.clear()
    yield class_job.finetune_job()
    class_job.finetune_job.clear()


@pytest.fixture
def lesson(tmp_path, monkeypatch, mnist) -> tuple[str, str]:
    """A class store holding just enough for a fine-tune (MIN_DRAWINGS + 4 real digits from MIN_STUDENTS
    students), and a server set to train one small epoch; returns (store URL, class code)."""
    db = f"sqlite:///{tmp_path / 'classroom.db'}"
    monkeypatch.setenv("CONVNET_LAB_DB", db)
    monkeypatch.setenv("CONVNET_LAB_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CONVNET_LAB_TRAIN_LIMIT", str(MNIST_SHOWN))
    monkeypatch.setenv("MNIST_NPZ", str(tiny_mnist(tmp_path / "mnist.npz")))
    (_, _), (x_test, y_test) = mnist
    store = classroom.connect(db)
    code = classroom.create_class(store, "9B")
    students = [classroom.join(store, code, f"s{i}") for i in range(MIN_STUDENTS)]
    for i in range(MIN_DRAWINGS + 4):
        digit = int(y_test[i].argmax())
        classroom.send_drawing(store, students[i % MIN_STUDENTS], classroom.image_to_uint8(x_test[i, ..., 0]),
                               intended=digit, predicted=digit, confidence=0.9)
    store.close()
    return db, code


def wait_for(job: class_job.FinetuneJob, timeout: float = 300) -> class_job.FinetuneState:
    deadline = time.monotonic() + timeout
    while job.state().active:
        assert time.monotonic() < deadline, f"the fine-tune did not end within {timeout} s: {job.state()}"
        time.sleep(0.5)
    return job.state()


def test_teacher_fine_tunes_and_finds_the_new_model_in_the_picker(lesson, finetune_job):
    db, code = lesson
    at = teacher_app()
    at.text_input(key="teacher_password_input").input(PASSWORD)
    at.button[0].click().run()
    at.session_state["teacher_tab"] = "Fine-tune"
    at.run()
    assert not at.button(key="finetune").disabled
    at.button(key="finetune").click().run()
    assert not at.exception and not at.button(key="stop_finetune").disabled  # running

    state = wait_for(finetune_job)
    assert state.status == "done", state.message
    at.run()
    assert not at.exception
    saved = next(s.value for s in at.success if s.value.startswith("Saved as"))
    assert f"class-{code}-" in saved and "model picker" in saved
    assert "right before fine-tuning" in saved and "each of the 2 students as one unit" in saved  # how it counts
    held, mnist_after = (next(m for m in at.metric if m.label == label)
                         for label in ("Held-out class drawings", "MNIST test set"))
    outcome = state.outcome
    assert held.value == f"{outcome['class_accuracy_after']:.1%}"
    assert f"was {outcome['class_accuracy_before']:.1%}" in held.delta and " points" in held.delta
    assert "%" not in held.delta.split("(")[0]  # a change of accuracy is in points
    assert mnist_after.value == f"{outcome['mnist_accuracy_after']:.2%}"
    assert f"was {outcome['mnist_accuracy_before']:.2%}" in mnist_after.delta
    said = " ".join(c.value for c in at.caption)
    n_held = outcome["held_out"]["both"] + outcome["held_out"]["lost"] + outcome["held_out"]["gained"] + \
        outcome["held_out"]["neither"]
    assert f"{n_held} drawings by {outcome['held_out_writers']} students" in said and "95% intervals" in said
    assert "Within noise" in said  # a dozen drawings cannot tell a tiny fine-tune's change from chance
    card = read_card(state.outcome["model_path"])
    assert (card["class_code"], card["class_drawings"], card["class_students"]) == (code, MIN_DRAWINGS + 4,
                                                                                     MIN_STUDENTS)

    picker = at.sidebar.selectbox(key="model_path")
    assert sum(f"class-{code}-" in label for label in picker.options) == 1
    picker.set_value(state.outcome["model_path"]).run()
    assert not at.exception
    assert any(f"class {code} fine-tune" in caption.value for caption in at.sidebar.caption)
    assert classroom.job_lease(classroom.connect(db)) is None  # the store is free for the next job
