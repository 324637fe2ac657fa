"""An automated accessibility scan (axe-core, WCAG 2.1 A and AA) of every page in a real browser at 1280x900.

axe-core comes from npm into a cache folder outside the repository (``AXE_CORE_CACHE``, by default
``~/.cache/convnet-lab/axe-core``); without npm, or offline with an empty cache, the scan is skipped and
says why. What axe cannot judge (is a text alternative right, does a caption hold) a person checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser_support import browser_marks, running_app, wait_until_idle

import classroom

pytestmark = browser_marks()
AXE_VERSION = "4.14"
CACHE = Path(os.environ.get("AXE_CORE_CACHE", Path.home() / ".cache" / "convnet-lab" / "axe-core"))
PASSWORD = "correct horse"
PAGES = ["", "feature_maps", "filters", "architecture", "convolution", "invariance", "data_efficiency", "hierarchy",
         "explain", "knockout", "evaluation", "compare", "timeline", "teacher"]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Violations in Streamlit's own markup, which the app cannot change: each rule, where, and why it is let pass.
STREAMLIT_OWN = {
    "list": ("[data-testid='stSidebarNav']", "Streamlit's page navigation puts each section's <div> straight "
                                            "inside its <ul>"),
    "listitem": ("[data-testid='stSidebarNav']", "the same navigation's <li> items sit in those <div>s, not "
                                                "in the <ul>"),
}
SCAN = """async ([rules, own]) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: rules}, elementRef: true});
    return result.violations.map(v => ({
        id: v.id, help: v.help,
        nodes: v.nodes.filter(n => !(own[v.id] && n.element && n.element.closest(own[v.id])))
                      .map(n => n.target.join(' ').slice(-120) + ': ' + (n.failureSummary || '').slice(0, 200)),
    })).filter(v => v.nodes.length);
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe.min.js, installed by npm into the cache the first time."""
    script = CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so axe-core cannot be fetched (Debian: apt-get install npm)")
        done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300)
        if done.returncode or not script.exists():
            pytest.skip(f"npm could not install axe-core@{AXE_VERSION} into {CACHE} (offline?): "
                        f"{done.stderr.strip()[-300:]}")
    return script.read_text()


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """The app on a class store with one class and a few drawings: (app URL, class code)."""
    folder = tmp_path_factory.mktemp("a11y")
    db = f"sqlite:///{folder / 'classroom.db'}"
    store = classroom.connect(db)
    code = classroom.create_class(store, "9B")
    student = classroom.join(store, code, "Ada")
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    for n, digit in enumerate((1, 1, 7)):
        image[27, 0] = n  # three drawings: the store keeps the same drawing once
        classroom.send_drawing(store, student, image, intended=digit, predicted=1, confidence=0.9)
    store.close()
    env = {"CONVNET_LAB_DB": db, "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_MODELS": str(folder / "models")}
    with running_app(env) as url:
        yield url, code


def settled(page, quiet: float = 1.5, timeout: float = 90.0) -> None:
    """Wait until the page has run its script and nothing has rerun for ``quiet`` seconds."""
    page.wait_for_selector("[data-testid='stMainBlockContainer']", timeout=timeout * 1000)
    wait_until_idle(page, quiet, timeout, poll=0.1)


def violations(page, axe_source: str) -> list[dict]:
    page.add_script_tag(content=axe_source)
    return page.evaluate(SCAN, [WCAG, {rule: where for rule, (where, _) in STREAMLIT_OWN.items()}])


def test_every_page_passes_axe_but_for_streamlits_own_navigation_markup(browser, lesson, axe_source):
    url, _ = lesson
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    found, titles, unnamed, charts = {}, {}, {}, 0
    for name in PAGES:
        page.goto(f"{url}/{name}")
        settled(page)
        titles[name or "draw"] = page.locator("[data-testid='stMain'] h1").first.inner_text().strip()
        found[name or "draw"] = violations(page, axe_source)
        # axe lets a chart without a name pass: each must carry its text alternative, as a figure's label
        charts += page.locator("[data-testid='stPlotlyChart']").count()
        unnamed[name or "draw"] = page.locator("[data-testid='stPlotlyChart']:not([role='figure'][aria-label])").count()
        if name == "convolution":  # Play, Pause, Start over: big enough to tap (WCAG 2.5.5's 44 px)
            buttons = page.locator(".st-key-conv_animation .updatemenu-button")
            buttons.first.wait_for(state="attached", timeout=30_000)
            assert min(buttons.nth(i).bounding_box()["height"] for i in range(buttons.count())) >= 44
    assert titles["evaluation"] == "How good is it" and titles["invariance"] == "Shift a digit"  # the pages ran
    assert page.locator("[data-testid='stSidebarNav']").count() == 1  # the exception names something real
    assert not {name: v for name, v in found.items() if v}, found
    assert charts >= 20 and not any(unnamed.values()), (charts, unnamed)


def test_the_teachers_dashboard_and_projector_pass_axe(browser, lesson, axe_source):
    url, code = lesson
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/teacher")
    page.locator(".st-key-teacher_password_input input").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".st-key-class_counts").wait_for(timeout=60_000)
    settled(page)
    assert "2 of 3" in page.locator("[data-testid='stMetric']", has_text="Read right").inner_text()
    dashboard = violations(page, axe_source)
    page.locator(".st-key-teacher_projector label").click()
    page.locator(".st-key-projector_counts").wait_for(timeout=30_000)
    settled(page)
    assert code in page.locator(".st-key-projector_code").inner_text()
    assert not dashboard and not violations(page, axe_source), (dashboard, violations(page, axe_source))
