"""Running the real app and drawing on it like a person: shared by browser tests and benchmarks."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIPEN = ROOT.parent / "shared" / "unipen-dev.json.gz"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict | None = None, timeout: float = 60.0, address: str = "127.0.0.1"):
    """Start ``streamlit run app.py`` on a free port; yield its URL; stop it afterwards."""
    with app_server(env, timeout, address=address) as (url, _):
        yield url


@contextlib.contextmanager
def app_server(env: dict | None = None, timeout: float = 60.0, log=None, address: str = "127.0.0.1",
               script: Path = ROOT / "app.py", cpus: set[int] | None = None):
    """Like ``running_app``, yielding ``(url, process)`` for those who watch the server itself;
    ``log``, an open file, receives what the server prints (its warnings included); ``address`` is
    where it listens (0.0.0.0: every network, as a classroom server must); the URL is local.
    ``script`` is the app to serve; ``cpus``, the cores the server (and what it starts) may run on."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.fileWatcherType", "none", "--server.port", str(port), "--server.address", address,
           "--browser.gatherUsageStats", "false"]
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if log else subprocess.DEVNULL, preexec_fn=pin)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the app did not become healthy within {timeout} s")


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def browser_marks(pen_strokes: bool = False) -> list:
    """A real-browser test module's ``pytestmark``: marked ``browser``, skipped without Chromium
    (or, with ``pen_strokes``, without the UNIPEN strokes it replays)."""
    import shutil

    import pytest

    marks = [pytest.mark.browser,
             pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}")]
    if pen_strokes:
        marks.append(pytest.mark.skipif(not UNIPEN.exists(), reason=f"real pen strokes not found at {UNIPEN}"))
    return marks


def load_unipen(path: Path = UNIPEN) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def pick_digits(samples: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` samples spread over writers and labels, reproducibly."""
    import random

    rng = random.Random(seed)
    chosen = rng.sample(samples, min(n, len(samples)))
    return sorted(chosen, key=lambda s: (s["writer"], s["label"]))


def stroke_paths(sample: dict, size: float, scale: float = 0.65, seed: int = 0) -> list[list[tuple]]:
    """The sample's strokes in canvas pixels: scaled to ``scale`` of the canvas, shifted a little."""
    import random

    rng = random.Random(seed)
    span = size * scale
    ox = (size - span) / 2 + rng.uniform(-0.08, 0.08) * size
    oy = (size - span) / 2 + rng.uniform(-0.08, 0.08) * size
    return [[(ox + x * span, oy + y * span) for x, y in stroke] for stroke in sample["strokes"]]


def draw(page, strokes: list[list[tuple]], canvas_selector: str = "canvas.upper-canvas") -> None:
    """Draw strokes on the canvas with the mouse, as a person would."""
    canvas = page.locator(canvas_selector).first
    box = canvas.bounding_box()
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0, box["y"] + y0)
        page.mouse.down()
        for x, y in stroke[1:] or [(x0 + 1, y0 + 1)]:
            page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.up()


def prediction_text(page) -> str:
    """The text of the prediction panel ('' while it is not on the page)."""
    panel = page.locator(".st-key-prediction")
    return panel.inner_text() if panel.count() else ""


def shown_digit(page) -> str | None:
    """The digit after 'Prediction:' in the panel, or None."""
    text = prediction_text(page)
    return text.split("Prediction:", 1)[1].strip()[:1] if "Prediction:" in text else None


def app_is_running(page) -> bool:
    """Whether Streamlit is still rerunning the script (its status widget is up)."""
    return page.locator("[data-testid='stStatusWidget']").count() > 0


def wait_until_idle(page, settle: float = 0.5, timeout: float = 60.0, poll: float = 0.05) -> None:
    """Until no script run has been in flight for ``settle`` seconds (a run just asked for has begun and ended)."""
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        if app_is_running(page):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(poll)
    raise TimeoutError(f"{page.url} was still running after {timeout:.0f} s")


def wait_for_prediction(page, previous: str | None = None, timeout: float = 15.0,
                        settle: float = 0.4) -> str:
    """Wait for the prediction of the whole drawing: a digit other than ``previous``, still shown
    after ``settle`` seconds with no script run in flight (earlier strokes' reruns come first)."""
    deadline = time.monotonic() + timeout
    stable_since, last = None, None
    while time.monotonic() < deadline:
        digit = shown_digit(page)
        if digit is None or digit == previous or app_is_running(page) or digit != last:
            stable_since, last = time.monotonic(), digit
        elif time.monotonic() - stable_since >= settle:
            return digit
        time.sleep(0.02)
    raise TimeoutError(f"no settled prediction within {timeout} s (panel: {prediction_text(page)!r})")


def render_strokes(strokes: list[list[tuple]], size: int, width: int = 18, supersample: int = 4):
    """The strokes drawn offline as the canvas draws them: white, round-capped, anti-aliased, on black RGBA."""
    from PIL import Image, ImageDraw

    k = supersample
    big = Image.new("L", (size * k, size * k), 0)
    pen = ImageDraw.Draw(big)
    r = width * k / 2
    for stroke in strokes:
        points = [(x * k, y * k) for x, y in stroke]
        pen.line(points, fill=255, width=width * k, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    gray = big.resize((size, size), Image.Resampling.BOX)
    return Image.merge("RGBA", (gray, gray, gray, Image.new("L", (size, size), 255)))


def clear_canvas(page, settle: float = 0.3, timeout: float = 10.0) -> None:
    """Click Clear and wait until the prediction is gone and the app is idle, canvas reloaded."""
    page.locator(".st-key-clear_canvas button").click()
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if shown_digit(page) is not None or app_is_running(page):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.02)
    raise TimeoutError(f"Clear did not empty the prediction within {timeout} s")


def touch_draw(page, strokes: list[list[tuple]], canvas_selector: str = "canvas.upper-canvas") -> None:
    """Draw strokes with a finger: Chrome DevTools' touch events (touchStart, touchMove, touchEnd),
    as a phone sends them; the page needs ``has_touch=True``."""
    box = page.locator(canvas_selector).first.bounding_box()
    cdp = page.context.new_cdp_session(page)
    try:
        for stroke in strokes:
            points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
            if len(points) == 1:
                points.append((points[0][0] + 1, points[0][1] + 1))
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [_touch(*points[0])]})
            for x, y in points[1:]:
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [_touch(x, y)]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def _touch(x: float, y: float) -> dict:
    return {"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1, "id": 0}


# How far the page is scrolled: the window, and Streamlit's main area (which scrolls by itself).
SCROLL = """() => [window.scrollY, document.querySelector('[data-testid="stMain"]')?.scrollTop ?? 0]"""

# The height of the whole main area, however far down it scrolls.
PAGE_HEIGHT = """() => Math.ceil(Math.max(document.querySelector('[data-testid="stMain"]')?.scrollHeight ?? 0,
                                          window.innerHeight))"""

# What sticks out past the screen's right edge in the main area, making the page scroll sideways or
# running off the screen: names and how many pixels, plus whether the main area itself scrolls
# sideways. Inside a box that clips or scrolls (a table, a slider's hidden input) only that box
# counts: it is checked itself.
SIDEWAYS_OVERFLOW = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const limit = window.innerWidth + 1;
    const boxed = el => { for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return true; }
        return false; };
    const out = [];
    for (const el of main.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && r.right > limit && !boxed(el)) {
            const id = el.getAttribute('data-testid') || el.className?.baseVal || el.className || el.tagName;
            out.push(`${String(id).slice(0, 40)} +${Math.round(r.right - window.innerWidth)}px`);
        }
    }
    return {main_scrolls_sideways: main.scrollWidth > main.clientWidth + 1,
            document_scrolls_sideways: document.documentElement.scrollWidth > window.innerWidth + 1,
            sticking_out: [...new Set(out)].slice(0, 12)};
}"""
