"""Driving the draw page with Playwright's async API, timing stroke-to-prediction inside the page.

The clock runs in the page itself: a capture-phase ``mouseup`` listener stamps the pen lift and a
MutationObserver stamps the moment the prediction panel's text changes, both on ``performance.now()``.
The driver's own delays (CDP round trips, Python polling) are therefore not counted.
"""

from __future__ import annotations

import asyncio
import re

from .drawing import Digit

CANVAS = "canvas.upper-canvas"
PANEL = ".st-key-prediction"
SETTLE_MS = 350  # the canvas sends its drawing 200 ms after the pen lifts (its debounce), then the app reruns

PROBE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const panel = () => document.querySelector('PANEL')?.textContent ?? '';
  const probe = window.__probe = {up: null, seen: null, baseline: '', runs: 0, panel,
                                  idle: () => app.dataset.testScriptState === 'notRunning'};
  window.addEventListener('mouseup', () => { probe.up = performance.now(); }, true);
  new MutationObserver(() => {
    if (probe.up === null || probe.seen !== null) return;
    const text = panel();
    if (text.includes('Prediction:') && text !== probe.baseline) probe.seen = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
  new MutationObserver(() => { if (app.dataset.testScriptState === 'running') probe.runs += 1; })
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}""".replace("PANEL", PANEL)
APP_IDLE = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
TRAINING = "document.querySelector('[data-testid=\"stSidebar\"] [data-testid=\"stProgress\"]') !== null"
ARM = "() => { const p = window.__probe; p.baseline = p.panel(); p.up = null; p.seen = null; p.runs = 0; }"
SETTLED = f"window.__probe.runs > 0 && window.__probe.idle() && performance.now() - window.__probe.up > {SETTLE_MS}"
SEEN_OR_SETTLED = f"window.__probe.seen !== null || ({SETTLED})"
LATENCY = "() => window.__probe.seen === null ? null : window.__probe.seen - window.__probe.up"


async def open_draw_page(context, url: str, timeout_s: float = 60.0):
    """A new page on the app's draw page, with the timing probe installed."""
    page = await context.new_page()
    await page.goto(url)
    await page.locator(CANVAS).first.wait_for(timeout=timeout_s * 1000)
    await page.wait_for_function(APP_IDLE, timeout=timeout_s * 1000)
    await page.evaluate(PROBE)
    return page


async def draw(page, strokes) -> None:
    """Draw polylines (canvas pixels) with the mouse; the async twin of browser_support.draw."""
    box = await page.locator(CANVAS).first.bounding_box()
    for stroke in strokes:
        x0, y0 = stroke[0]
        await page.mouse.move(box["x"] + x0, box["y"] + y0)
        await page.mouse.down()
        for x, y in stroke[1:] or [(x0 + 1, y0 + 1)]:
            await page.mouse.move(box["x"] + x, box["y"] + y)
        await page.mouse.up()


async def replay(page, digit: Digit, timeout_s: float = 15.0) -> tuple[float | None, int]:
    """Draw ``digit``; return (ms from the last pen lift to the panel's new prediction, the digit read).

    Earlier strokes are drawn and left to settle first, so the clock times the finished drawing only.
    The latency is None when the finished drawing left the panel's text unchanged.
    """
    wait = {"timeout": timeout_s * 1000, "polling": 20}
    if len(digit.strokes) > 1:
        await page.evaluate(ARM)
        await draw(page, digit.strokes[:-1])
        await page.wait_for_function(SETTLED, **wait)
    await page.evaluate(ARM)
    await draw(page, digit.strokes[-1:])
    await page.wait_for_function(SEEN_OR_SETTLED, **wait)
    latency = await page.evaluate(LATENCY)
    await page.wait_for_function(SETTLED, **wait)
    return latency, await predicted_digit(page)


async def predicted_digit(page) -> int:
    """The digit in the panel, -1 when it shows none."""
    match = re.search(r"Prediction:\s*(\d)", await page.evaluate("() => window.__probe.panel()"))
    return int(match.group(1)) if match else -1


async def clear(page, timeout_s: float = 15.0) -> None:
    """Press Clear and wait until the panel has no prediction and the app is idle."""
    await page.locator(".st-key-clear_canvas button").click()
    await page.wait_for_function(f"!window.__probe.panel().includes('Prediction:') && {APP_IDLE}",
                                 timeout=timeout_s * 1000, polling=20)
    await asyncio.sleep(0.1)


async def start_training(page) -> None:
    """Start the server's training job from the sidebar, at the most epochs, so it outlasts the drawing."""
    await page.get_by_text("Train a model").click()
    slider = page.locator(".st-key-epochs_seed input[type='range']")
    await slider.focus()
    await slider.press("End")
    await asyncio.sleep(0.3)  # the slider's rerun starts: a click on Train in mid-run can be lost with the old page
    await page.wait_for_function(APP_IDLE, timeout=60_000)
    await page.locator(".st-key-train button").click()
    try:
        await page.wait_for_function(TRAINING, timeout=120_000)
    except Exception:
        await page.screenshot(path="/tmp/benchmark-training-did-not-start.png", full_page=True)
        raise


async def training_running(page) -> bool:
    """Whether the sidebar still shows the job's progress bar."""
    return await page.evaluate(f"() => {TRAINING}")
