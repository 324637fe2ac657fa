"""Classroom mode in the app: joining by link, sending and withdrawing, the teacher's page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from classroom_support import new_drawing
from streamlit.testing.v1 import AppTest

import classroom
from classroom.store import SEND_LIMIT
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


def with_drawing(at: AppTest, mnist) -> AppTest:
    """The session with a drawing on its canvas (MNIST test digit #0, a 7), as the Draw page keeps it."""
    at.session_state["kept_inputs"] = {"drawing": a_drawing(mnist)}
    return at.run()


def press_send(at: AppTest, digit: int = 1) -> AppTest:
    at.button_group(key="intended_digit").set_value(digit).run()
    return at.button(key="send_to_class").click().run()


def invitation(at: AppTest) -> str:
    """The join offer's text, at the top of the page (a phone folds the sidebar away)."""
    return next((m.value for m in at.main.markdown if "Join the class" in m.value), "")


def join(at: AppTest, nickname: str = "") -> AppTest:
    if nickname:
        at.text_input(key="class_nickname").input(nickname)
    return next(b for b in at.main.button if b.label == "Join").click().run()


def test_student_joins_sends_and_withdraws(code, class_db, mnist):
    at = student_app(code)
    assert invitation(at) and "&lt;b&gt;" not in invitation(at)
    assert not any("Join the class" in m.value for m in at.sidebar.markdown)
    join(at, "<i>Ada</i>")
    assert "In class" in at.sidebar.success[0].value
    assert "In class" in at.main.caption[0].value and not invitation(at)  # a small badge, out of the way
    assert at.sidebar.button(key="train").disabled
    press_send(with_drawing(at, mnist), 7)
    assert not at.exception
    store = classroom.connect(class_db)
    summary = classroom.class_summary(store, code)
    assert summary.n_drawings == 1 and summary.counts[7] == 1
    withdraw = next(b for b in at.button if b.key.startswith("withdraw_"))
    withdraw.click().run()
    assert classroom.class_summary(store, code).n_drawings == 0


def test_a_student_who_comes_back_by_their_link_finds_what_they_sent(code, class_db, mnist):
    at = join(student_app(code), "Ada")
    press_send(with_drawing(at, mnist), 7)
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
        assert invitation(at) and not at.query_params.get("me")


def change_page(at: AppTest, page: str) -> AppTest:
    """Choose another page in the navigation: like the browser, that drops ``?class=CODE`` from the URL."""
    at.query_params.clear()
    return at.switch_page(page).run()


def test_the_join_offer_survives_a_page_change_and_membership_outlives_the_next(code, class_db):
    at = change_page(student_app(code), "views/architecture.py")
    assert not at.exception
    assert f"({code})" in invitation(at)  # still offered, though the URL lost the code
    join(at)
    assert "In class" in at.sidebar.success[0].value
    at = change_page(at, "views/draw.py")
    assert "In class" in at.sidebar.success[0].value and at.sidebar.button(key="train").disabled
    assert classroom.class_summary(classroom.connect(class_db), code).n_joined == 1
    at.sidebar.button(key="leave_class").click().run()
    at = change_page(at, "views/architecture.py")
    assert not at.sidebar.success and not invitation(at)


def test_not_now_drops_the_offer_until_the_link_is_opened_again(code):
    at = student_app(code)
    at.button(key="decline_class").click().run()
    assert not at.query_params.get("class")
    at = change_page(at, "views/draw.py")
    assert not invitation(at)
    at.query_params["class"] = code
    at.run()
    assert invitation(at)


@pytest.mark.parametrize("wanted, said", [("ZZZZZZ", "No class has the code"), ("closed", "is closed")])
def test_bad_class_code_says_so_and_app_works(code, class_db, wanted, said):
    if wanted == "closed":
        classroom.close_class(classroom.connect(class_db), code)
        wanted = code
    at = student_app(wanted)
    assert said in at.main.warning[0].value
    assert "Prediction" in at.markdown[-1].value or at.info  # the draw page still works
    assert not at.sidebar.button(key="train").disabled


def test_a_session_trying_class_codes_is_told_to_wait_and_keeps_the_right_one_for_later(code):
    from classroom.store import LOOKUP_LIMIT

    at = student_app("ZZZZZ0")
    for i in range(1, LOOKUP_LIMIT):  # one link after another, in the same browser session
        at.query_params["class"] = f"ZZZZZ{i}"
        at.run()
    at.query_params["class"] = code  # the real code, once the session is over its limit
    at.run()
    assert not at.exception and not invitation(at)
    assert f"This browser tried {LOOKUP_LIMIT} class codes that do not exist" in at.main.warning[0].value
    assert at.session_state["class_wanted"] == code  # offered once the wait is over, without opening the link again


def test_store_unavailable_keeps_drawing(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_LAB_DB", f"sqlite:///{tmp_path / 'missing' / 'classroom.db'}")
    at = student_app("ABCDEF")
    assert "cannot be opened" in at.main.warning[0].value
    assert at.info[0].value.startswith("Draw a digit")


def teacher_app(url: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    if url:
        at.context["url"] = url
    at.run()
    return at.switch_page("views/teacher.py").run()


def teacher_logged_in(url: str | None = None) -> AppTest:
    at = teacher_app(url)
    at.text_input(key="teacher_password_input").input(PASSWORD)
    return at.button[0].click().run()


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
    assert not any("at least 20 drawings" in i.value for i in at.info)  # only the open tab runs
    at.session_state["teacher_tab"] = "Fine-tune"
    at.run()
    assert any("at least 20 drawings" in i.value for i in at.info)  # too few to fine-tune
    assert not any("No drawings yet" in i.value for i in at.info)


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
    for intended, predicted in ((1, 7), (1, 1), (0, 0)):
        classroom.send_drawing(store, student, new_drawing(), intended=intended, predicted=predicted, confidence=0.9)
    at = teacher_app()
    at.text_input(key="teacher_password_input").input(PASSWORD)
    at.button[0].click().run()
    drawings = next(m for m in at.metric if m.label == "Drawings")
    right = next(m for m in at.metric if m.label == "Read right")
    assert (drawings.value, right.value, right.delta) == ("3", "67%", "2 of 3")
    assert any(c.value == "Read right per digit meant: 0s: 1 of 1; 1s: 1 of 2." for c in at.caption)
    assert any("1 → 7" in b.label for b in at.button)  # the wrong one leads the hardest drawings


def model_tools(at: AppTest) -> tuple[bool, str]:
    """Whether the sidebar offers upload/rename/delete, and what it says instead."""
    offered = any(e.label == "Upload, rename or delete" for e in at.sidebar.expander)
    said = " ".join(c.value for c in at.sidebar.caption if "only the teacher" in c.value)
    return offered, said


def test_while_a_class_runs_only_the_teacher_uploads_renames_or_deletes_models_or_trains(code, class_db):
    at = student_app(code)
    assert model_tools(at)[0] and not at.sidebar.button(key="train").disabled  # nobody joined: no lesson yet
    join(at, "Mallory")
    for step in ("joined", "left", "came without the link"):
        if step == "left":
            at.sidebar.button(key="leave_class").click().run()
        if step == "came without the link":
            at = AppTest.from_file("../app.py", default_timeout=120)
            at.run()
        offered, said = model_tools(at)
        assert not offered and at.sidebar.button(key="train").disabled, step
        assert "is running on this server, so only the teacher can upload, rename or delete" in said, step
    teacher = teacher_logged_in().switch_page("views/draw.py").run()
    assert model_tools(teacher)[0] and not teacher.sidebar.button(key="train").disabled  # the teacher can


def test_with_no_class_running_anyone_manages_models(class_db):
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    assert model_tools(at) == (True, "")


def test_the_send_limit_holds_after_leaving_and_joining_again(code, class_db, mnist):
    at = join(student_app(code), "Ada")
    store = classroom.connect(class_db)
    me = at.session_state["class_student"]["student"]
    at.session_state["class_client_key"] = "session:this-browser"  # the session's name for its counts
    for _ in range(SEND_LIMIT):  # this browser's drawings of the last minute
        classroom.send_drawing(store, me, new_drawing(), intended=1, predicted=1, confidence=0.9,
                               client="ip:127.0.0.1", session_key="session:this-browser")
    at.sidebar.button(key="leave_class").click().run()
    at.query_params["class"] = code
    join(at.run(), "Ada again")
    press_send(with_drawing(at, mnist), 7)
    assert not at.exception
    assert any(f"This browser sent {SEND_LIMIT} drawings in the last minute" in w.value for w in at.warning)
    assert classroom.class_summary(store, code).n_drawings == SEND_LIMIT


def noisy_upload(size: int = 1024) -> dict:
    """An uploaded picture whose transparency is noise, as the Draw page keeps it: its ink (the alpha) as a
    PNG is 1.05 MB, more than the store keeps; sending it used to raise ValueError."""
    from PIL import Image

    picture = np.random.default_rng(0).integers(0, 256, (size, size, 4), dtype=np.uint8)
    return {"file_id": "noise", "name": "noise.png", "notes": (),
            "preview": Image.fromarray(picture).resize((320, 320)), "input": CurrentInput("upload",
                                                                                       canvas_to_mnist(picture))}


def test_an_upload_too_large_for_the_store_is_sent_shrunk(code, class_db):
    from classroom.store import MAX_PNG_BYTES, MAX_PNG_SIDE
    from mnist_model.engine.preprocess import png_size

    at = join(student_app(code), "Ada")
    at.session_state["kept_inputs"] = {**at.session_state["kept_inputs"], "upload": noisy_upload()}
    at = press_send(at.button_group(key="input_source").set_value("Upload").run())
    assert not at.exception and not [w for w in at.warning if "Not sent" in w.value]
    sent = classroom.class_drawings(classroom.connect(class_db), code)
    png = classroom.drawing(classroom.connect(class_db), sent[0].id, with_png=True).canvas_png
    assert len(sent) == 1 and len(png) <= MAX_PNG_BYTES and max(png_size(png)) <= MAX_PNG_SIDE


def test_a_model_that_answers_nan_gets_a_sentence_and_the_drawing_stays(code, class_db, mnist, monkeypatch):
    import ui.classroom

    class Broken:  # a model whose weights overflow: every output is NaN
        def probabilities(self, image):
            return np.full(10, np.nan)

    at = join(student_app(code), "Ada")
    with_drawing(at, mnist)
    monkeypatch.setattr(ui.classroom, "predictor", lambda: Broken())
    at = press_send(at)
    assert not at.exception
    said = next(w.value for w in at.warning if w.value.startswith("Not sent"))
    assert "no usable probabilities" in said and said.endswith("Your drawing is still on the canvas.")
    assert classroom.class_drawings(classroom.connect(class_db), code) == []
    assert not at.button(key="send_to_class").disabled  # still there to send once a good model is picked


def test_a_teacher_on_localhost_gets_a_join_link_phones_can_open(class_db, monkeypatch):
    import streamlit.net_util

    monkeypatch.setattr(streamlit.net_util, "get_internal_ip", lambda: "192.168.1.23")
    at = teacher_logged_in("http://localhost:8501/teacher")
    at.text_input[0].input("9B")
    next(b for b in at.button if b.label == "Create class").click().run()
    code = classroom.list_classes(classroom.connect(class_db))[0].code
    assert at.code[0].value == f"http://192.168.1.23:8501/?class={code}"
    said = " ".join(c.value for c in at.caption)
    assert "this computer's network address, 192.168.1.23:8501" in said and "same network" in said


def test_a_configured_public_address_is_what_the_code_carries(class_db, monkeypatch):
    monkeypatch.setenv("CONVNET_LAB_PUBLIC_URL", "https://lab.school.example")
    at = teacher_logged_in("http://localhost:8501/teacher")
    at.text_input[0].input("9B")
    next(b for b in at.button if b.label == "Create class").click().run()
    assert at.code[0].value.startswith("https://lab.school.example/?class=")
    assert any("the address set in CONVNET_LAB_PUBLIC_URL" in c.value for c in at.caption)


def test_the_projector_view_shows_the_code_and_the_class_large(class_db, code):
    store = classroom.connect(class_db)
    student = classroom.join(store, code, "Ada")
    for digit in (1, 1, 7):
        classroom.send_drawing(store, student, new_drawing(), intended=digit, predicted=1,
                               confidence=0.9)
    at = teacher_logged_in()
    at.toggle(key="teacher_projector").set_value(True).run()
    assert not at.exception and not at.code  # no small print: the code, the QR, the numbers
    assert any(code in m.value for m in at.markdown)
    assert next(m for m in at.metric if m.label == "Read right").value == "67%"
    assert any(b.label.startswith("7 → 1") for b in at.button)  # the latest drawings
    at.toggle(key="teacher_projector").set_value(False).run()
    assert at.code and at.selectbox(key="teacher_class").value == code  # back, on the same class


def test_students_never_see_tracebacks():
    import tomllib
    from streamlit import config

    settings = tomllib.loads((Path(__file__).parent.parent / ".streamlit" / "config.toml").read_text())
    shown = settings["client"]["showErrorDetails"]
    assert shown == config.ShowErrorDetailsConfigOptions.NONE  # "false" would still show the stack trace


def forged_canvas_message(width: int, height: int) -> str:
    """What a hostile client can send as the canvas's picture: a valid PNG of any size in a few hundred kB."""
    import base64
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row = zlib.compressobj(9), bytes(1 + 4 * width)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_forged_canvas_message_is_refused_unread_with_a_sentence(class_db):
    import resource

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    forged = forged_canvas_message(9000, 9000)  # 420 kB that used to cost the server +2.8 GB
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": [{"type": "path"}] * 10_000}, "data": forged},
                                  "backgroundFit": None}
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    at.run()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert not at.exception
    assert any("9000x9000 pixels, larger than the canvas can be" in w.value for w in at.warning)
    assert at.info[0].value.startswith("Draw a digit")  # the page carries on, with nothing read
    assert grown_mib < 200, f"the process' peak memory grew by {grown_mib:.0f} MiB"


def test_a_teacher_on_localhost_without_a_network_address_is_told_phones_cannot_join(class_db, monkeypatch):
    import streamlit.net_util

    monkeypatch.setattr(streamlit.net_util, "get_internal_ip", lambda: None)
    at = teacher_logged_in("http://localhost:8501/teacher")
    at.text_input[0].input("9B")
    next(b for b in at.button if b.label == "Create class").click().run()
    said = next(w.value for w in at.warning if "phones cannot join" in w.value)
    assert "CONVNET_LAB_PUBLIC_URL" in said


def test_a_new_session_knows_the_drawing_arrived_and_cannot_send_it_again(code, class_db, mnist):
    at = join(student_app(code), "Ada")
    press_send(with_drawing(at, mnist), 7)
    assert not at.exception
    store = classroom.connect(class_db)
    assert classroom.class_summary(store, code).n_drawings == 1
    # the server died after storing it: the browser reconnects to another server, a new session, same drawing
    again = AppTest.from_file("../app.py", default_timeout=120)
    again.query_params.update({"class": code, "me": at.query_params["me"]})
    with_drawing(again, mnist)
    again.button_group(key="intended_digit").set_value(7).run()
    assert again.button(key="send_to_class").disabled
    assert any("your class has this drawing" in c.value for c in again.caption)
    assert not again.exception and classroom.class_summary(store, code).n_drawings == 1


def test_a_drawing_whose_send_never_arrived_comes_back_in_the_next_session(code, class_db, mnist):
    at = join(student_app(code), "Ada")
    with_drawing(at, mnist)
    at.button_group(key="intended_digit").set_value(7).run()  # chosen; Send pressed as the server died
    store = classroom.connect(class_db)
    assert classroom.class_summary(store, code).n_drawings == 0
    again = AppTest.from_file("../app.py", default_timeout=120)  # the browser, on another server
    again.query_params.update({"class": code, "me": at.query_params["me"]})
    again.run()
    assert any("never reached your class" in w.value for w in again.warning)
    assert again.button_group(key="intended_digit").value == 7
    again.button(key="send_to_class").click().run()
    assert not again.exception and classroom.class_summary(store, code).n_drawings == 1
    third = AppTest.from_file("../app.py", default_timeout=120)
    third.query_params.update({"class": code, "me": at.query_params["me"]})
    third.run()
    assert not any("never reached" in w.value for w in third.warning)  # sent: nothing to bring back
