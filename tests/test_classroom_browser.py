"""A lesson in a real browser: the teacher makes a class, a student joins by its link, draws and sends."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_support import SCROLL, browser_marks, draw, running_app, touch_draw, wait_for_prediction
from browser_support import wait_until_idle as idle_for

import classroom

pytestmark = browser_marks()
PASSWORD = "correct horse"
ONE = [[(130, 40), (132, 220)]]  # one straight stroke (inside the phone's smaller canvas too): every model reads a 1


def teacher_logs_in(browser, url: str, page=None):
    """A new page (or ``page``) logged in on the Teacher page."""
    page = page or browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{url}/teacher")
    page.locator(".st-key-teacher_password_input input").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return page


def teacher_creates_class(browser, url: str, page=None) -> tuple[object, str]:
    """Log in on the Teacher page and create a class; returns the page and the join link (``local_link``)."""
    page = teacher_logs_in(browser, url, page)
    name = page.get_by_placeholder("e.g. 9B, Tuesday")
    page.get_by_text("New class").wait_for(timeout=30_000)
    if not name.is_visible():  # folded away once the store has a class
        page.get_by_text("New class").click()
    name.fill("9B")
    page.get_by_role("button", name="Create class").click()
    return page, local_link(url, shown_link(page))


def shown_link(page) -> str:
    """The join link the Teacher page shows (and its QR code holds)."""
    link = page.locator("[data-testid='stCode']").first
    link.wait_for(timeout=30_000)
    return link.inner_text().strip()


def local_link(url: str, link: str) -> str:
    """The join link at the address the test reaches the server by: the page shows this machine's network
    address when the teacher is on localhost, which a server listening on 127.0.0.1 does not answer."""
    return f"{url}/?{link.split('?', 1)[1]}"


def student_sends(browser, link: str, nickname: str, strokes, digit: int):
    """Open the join link, join with a nickname, draw, say which digit was meant, send."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(link)
    page.locator(".st-key-class_nickname input").fill(nickname)
    page.get_by_role("button", name="Join").click()
    page.locator(".st-key-class_badge").wait_for(timeout=30_000)
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
    idle_for(page, settle, timeout)


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
    assert "<b>Ada</b>" in student.locator(".st-key-class_badge").inner_text()


def test_a_student_who_opens_another_page_first_can_still_join(browser, lesson):
    url, db = lesson
    code = classroom.create_class(classroom.connect(db), "9C")
    student = browser.new_page(viewport={"width": 1400, "height": 1100})
    student.goto(f"{url}/?class={code}")
    student.get_by_text("Join the class").wait_for(timeout=30_000)
    student.locator("[data-testid='stSidebarNav'] a", has_text="Architecture").click()
    student.wait_for_url(lambda address: "/architecture" in address, timeout=15_000)
    student.get_by_role("heading", name="Architecture").wait_for(timeout=30_000)
    wait_until_idle(student)  # the old page's elements linger until the new page's run ends
    assert "class=" not in student.url  # the navigation dropped the code, as Streamlit does
    assert "Join the class" in student.locator(".st-key-class_invite").inner_text()
    student.get_by_role("button", name="Join").click()
    student.locator(".st-key-class_badge").wait_for(timeout=30_000)
    student.locator("[data-testid='stSidebarNav'] a", has_text="Draw & predict").click()
    student.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    assert "In class" in student.locator("[data-testid='stSidebar']").inner_text()
    assert "In class" in student.locator(".st-key-class_badge").inner_text()


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
    # The button comes on early in the fragment's rerun; the old "The class has sent ..." note is removed
    # only when that rerun ends (Streamlit clears stale elements last), so wait for it to go.
    teacher.get_by_text("The class has sent").wait_for(state="detached", timeout=15_000)
    wait_until_idle(teacher)
    assert teacher.get_by_text("The class has sent").count() == 0 and not button.is_disabled()


def test_a_phone_opening_the_class_link_sees_the_offer_without_opening_the_sidebar(browser, lesson, tmp_path):
    url, db = lesson
    code = classroom.create_class(classroom.connect(db), "9D")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
    page = phone.new_page()
    page.goto(f"{url}/?class={code}")
    offer = page.locator(".st-key-class_invite")
    offer.wait_for(timeout=60_000)
    wait_until_idle(page)
    page.screenshot(path=tmp_path / "phone-invitation-390x844.png")
    box = offer.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844  # all of it on the first screen
    assert not page.locator("[data-testid='stSidebar']").is_visible()  # the sidebar is folded away
    page.locator(".st-key-class_nickname input").fill("Zoë")
    page.get_by_role("button", name="Join").tap()
    badge = page.locator(".st-key-class_badge")
    badge.wait_for(timeout=30_000)
    wait_until_idle(page)
    page.screenshot(path=tmp_path / "phone-joined-390x844.png")
    assert "In class 9D" in badge.inner_text() and "Zoë" in badge.inner_text()
    assert badge.bounding_box()["height"] < 60 and not page.locator(".st-key-class_invite").count()  # out of the way
    scroll = page.evaluate(SCROLL)
    touch_draw(page, ONE)  # in class, the badge on top and Send to class below: the answer still on screen
    assert wait_for_prediction(page, timeout=60) == "1"
    answer = page.locator(".st-key-prediction h1").bounding_box()
    assert answer["y"] >= 0 and answer["y"] + answer["height"] <= 844, answer
    assert page.evaluate(SCROLL) == scroll, "drawing scrolled the page"
    page.screenshot(path=tmp_path / "phone-joined-drawn-390x844.png")
    canvas = page.locator("canvas.upper-canvas").first.bounding_box()
    assert canvas["x"] + canvas["width"] <= 390 - 80  # a finger's strip beside the canvas scrolls the page
    for part in (".st-key-intended_digit", ".st-key-send_to_class button"):  # choose and send: no scrolling
        box = page.locator(part).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844, (part, box)
    phone.close()


def test_a_nickname_that_looks_like_a_link_is_shown_as_text(browser, lesson):
    url, db = lesson
    code = classroom.create_class(classroom.connect(db), "9E")
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/?class={code}")
    nickname = "www.evil.example & me@evil.example"
    page.locator(".st-key-class_nickname input").fill(nickname)
    page.get_by_role("button", name="Join").click()
    badge = page.locator(".st-key-class_badge")
    badge.wait_for(timeout=30_000)
    wait_until_idle(page)
    assert nickname in badge.inner_text().replace("\u200b", "")
    assert badge.locator("a").count() == 0  # GFM would have made two links of it


def test_the_teacher_stays_logged_in_across_a_reload_and_a_forged_or_expired_token_is_not(browser, lesson):
    url, db = lesson
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = teacher_logs_in(browser, url, context.new_page())
    page.get_by_role("button", name="Log out").wait_for(timeout=30_000)
    wait_until_idle(page)
    cookie = next(c for c in context.cookies() if c["name"] == "convnet_lab_teacher")
    assert PASSWORD not in cookie["value"] and cookie["sameSite"] == "Strict"
    page.reload()  # a new session: Streamlit forgets everything but the cookie
    page.get_by_role("button", name="Log out").wait_for(timeout=30_000)
    assert page.locator(".st-key-teacher_password_input").count() == 0

    store = classroom.connect(db)
    expired = classroom.teacher_token(store, PASSWORD, ttl_s=-60)
    expires, signature = classroom.teacher_token(store, PASSWORD).split(".")
    for token in (f"{int(expires) + 86_400}.{signature}", f"{expires}.{'A' * len(signature)}", expired):
        context.add_cookies([{**cookie, "value": token}])
        page.reload()
        page.locator(".st-key-teacher_password_input").wait_for(timeout=30_000)
        wait_until_idle(page)
        assert page.get_by_role("button", name="Log out").count() == 0, token

    context.add_cookies([cookie])
    page.reload()
    page.get_by_role("button", name="Log out").click()  # this browser forgets the login
    page.locator(".st-key-teacher_password_input").wait_for(timeout=30_000)
    wait_until_idle(page)
    page.reload()
    page.locator(".st-key-teacher_password_input").wait_for(timeout=30_000)
    context.close()


def wrong_password_in_a_fresh_session(browser, url: str, forwarded: str) -> str:
    """A new browser context (a new session, no cookies) that sends a forged X-Forwarded-For and a wrong
    password; returns what the page says."""
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": forwarded})
    page = context.new_page()
    page.goto(f"{url}/teacher")
    page.locator(".st-key-teacher_password_input input").fill("guess")
    page.get_by_role("button", name="Log in").click()
    alert = page.locator("[data-testid='stAlert']").first
    alert.wait_for(timeout=30_000)
    said = alert.inner_text()
    context.close()
    return said


def test_fresh_sessions_guessing_on_one_address_never_lock_the_teacher_out(browser, tmp_path):
    from classroom.teacher import PASSWORD_LIMIT

    env = {"CONVNET_LAB_DB": f"sqlite:///{tmp_path / 'classroom.db'}", "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_MODELS": str(tmp_path / "models")}
    with running_app(env) as url:  # forged X-Forwarded-For headers: every session counts as 127.0.0.1
        said = [wrong_password_in_a_fresh_session(browser, url, f"10.9.{i}.{i}") for i in range(PASSWORD_LIMIT + 3)]
        assert all("not the teacher password" in s for s in said)  # each is checked, and each is wrong
        teacher = teacher_logs_in(browser, url)  # the right password, at once, from a session that has not failed
        teacher.get_by_role("button", name="Log out").wait_for(timeout=30_000)


def test_behind_a_configured_proxy_each_forwarded_client_has_its_own_counter(browser, tmp_path):
    from classroom.teacher import PASSWORD_LIMIT

    env = {"CONVNET_LAB_DB": f"sqlite:///{tmp_path / 'classroom.db'}", "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_TRUSTED_PROXIES": "127.0.0.1"}
    with running_app(env) as url:
        said = [wrong_password_in_a_fresh_session(browser, url, f"10.9.{i}.{i}") for i in range(PASSWORD_LIMIT + 3)]
    assert all("not the teacher password" in s for s in said)  # each address its own counter: none limited


def qr_modules(png: bytes, side: int) -> np.ndarray:
    """The dark modules of a QR code image made by ``classroom.qr.qr_png`` (its scale and quiet zone)."""
    import io

    from PIL import Image

    from classroom.qr import QR_BORDER

    image = np.array(Image.open(io.BytesIO(png)).convert("L"))
    scale = image.shape[0] // (side + 2 * QR_BORDER)
    start = QR_BORDER * scale + scale // 2
    return image[start::scale, start::scale][:side, :side] < 128


def test_a_teacher_on_localhost_gets_a_qr_code_phones_on_the_network_can_open(browser, tmp_path):
    import urllib.parse
    import urllib.request

    import segno

    from classroom.qr import is_loopback

    env = {"CONVNET_LAB_DB": f"sqlite:///{tmp_path / 'classroom.db'}", "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD}
    with running_app(env, address="0.0.0.0") as local:  # listening on every network, as a class server must
        port = urllib.parse.urlsplit(local).port
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page, _ = teacher_creates_class(browser, f"http://localhost:{port}", page)
        link = shown_link(page)
        host = urllib.parse.urlsplit(link).hostname
        assert not is_loopback(host) and urllib.parse.urlsplit(link).port == port
        said = page.locator("[data-testid='stCaptionContainer']", has_text="network address").inner_text()
        assert f"network address, {host}:{port}" in said and "same network" in said
        assert page.get_by_text("only listens on this computer").count() == 0
        qr = page.locator("[data-testid='stImage'] img").first
        png = page.request.get(qr.get_attribute("src")).body()
        expected = np.array(segno.make_qr(link, error="m").matrix, bool)
        assert np.array_equal(qr_modules(png, expected.shape[0]), expected)  # the code holds exactly that link
        page.screenshot(path=tmp_path / "teacher-localhost-1280x720.png")
        health = urllib.parse.urlunsplit(urllib.parse.urlsplit(link)._replace(path="/_stcore/health", query=""))
        assert urllib.request.urlopen(health, timeout=10).status == 200  # the address answers from the network


def test_the_projector_view_fits_the_back_of_the_room(browser, lesson, tmp_path):
    url, db = lesson
    store = classroom.connect(db)
    teacher = browser.new_page(viewport={"width": 1280, "height": 720})
    teacher, link = teacher_creates_class(browser, url, teacher)
    code = link.split("class=")[1]
    student = classroom.join(store, code, "Ada")
    for digit in (1, 4, 4, 7):
        image = np.zeros((28, 28), np.uint8)
        image[4:24, 12:16] = 255
        classroom.send_drawing(store, student, image, intended=digit, predicted=1, confidence=0.8)
    wait_until_idle(teacher)  # the class's page drawn in full: a click in mid-run may be taken by the old page
    teacher.locator(".st-key-teacher_projector label").click()
    teacher.locator(".st-key-projector_counts").wait_for(timeout=30_000)
    wait_until_idle(teacher)
    teacher.screenshot(path=tmp_path / "projector-1280x720.png")
    for part in (".st-key-projector_qr img", ".st-key-projector_code", "[data-testid='stMetric']"):
        box = teacher.locator(part).first.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, part  # on the first screen, no scrolling
    assert teacher.locator(".st-key-projector_qr img").bounding_box()["width"] >= 380  # the code is big
    size = teacher.locator(".st-key-projector_code p").evaluate("p => parseFloat(getComputedStyle(p).fontSize)")
    assert size >= 48 and code in teacher.locator(".st-key-projector_code").inner_text()
    assert not teacher.locator("[data-testid='stSidebar']").is_visible()
    assert "1/1" in teacher.locator(".st-key-projector_counts").inner_text()  # the digit 1: read right once
    link_size = teacher.locator(".st-key-projector_link code").evaluate("c => parseFloat(getComputedStyle(c).fontSize)")
    assert link_size >= 24  # the join link is read from the room, not only scanned
    assert not teacher.locator(".st-key-teacher_class_picker").is_visible()  # no picker, no Log out on the screen
    assert not teacher.locator(".st-key-teacher_log_out").is_visible()
    assert teacher.locator(".st-key-teacher_projector").is_visible()  # the way back stays
    teacher.set_viewport_size({"width": 390, "height": 844})
    wait_until_idle(teacher)
    teacher.screenshot(path=tmp_path / "projector-390x844.png")
    assert teacher.locator(".st-key-projector_qr img").bounding_box()["width"] <= 390  # shrinks, never overflows
