"""The canvas with a keyboard (Tab to it, arrow keys, Space) and with a finger at its top-right corner."""

import time

from browser_support import app_is_running, browser_marks, prediction_text, shown_digit, wait_for_prediction

pytestmark = browser_marks()
FOCUSED = """() => {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? [a.tagName, a.className, a.getAttribute('aria-label') || ''] : null;
}"""
# what a finger meets just inside the canvas's top-right corner, looked up inside the canvas's shadow root
AT_TOP_RIGHT = """() => {
    const host = document.querySelector('.st-key-canvas');
    const find = (root) => {
        if (root.querySelector('canvas.upper-canvas')) return root;
        for (const el of root.querySelectorAll('*')) {
            const inner = el.shadowRoot && find(el.shadowRoot);
            if (inner) return inner;
        }
        return null;
    };
    const root = find(host);
    const r = root.querySelector('canvas.upper-canvas').getBoundingClientRect();
    const hit = root.elementFromPoint(r.right - 12, r.top + 6);
    return hit ? hit.tagName + '.' + hit.className : null;
}"""


def open_draw_page(browser, app_url, **context):
    page = browser.new_context(**context).new_page()
    page.goto(app_url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=120_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (app_is_running(page) or not page.evaluate(
            "() => !!document.querySelector('.st-key-canvas') && "
            "[...document.querySelectorAll('*')].some(e => e.shadowRoot?.querySelector('canvas[tabindex]'))")):
        time.sleep(0.1)
    return page


def test_a_digit_drawn_with_the_keyboard_alone_is_read(browser, app_url):
    page = open_draw_page(browser, app_url, viewport={"width": 1280, "height": 900})
    for _ in range(60):  # Tab through the page until the canvas has focus
        page.keyboard.press("Tab")
        tag, classes, label = page.evaluate(FOCUSED) or ("", "", "")
        if "upper-canvas" in classes:
            break
    assert "upper-canvas" in classes, "Tab never reached the canvas"
    assert "arrow keys" in label and "Space" in label
    for key in ["ArrowUp"] * 8 + ["Space"] + ["ArrowDown"] * 14 + ["Space"]:  # one stroke down the middle
        page.keyboard.press(key)
    assert wait_for_prediction(page, timeout=30) == "1", prediction_text(page)
    page.keyboard.press("Tab")  # the pen leaves with the focus, and the page keeps its answer
    assert shown_digit(page) == "1"
    page.context.close()


def test_a_finger_at_the_canvas_top_right_corner_draws_instead_of_hitting_the_hidden_toolbar(browser, app_url):
    page = open_draw_page(browser, app_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    assert "upper-canvas" in page.evaluate(AT_TOP_RIGHT)
    page.context.close()


RING_SHOWN = """() => {
    const find = (root) => {
        const ring = root.querySelector('.kp-ring');
        if (ring) return ring;
        for (const el of root.querySelectorAll('*')) {
            const inner = el.shadowRoot && find(el.shadowRoot);
            if (inner) return inner;
        }
        return null;
    };
    const ring = find(document);
    return ring !== null && !ring.hidden;
}"""


def test_the_keyboard_pen_stays_out_of_sight_of_a_mouse(browser, app_url):
    from browser_support import draw

    page = open_draw_page(browser, app_url, viewport={"width": 1280, "height": 900})
    draw(page, [[(160, 60), (160, 260)]])
    assert wait_for_prediction(page, timeout=30) == "1"
    assert not page.evaluate(RING_SHOWN)  # the click focused the canvas: no ring for a hand that uses a mouse
    page.keyboard.press("ArrowLeft")  # a key: now it shows where the keyboard's pen is
    assert page.evaluate(RING_SHOWN)
    page.context.close()
