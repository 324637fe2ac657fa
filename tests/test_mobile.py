"""A student on a phone: a 390x844 touch screen draws real pen digits with a finger and sees each answer
without scrolling; no developer chrome; every page fits the screen's width."""

import time

import pytest
from browser_support import (
    PAGE_HEIGHT,
    SCROLL,
    SIDEWAYS_OVERFLOW,
    UNIPEN,
    browser_marks,
    load_unipen,
    pick_digits,
    shown_digit,
    stroke_paths,
    touch_draw,
    wait_for_prediction,
    wait_until_idle,
)

pytestmark = browser_marks()
PHONE = {"width": 390, "height": 844}
DIGITS = 10
PAGES = ("feature_maps", "filters", "architecture", "convolution", "invariance", "data_efficiency", "hierarchy",
         "explain", "knockout", "evaluation", "compare", "timeline", "teacher")

ANSWER_BOX = """() => {
    const r = document.querySelector('.st-key-prediction h1')?.getBoundingClientRect();
    return r ? [r.top, r.bottom] : null;
}"""


@pytest.fixture
def phone(browser, app_url):
    """The draw page on a phone: touch only, three device pixels per CSS pixel, as a 390x844 iPhone."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3)
    page = context.new_page()
    page.goto(app_url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=120_000)
    settle(page)
    yield page
    context.close()


def settle(page, quiet_s: float = 0.5, timeout_s: float = 120.0) -> None:
    """Wait until the app has been idle for ``quiet_s``."""
    wait_until_idle(page, quiet_s, timeout_s)


def tap_clear(page) -> None:
    """Tap Clear and wait until the answer is gone and the app idle."""
    page.locator(".st-key-clear_canvas button").tap()
    deadline = time.monotonic() + 15
    while shown_digit(page) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    settle(page, quiet_s=0.3)
    assert shown_digit(page) is None, "Clear did not empty the answer"


@pytest.mark.skipif(not UNIPEN.exists(), reason=f"real pen strokes not found at {UNIPEN}")
def test_ten_pen_digits_drawn_by_finger_are_answered_on_the_first_screen(phone):
    digits = pick_digits(load_unipen(), DIGITS, seed=15)
    canvas = phone.locator("canvas.upper-canvas").first.bounding_box()["width"]  # drawn smaller on a phone
    assert canvas <= PHONE["width"] - 100  # with a strip beside it for a finger to scroll the page
    start_scroll = phone.evaluate(SCROLL)
    right, read = 0, []
    for i, sample in enumerate(digits):
        touch_draw(phone, stroke_paths(sample, canvas, seed=i))
        digit = wait_for_prediction(phone, timeout=60, settle=0.6)
        top, bottom = phone.evaluate(ANSWER_BOX)
        assert top >= 0 and bottom <= PHONE["height"], f"digit {i}: the answer is at {top:.0f}-{bottom:.0f} px"
        assert phone.evaluate(SCROLL) == start_scroll, f"digit {i}: drawing scrolled the page"
        read.append((sample["label"], digit))
        right += digit == str(sample["label"])
        tap_clear(phone)
    assert right >= 9, f"read right {right} of {DIGITS}: (drawn, read) {read}"


TOOLBAR_CARD = """() => {
    const card = document.querySelector(".st-key-canvas [data-testid='stBidiComponentIsolated']").shadowRoot
                         .querySelector('.dc-toolbar-card');
    const b = card.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, opacity: getComputedStyle(card.parentElement).opacity};
}"""
UPLOAD_CORNER = """() => {
    const choice = document.querySelector('.st-key-input_source').getBoundingClientRect();
    return document.elementFromPoint(choice.right - 20, choice.bottom - 4).closest('.st-key-input_source') !== null;
}"""


@pytest.mark.parametrize("screen", [PHONE, {"width": 768, "height": 1024}])
def test_the_canvas_toolbar_leaves_the_input_choice_and_the_canvas_free(browser, app_url, screen):
    """A mouse on a narrow window: the canvas's toolbar rises above the canvas, between it and Draw / Test digit /
    Upload, covering neither."""
    page = browser.new_page(viewport=screen)
    page.goto(app_url)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=120_000)
    settle(page)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    deadline = time.monotonic() + 5
    while (card := page.evaluate(TOOLBAR_CARD))["opacity"] != "1" or card["bottom"] > box["y"]:
        assert time.monotonic() < deadline, f"the toolbar did not rise above the canvas: {card}"
        time.sleep(0.05)
    time.sleep(0.3)  # the end of its rise
    card = page.evaluate(TOOLBAR_CARD)
    choice = page.locator(".st-key-input_source").bounding_box()
    assert choice["y"] + choice["height"] <= card["top"] and card["bottom"] <= box["y"], (choice, card, box)
    assert page.evaluate(UPLOAD_CORNER), "a click on Upload's corner would land on the canvas's toolbar"
    page.close()


def test_the_model_picker_is_one_tap_away_and_out_of_the_way(phone):
    picker = phone.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
    assert on_screen(picker) is False  # the sidebar starts folded on a phone: nothing covers the canvas
    phone.locator("[data-testid='stExpandSidebarButton']").tap()
    deadline = time.monotonic() + 10
    while not on_screen(picker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert on_screen(picker)
    picker.tap()
    phone.get_by_role("option").first.wait_for(timeout=10_000)
    assert "classic" in phone.get_by_role("option").first.inner_text()


@pytest.mark.parametrize("screen", [PHONE, {"width": 768, "height": 1024}])
def test_a_page_picked_from_the_sidebar_folds_it(browser, app_url, screen):
    context = browser.new_context(viewport=screen, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(app_url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=120_000)
    settle(page)
    page.locator("[data-testid='stExpandSidebarButton']").tap()
    link = page.locator("[data-testid='stSidebarNav'] a", has_text="Shift a digit")
    link.wait_for(timeout=10_000)
    link.tap()
    deadline = time.monotonic() + 5  # folded in the browser at once, not when the (busy) server answers
    while on_screen(page.locator("[data-testid='stSidebar']"), screen["width"]):
        assert time.monotonic() < deadline, "the sidebar stayed open over the page"
        time.sleep(0.05)
    page.get_by_role("heading", name="Shift a digit").first.wait_for(timeout=60_000)
    assert "/invariance" in page.url
    context.close()


def on_screen(locator, width: int = PHONE["width"]) -> bool:
    box = locator.bounding_box()
    return box is not None and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_a_student_sees_no_deploy_button_or_developer_menu(phone):
    assert phone.locator("[data-testid='stAppDeployButton']").count() == 0
    assert phone.get_by_role("button", name="Deploy").count() == 0
    phone.locator("[data-testid='stMainMenuButton']").tap()
    menu = phone.locator("[data-testid='stMainMenuList']")
    menu.wait_for(timeout=10_000)
    assert "Print" in menu.inner_text()  # the menu is open: viewer options only
    for developer_item in ("Rerun", "Clear cache", "Deploy"):
        assert developer_item not in menu.inner_text()


def test_every_page_fits_a_phone_screen_sideways(browser, app_url):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    for name in PAGES:
        page.goto(f"{app_url}/{name}")
        page.locator("[data-testid='stMainBlockContainer'] h1").first.wait_for(timeout=120_000)
        settle(page, quiet_s=1.0, timeout_s=240)
        page.set_viewport_size({"width": PHONE["width"], "height": page.evaluate(PAGE_HEIGHT)})
        time.sleep(0.3)  # plots lay themselves out again
        overflow = page.evaluate(SIDEWAYS_OVERFLOW)
        assert overflow == {"main_scrolls_sideways": False, "document_scrolls_sideways": False,
                            "sticking_out": []}, name
        assert page.locator("[data-testid='stException']").count() == 0, name
        page.set_viewport_size(PHONE)
    context.close()
