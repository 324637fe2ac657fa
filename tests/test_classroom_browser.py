"""A lesson in a real browser: the teacher makes a class, a student joins by its link, draws and sends."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_support import app_is_running, browser_marks, draw, running_app, wait_for_prediction

import classroom

pytestmark = browser_marks()
PASSWORD = "correct horse"
ONE = [[(160, 50), (162, 270)]]  # one straight stroke: every model reads a 1


def teacher_logs_in(browser, url: str):
    """A new page logged in on the Teacher page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{url}/teacher")
    page.locator(".st-key-teacher_password_input input").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return page


def teacher_creates_class(browser, url: str) -> tuple[object, str]:
    """Log in on the Teacher page and create a class; returns the page and the join link."""
    page = teacher_logs_in(browser, url)
    name = page.get_by_placeholder("e.g. 9B, Tuesday")
    page.get_by_text("New class").wait_for(timeout=30_000)
    if not name.is_visible():  # folded away once the store has a class
        page.get_by_text("New class").click()
    name.fill("9B")
    page.get_by_role("button", name="Create class").click()
    link = page.locator("[data-testid='stCode']").first
    link.wait_for(timeout=30_000)
    return page, link.inner_text().strip()


def student_sends(browser, link: str, nickname: str, strokes, digit: int):
    """Open the join link, join with a nickname, draw, say which digit was meant, send."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(link)
    page.locator(".st-key-class_nickname input").fill(nickname)
    page.get_by_role("button", name="Join").click()
    page.get_by_text("In class").wait_for(timeout=30_000)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    draw(page, strokes)
    wait_for_prediction(page, timeout=30)
    page.locator(".st-key-intended_digit button", has_text=str(digit)).first.click()
    send = page.locator(".st-key-send_to_class button")
    page.wait_for_function("b => !b.disabled", arg=send.element_handle(), timeout=15_000)
    send.click()
    page.get_by_text("What you sent (1)").wait_for(timeout=15_000)
    return page


def wait_until_idle(page, settle: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until no script run has been in flight for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if app_is_running(page):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the app was still running after {timeout} s")


def dashboard_count(page, timeout: float = 20.0, wanted: str = "1") -> str:
    """The dashboard's 'Drawings' number once it shows ``wanted`` (it polls the store every 2 s)."""
    metric = page.locator("[data-testid='stMetric']", has_text="Drawings")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric.count() and wanted in metric.first.inner_text().split():
            return wanted
        time.sleep(0.2)
    raise TimeoutError(f"the dashboard never showed {wanted} drawing(s): {metric.all_inner_texts()}")


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """One app server for this module's tests, on a class store of its own: yields (app URL, store URL)."""
    folder = tmp_path_factory.mktemp("lesson")
    db = f"sqlite:///{folder / 'classroom.db'}"
    env = {"CONVNET_LAB_DB": db, "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_MODELS": str(folder / "models")}
    with running_app(env) as url:
        yield url, db


def test_student_drawing_reaches_the_teachers_dashboard(browser, lesson):
    teacher, link = teacher_creates_class(browser, lesson[0])
    assert "?class=" in link
    student = student_sends(browser, link, "<b>Ada</b>", ONE, 1)
    assert dashboard_count(teacher) == "1"
    assert "<b>Ada</b>" in student.locator("[data-testid='stSidebar']").inner_text()  # shown, not rendered


def test_a_student_who_opens_another_page_first_can_still_join(browser, lesson):
    url, db = lesson
    code = classroom.create_class(classroom.connect(db), "9C")
    student = browser.new_page(viewport={"width": 1400, "height": 1100})
    student.goto(f"{url}/?class={code}")
    student.get_by_text("Join the class").wait_for(timeout=30_000)
    student.locator("[data-testid='stSidebarNav'] a", has_text="Architecture").click()
    student.wait_for_url(lambda address: "/architecture" in address, timeout=15_000)
    student.get_by_role("heading", name="Architecture").wait_for(timeout=30_000)
    wait_until_idle(student)  # the old page's sidebar lingers until the new page's run ends
    assert "class=" not in student.url  # the navigation dropped the code, as Streamlit does
    assert "Join the class" in student.locator("[data-testid='stSidebar']").inner_text()
    student.get_by_role("button", name="Join").click()
    student.get_by_text("In class").wait_for(timeout=30_000)
    student.locator("[data-testid='stSidebarNav'] a", has_text="Draw & predict").click()
    student.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    assert "In class" in student.locator("[data-testid='stSidebar']").inner_text()


def test_the_fine_tune_button_comes_on_by_itself_once_the_class_has_sent_enough(browser, lesson):
    url, db = lesson
    teacher, link = teacher_creates_class(browser, url)
    code = link.split("class=")[1]
    teacher.get_by_role("tab", name="Fine-tune").click()
    button = teacher.get_by_role("button", name="Fine-tune on this class")
    teacher.get_by_text("The class has sent 0 drawings").wait_for(timeout=30_000)
    assert button.is_disabled()
    store = classroom.connect(db)
    for nickname in ("A", "B", "C", "D"):  # enough, sent while the teacher only watches
        student = classroom.join(store, code, nickname)
        for digit in range(5):
            image = np.zeros((28, 28), np.uint8)
            image[4:24, 10 + digit] = 255
            classroom.send_drawing(store, student, image, intended=digit, predicted=digit, confidence=0.9)
    teacher.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=15_000)
    assert teacher.get_by_text("The class has sent").count() == 0
