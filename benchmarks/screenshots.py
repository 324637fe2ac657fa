"""Every page at a phone's, a tablet's and a projector's size: ``python -m benchmarks.screenshots --out DIR``.

Starts ``streamlit run app.py`` as the browser tests do, opens each page in Debian's Chromium at
390x844 (touch), 768x1024 (touch) and 1280x720, and writes two PNGs per page and size: the first
screen (``*-screen.png``, what a person sees before scrolling) and the whole page (``*-full.png``).
On the draw page it also draws a real pen digit (by touch on the touch screens, ``draw-drawn-*``)
when the UNIPEN strokes are there, then shows a test digit (``draw-test-digit-*``). ``report.json``
lists, per shot, what sticks out sideways past the screen's edge and whether the page showed an
error: look at the pictures, then at the report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import browser_support  # noqa: E402

SIZES = {"phone": (390, 844, True), "tablet": (768, 1024, True), "projector": (1280, 720, False)}
PAGES = ("draw", "feature_maps", "filters", "architecture", "convolution", "invariance", "data_efficiency",
         "hierarchy", "explain", "knockout", "evaluation", "compare", "timeline", "teacher")
SETTLE_S = 1.5  # the app idle this long counts as drawn
PLOTS_DRAWN = """() => [...document.querySelectorAll('.stPlotlyChart')].every(c => c.querySelector('.main-svg'))"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and report.json")
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated, from {','.join(PAGES)}")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, from {','.join(SIZES)}")
    parser.add_argument("--scale", type=float, default=1.0, help="device pixel ratio of the pictures")
    return parser.parse_args(argv)


def settle(page, timeout_s: float = 180.0) -> None:
    """Wait until the script has been idle for SETTLE_S (pages compute on their first visit)."""
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if browser_support.app_is_running(page) or page.locator("[data-testid='stSpinner']").count():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_S:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{page.url} was still running after {timeout_s:.0f} s")


def shoot(page, out: Path, name: str) -> dict:
    """The first screen and the whole page as PNGs; what overflows sideways, and errors shown."""
    page.wait_for_function(PLOTS_DRAWN, timeout=60_000)
    page.screenshot(path=out / f"{name}-screen.png")
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    full = page.evaluate(browser_support.PAGE_HEIGHT)
    page.set_viewport_size({"width": width, "height": max(height, full)})
    time.sleep(0.5)  # plots re-lay out to the taller window
    page.screenshot(path=out / f"{name}-full.png")
    page.set_viewport_size({"width": width, "height": height})
    return {"shot": name, "overflow": page.evaluate(browser_support.SIDEWAYS_OVERFLOW),
            "errors": page.locator("[data-testid='stException']").count()}


def draw_page_inputs(page, out: Path, size: str, touch: bool) -> list[dict]:
    """The draw page with a digit drawn (by finger on a touch screen), then with a test digit."""
    sample = browser_support.pick_digits(browser_support.load_unipen(), 1, seed=3)[0]
    strokes = browser_support.stroke_paths(sample, page.locator("canvas.upper-canvas").first.bounding_box()["width"])
    (browser_support.touch_draw if touch else browser_support.draw)(page, strokes)
    browser_support.wait_for_prediction(page, timeout=60)
    settle(page)
    shots = [shoot(page, out, f"draw-drawn-{size}")]
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("Test digit", exact=True).click()
    page.get_by_text("MNIST test image #").wait_for(timeout=60_000)
    settle(page)
    shots.append(shoot(page, out, f"draw-test-digit-{size}"))
    main.get_by_text("Draw", exact=True).click()
    settle(page)
    return shots


def tour(browser, url: str, size: str, pages: list[str], out: Path, scale: float) -> list[dict]:
    width, height, touch = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=touch, has_touch=touch,
                                  device_scale_factor=scale)
    page = context.new_page()
    report = []
    for name in pages:
        page.goto(f"{url}/{'' if name == 'draw' else name}")
        page.locator("[data-testid='stMainBlockContainer']").wait_for(timeout=120_000)
        settle(page)
        report.append(shoot(page, out, f"{name}-{size}"))
        if name == "draw" and browser_support.UNIPEN.exists():
            report += draw_page_inputs(page, out, size, touch)
        print(f"{size:>9} {name:<16} {json.dumps(report[-1]['overflow'])[:160]}", flush=True)
    context.close()
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    pages, sizes = args.pages.split(","), args.sizes.split(",")
    report = []
    with browser_support.running_app(timeout=120) as url, sync_playwright() as playwright:
        browser = browser_support.launch_browser(playwright)
        for size in sizes:
            report += tour(browser, url, size, pages, args.out, args.scale)
        browser.close()
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
