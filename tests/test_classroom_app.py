"""Classroom mode in the app: joining by link, sending and withdrawing, the teacher's page."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import classroom
from mnist_model.engine.preprocess import canvas_to_mnist
from ui.current import CurrentInput

PASSWORD = "correct horse"


@pytest.fixture
def class_db(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'classroom.db'}"
    monkeypatch.setenv("CONVNET_LAB_DB", url)
    monkeypatch.setenv("CONVNET_LAB_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(tmp_path / "models"))
    return url


@pytest.fixture
def code(class_db) -> str:
    return classroom.create_class(classroom.connect(class_db), "<b>9B</b>")


def student_app(code: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["class"] = code
    at.run()
    assert not at.exception
    return at


def a_drawing(mnist) -> CurrentInput:
    (_, _), (x_test, _) = mnist
    return CurrentInput("drawing", canvas_to_mnist((x_test[0, ..., 0] * 255).astype(np.uint8)))


def test_student_joins_sends_and_withdraws(code, class_db, mnist):
    at = student_app(code)
    assert "Join the class" in at.sidebar.markdown[0].value and "&lt;b&gt;" not in at.sidebar.markdown[0].value
    at.sidebar.text_input(key="class_nickname").input("<i>Ada</i>")
    at.sidebar.button[0].click().run()
    assert "In class" in at.sidebar.success[0].value
    assert at.sidebar.button(key="train").disabled
    at.session_state["kept_inputs"] = {"drawing": a_drawing(mnist)}
    at.run()
    at.button_group(key="intended_digit").set_value(7).run()
    at.button(key="send_to_class").click().run()
    assert not at.exception
    store = classroom.connect(class_db)
    summary = classroom.class_summary(store, code)
    assert summary.n_drawings == 1 and summary.counts[7] == 1
    withdraw = next(b for b in at.button if b.key.startswith("withdraw_"))
    withdraw.click().run()
    assert classroom.class_summary(store, code).n_drawings == 0


def test_a_student_who_comes_back_by_their_link_finds_what_they_sent(code, class_db, mnist):
    at = student_app(code)
    at.sidebar.text_input(key="class_nickname").input("Ada")
    at.sidebar.button[0].click().run()
    at.session_state["kept_inputs"] = {"drawing": a_drawing(mnist)}
    at.run()
    at.button_group(key="intended_digit").set_value(7).run()
    at.button(key="send_to_class").click().run()
    me = at.query_params.get("me")
    assert me and at.query_params.get("class") == code  # the link now says who they are
    again = AppTest.from_file("../app.py", default_timeout=120)  # a reload, or a restarted server: a new session
    again.query_params.update({"class": code, "me": me})
    again.run()
    assert not again.exception and "Ada" in again.sidebar.success[0].value  # in class, with their nickname
    assert any(b.key.startswith("withdraw_") for b in again.button)  # their drawing, theirs to withdraw
    assert classroom.class_summary(classroom.connect(class_db), code).n_joined == 1  # not a second student


def test_an_id_from_another_class_or_made_up_only_gets_the_join_offer(code, class_db):
    other = classroom.create_class(classroom.connect(class_db), "8A")
    stranger = classroom.join(classroom.connect(class_db), other)
    for me in (stranger, "made-up"):
        at = AppTest.from_file("../app.py", default_timeout=120)
        at.query_params.update({"class": code, "me": me})
        at.run()
        assert not at.exception and not at.sidebar.success
        assert "Join the class" in at.sidebar.markdown[0].value and not at.query_params.get("me")


def change_page(at: AppTest, page: str) -> AppTest:
    """Choose another page in the navigation: like the browser, that drops ``?class=CODE`` from the URL."""
    at.query_params.clear()
    return at.switch_page(page).run()


def test_the_join_offer_survives_a_page_change_and_membership_outlives_the_next(code, class_db):
    at = change_page(student_app(code), "views/architecture.py")
    assert not at.exception
    assert f"({code})" in at.sidebar.markdown[0].value  # still offered, though the URL lost the code
    at.sidebar.button[0].click().run()
    assert "In class" in at.sidebar.success[0].value
    at = change_page(at, "views/draw.py")
    assert "In class" in at.sidebar.success[0].value and at.sidebar.button(key="train").disabled
    assert classroom.class_summary(classroom.connect(class_db), code).n_joined == 1
    at.sidebar.button(key="leave_class").click().run()
    at = change_page(at, "views/architecture.py")
    assert not at.sidebar.success and not any("Join the class" in m.value for m in at.sidebar.markdown)


def test_not_now_drops_the_offer_until_the_link_is_opened_again(code):
    at = student_app(code)
    at.sidebar.button(key="decline_class").click().run()
    assert not at.query_params.get("class")
    at = change_page(at, "views/draw.py")
    assert not any("Join the class" in m.value for m in at.sidebar.markdown)
    at.query_params["class"] = code
    at.run()
    assert "Join the class" in at.sidebar.markdown[0].value


@pytest.mark.parametrize("wanted, said", [("ZZZZZZ", "No class has the code"), ("closed", "is closed")])
def test_bad_class_code_says_so_and_app_works(code, class_db, wanted, said):
    if wanted == "closed":
        classroom.close_class(classroom.connect(class_db), code)
        wanted = code
    at = student_app(wanted)
    assert said in at.sidebar.warning[0].value
    assert "Prediction" in at.markdown[-1].value or at.info  # the draw page still works
    assert not at.sidebar.button(key="train").disabled


def test_store_unavailable_keeps_drawing(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_LAB_DB", f"sqlite:///{tmp_path / 'missing' / 'classroom.db'}")
    at = student_app("ABCDEF")
    assert "cannot be opened" in at.sidebar.warning[0].value
    assert at.info[0].value.startswith("Draw a digit")


def teacher_app() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    return at.switch_page("views/teacher.py").run()


def test_teacher_logs_in_creates_class_and_sees_dashboard(class_db):
    at = teacher_app()
    at.text_input(key="teacher_password_input").input("wrong")
    at.button[0].click().run()
    assert "not the teacher password" in at.error[0].value
    at.text_input(key="teacher_password_input").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    at.text_input[0].input("9B")
    next(b for b in at.button if b.label == "Create class").click().run()
    code = classroom.list_classes(classroom.connect(class_db))[0].code
    assert code in at.markdown[0].value or any(code in m.value for m in at.markdown)
    assert any("No drawings yet" in i.value for i in at.info)
    assert any("at least 20 drawings" in i.value for i in at.info)  # too few to fine-tune


def test_teacher_page_without_password_says_how(class_db, monkeypatch):
    monkeypatch.delenv("CONVNET_LAB_TEACHER_PASSWORD")
    at = teacher_app()
    assert "CONVNET_LAB_TEACHER_PASSWORD" in at.info[0].value


def test_finetune_worker_saves_a_model_with_its_class_card(class_db, code, mnist, tiny_model, tmp_path):
    import threading

    from classroom.finetune_worker import run_job
    from mnist_model.engine.storage import read_card, save_model
    from mnist_model.engine.timeline import load_timeline

    store = classroom.connect(class_db)
    (_, _), (x_test, y_test) = mnist
    students = [classroom.join(store, code, f"s{i}") for i in range(4)]
    for i in range(24):
        image = classroom.image_to_uint8(x_test[i, ..., 0])
        digit = int(y_test[i].argmax())
        classroom.send_drawing(store, students[i % 4], image, intended=digit, predicted=digit, confidence=0.9)
    model_path = save_model(tiny_model, tmp_path / "tiny.keras")
    events = []
    outcome = run_job({"db": class_db, "code": code, "model_path": str(model_path),
                       "models_dir": str(tmp_path / "models"), "config": {"epochs": 1, "mnist_per_epoch": 256}},
                      events.append, threading.Event())
    assert outcome["event"] == "done", outcome
    card = read_card(outcome["model_path"])
    assert card["class_code"] == code and card["class_drawings"] == 24 and card["class_students"] == 4
    assert 0 <= outcome["class_accuracy_after"] <= 1 and events[-1]["event"] == "progress"
    assert classroom.job_lease(store) is None  # released for the next job
    timeline = load_timeline(outcome["model_path"])  # the How it learned page works on it too
    assert timeline.epochs == 1 and timeline.test_accuracy[-1] == pytest.approx(outcome["mnist_accuracy_after"],
                                                                               abs=0.002)


def test_second_finetune_is_refused_while_the_lease_is_held(class_db, code):
    from classroom.finetune_worker import run_job

    assert classroom.acquire_job_lease(classroom.connect(class_db), "another server", 60)
    outcome = run_job({"db": class_db, "code": code}, lambda event: None, None)
    assert outcome["event"] == "failed" and "Another training job" in outcome["message"]


def test_dashboard_counts_what_the_class_sent(class_db, code):
    store = classroom.connect(class_db)
    student = classroom.join(store, code, "Ada")
    image = np.zeros((28, 28), np.uint8)
    for intended, predicted in ((1, 7), (1, 1), (0, 0)):
        classroom.send_drawing(store, student, image, intended=intended, predicted=predicted, confidence=0.9)
    at = teacher_app()
    at.text_input(key="teacher_password_input").input(PASSWORD)
    at.button[0].click().run()
    drawings = next(m for m in at.metric if m.label == "Drawings")
    right = next(m for m in at.metric if m.label == "Read right")
    assert (drawings.value, right.value) == ("3", "67%")
    assert any("1 → 7" in b.label for b in at.button)  # the wrong one leads the hardest drawings
