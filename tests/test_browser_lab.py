"""Real-browser journeys through the lab's pages: Debian's Chromium drives `streamlit run app.py`."""

from browser_support import (
    browser_marks,
    draw,
    load_unipen,
    render_strokes,
    stroke_paths,
    wait_for_prediction,
)

pytestmark = browser_marks(pen_strokes=True)
CANVAS = 320


def clear_digit(label: int) -> list[list[tuple]]:
    """A pen-drawn ``label`` that the bundled model reads confidently (checked offline), so failures mean the app."""
    from mnist_model.engine.inference import Predictor
    from mnist_model.engine.storage import load_model

    predictor = Predictor(load_model())
    for sample in load_unipen()[::7]:
        strokes = stroke_paths(sample, CANVAS)
        if sample["label"] == label:
            probs = predictor.probabilities(predictor.prepare(render_strokes(strokes, CANVAS)).image)
            if probs.argmax() == label and probs.max() > 0.95:
                return strokes
    raise LookupError(f"no clear {label} among the pen-drawn samples")


def test_a_drawn_digit_is_shifted_and_both_networks_heatmaps_show(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    draw(page, clear_digit(3))
    assert wait_for_prediction(page) == "3"
    page.get_by_role("link", name="Shift a digit").click()
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("Move the digit around").wait_for(timeout=60_000)
    heatmaps = main.locator(".stPlotlyChart").filter(has_text="px to the left (-) or right (+)")
    heatmaps.nth(1).wait_for(timeout=30_000)
    assert heatmaps.count() == 2
    assert "classic (convnet)" in heatmaps.nth(0).inner_text() and "dense network" in heatmaps.nth(1).inner_text()
    assert "dense (dense network)" not in main.inner_text() and "dense: dense" not in main.inner_text()
    assert "Input: drawing" in main.locator("[data-testid='stCaptionContainer']").first.inner_text()
    assert main.get_by_role("combobox", name="Probability of").input_value() == "the digit the convnet reads (3)"
    assert "A probability of 3 over 50%: the convnet at" in main.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()
