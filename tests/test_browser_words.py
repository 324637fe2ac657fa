"""Real-browser checks of what the lab pages say and log: Debian's Chromium drives `streamlit run app.py`."""

import time

import pytest
from browser_support import app_server, browser_marks

pytestmark = browser_marks()


@pytest.fixture(scope="module")
def logged_app(tmp_path_factory):
    """An app server whose output is kept: (url, log path)."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with open(log_path, "w") as log, app_server(log=log) as (url, _):
        yield url, log_path


def test_clicking_a_unit_moves_the_sliders_without_a_session_state_warning(browser, logged_app):
    url, log_path = logged_app
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    page.get_by_role("link", name="What each unit sees").click()
    main = page.locator("[data-testid='stMain']")
    main.get_by_role("combobox", name="Layer").click()
    page.get_by_role("option").filter(has_text="conv_3").click()
    plot = page.locator(".st-key-rf_map_conv_3 .nsewdrag").first
    plot.wait_for(timeout=60_000)
    sliders = main.locator("[data-testid='stSlider']")
    main.get_by_text("Unit (1, 1) sees").wait_for(timeout=30_000)  # conv_3's 3x3 map starts at its middle unit
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 6, box["y"] + box["height"] / 6)  # unit (0, 0)
    main.get_by_text("Unit (0, 0) sees").wait_for(timeout=30_000)
    assert [t.split()[-3] for t in sliders.all_inner_texts()[:2]] == ["0", "0"]
    time.sleep(1)  # the server logs as it runs the page
    assert "created with a default value" not in log_path.read_text()
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()
