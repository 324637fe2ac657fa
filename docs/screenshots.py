"""Take the README's screenshots from the running app: ``python docs/screenshots.py``."""

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))
from browser_support import (  # noqa: E402
    draw,
    launch_browser,
    load_unipen,
    running_app,
    stroke_paths,
    wait_for_prediction,
)


def main() -> None:
    sample = next(s for s in load_unipen() if s["label"] == 5)
    models = tempfile.mkdtemp()
    env = {"CONVNET_LAB_TRAIN_LIMIT": "6000", "CONVNET_LAB_MODELS": models}
    with running_app(env=env) as url, sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1050}, device_scale_factor=1)
        page.goto(url)
        page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
        draw(page, stroke_paths(sample, 320, scale=0.7))
        wait_for_prediction(page)
        page.screenshot(path=DOCS / "draw.png")
        for name, file in (("Feature maps", "feature_maps"), ("Filters", "filters"),
                           ("Architecture", "architecture")):
            page.get_by_role("link", name=name, exact=True).click()
            page.wait_for_timeout(5000)
            page.screenshot(path=DOCS / f"{file}.png")
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("Train a model").click()
        sidebar.locator(".st-key-train button").click()
        time.sleep(12)
        page.screenshot(path=DOCS / "training.png")
        browser.close()


if __name__ == "__main__":
    main()
