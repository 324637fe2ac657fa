"""Nothing a class sent is lost when its server dies: SIGKILL mid-lesson, then a new server on the same store."""

from __future__ import annotations

import signal

import numpy as np
from browser_support import app_server, browser_marks
from test_classroom_browser import (
    ONE,
    PASSWORD,
    dashboard_count,
    student_sends,
    teacher_creates_class,
    teacher_logs_in,
    wait_until_idle,
)

import classroom

pytestmark = browser_marks()
SENT_BY_API = {"Bea": [0, 2, 2, 7], "Cy": [7, 7, 9], "Dee": [3, 3, 3, 8, 0]}  # digits meant, per student


def send_through_the_store(db: str, code: str) -> None:
    """More students' drawings, written by another process than the server, as a second server would."""
    store = classroom.connect(db)
    for nickname, digits in SENT_BY_API.items():
        student = classroom.join(store, code, nickname)
        for n, digit in enumerate(digits):
            image = np.zeros((28, 28), np.uint8)
            image[4:24, 10 + digit] = 255
            image[27, n] = 1  # the same digit again is another drawing: the store keeps each drawing once
            classroom.send_drawing(store, student, image, intended=digit, predicted=digit, confidence=0.9)
    store.close()


def kept(db: str, code: str) -> list[tuple]:
    """Every drawing of the class as the store holds it: id, student, digit meant, digit read, pixels."""
    store = classroom.connect(db)
    try:
        return [(d.id, d.student, d.intended, d.predicted, d.image.tobytes())
                for d in classroom.class_drawings(store, code)]
    finally:
        store.close()


def dashboard_digit_counts(page) -> list[int]:
    """The heights of the dashboard's 'Drawings per digit' bars (read right plus read wrong), digits 0-9."""
    chart = page.locator(".st-key-class_counts .js-plotly-plot")
    chart.wait_for(timeout=20_000)
    bars = chart.evaluate("plot => plot._fullData.filter(trace => trace.type === 'bar')"
                          ".map(trace => Array.from(trace.y))")  # the labels above them are a text trace
    return [int(v) for v in np.sum(bars, axis=0)]


def test_every_drawing_survives_a_killed_server(tmp_path, browser):
    db = f"sqlite:///{tmp_path / 'classroom.db'}"
    env = {"CONVNET_LAB_DB": db, "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_MODELS": str(tmp_path / "models")}
    expected = np.bincount([1] + [d for digits in SENT_BY_API.values() for d in digits], minlength=10).tolist()
    total = str(sum(expected))
    with app_server(env) as (url, server):
        _, link = teacher_creates_class(browser, url)
        code = link.split("class=")[1]
        student = student_sends(browser, link, "Ada", ONE, 1)  # through the whole path: canvas, prediction, Send
        wait_until_idle(student)
        query = student.url.split("?", 1)[1]  # the student's address now says who they are: class and id
        assert "me=" in query
        send_through_the_store(db, code)
        before = kept(db, code)
        server.send_signal(signal.SIGKILL)  # no shutdown hook, no flush: as a crash or an OOM kill
        assert server.wait(10) == -signal.SIGKILL
    assert len(before) == sum(expected) and kept(db, code) == before

    with app_server(env) as (url, _):
        teacher = teacher_logs_in(browser, url)
        assert dashboard_count(teacher, wanted=total) == total
        assert dashboard_digit_counts(teacher) == expected
        # The student reloads their page on the new server: in the class again, as themselves, without joining.
        student.goto(f"{url}/?{query}")
        student.locator(".st-key-class_badge").wait_for(timeout=30_000)
        student.get_by_text("What you sent (1)").wait_for(timeout=30_000)
        # Someone new opens the join link and sends a drawing of their own.
        student_sends(browser, f"{url}/?class={code}", "Bo", ONE, 1)
        assert dashboard_count(teacher, wanted=str(sum(expected) + 1)) == str(sum(expected) + 1)
    after = kept(db, code)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert len(classroom.student_drawings(classroom.connect(db), query.split("me=")[1].split("&")[0])) == 1
