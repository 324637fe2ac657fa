"""The first student against the tenth on a freshly started server: ``python -m benchmarks.warm_start``.

Starts ``streamlit run app.py`` (as a teacher would), then opens ten sessions one after another in
Chromium; each opens the draw page and draws one real pen digit with the mouse. Per session it
times the page (from opening the address to the canvas on screen, the app idle) and the first
answer (from the last pen lift to "Prediction:" on the page, the canvas's 200 ms wait included).
``--after-warm`` waits for the server's "warm" line first, as when a teacher starts the app a
minute before the class; without it the first student arrives the moment the server answers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import browser_support  # noqa: E402

from .browser import APP_IDLE  # noqa: E402

WARM_LINE = "Convnet Lab is warm"  # what ui/warm_start.py logs once TensorFlow and the model are ready


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warm_start", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--after-warm", action="store_true", help="wait for the server's warm line first")
    parser.add_argument("--json", type=Path, help="write the timings here")
    return parser.parse_args(argv)


def start_server() -> tuple[str, subprocess.Popen, float]:
    """``streamlit run app.py`` on a free port, its output piped; (URL, process, start time)."""
    port = browser_support.free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(browser_support.ROOT / "app.py"), "--server.headless",
           "true", "--server.fileWatcherType", "none", "--server.port", str(port), "--server.address", "127.0.0.1"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=browser_support.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    browser_support.wait_healthy(url, proc, 120)
    return url, proc, started


def watch_output(proc: subprocess.Popen, text: str) -> threading.Event:
    """Read the server's output as it comes (a full pipe would stall it); the event is set at ``text``."""
    seen = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            if text in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    return seen


def one_session(browser, url: str, strokes) -> dict:
    """A fresh session: seconds to the drawn page, and from the pen lift to the first answer."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = time.monotonic()
    page.goto(url)
    page.locator("canvas.upper-canvas").first.wait_for(timeout=300_000)
    page.wait_for_function(f"() => {APP_IDLE}", timeout=300_000)
    page_s = time.monotonic() - opened
    browser_support.draw(page, strokes)
    lifted = time.monotonic()
    page.wait_for_function("() => document.querySelector('.st-key-prediction')?.innerText.includes('Prediction:')",
                           timeout=300_000, polling=20)
    answer_s = time.monotonic() - lifted
    context.close()
    return {"page_s": round(page_s, 2), "first_answer_s": round(answer_s, 2)}


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from playwright.sync_api import sync_playwright

    sample = browser_support.pick_digits(browser_support.load_unipen(), 1, seed=1)[0]
    strokes = browser_support.stroke_paths(sample, 320)
    url, proc, started = start_server()
    try:
        healthy_s = time.monotonic() - started
        warm = watch_output(proc, WARM_LINE)
        if args.after_warm and not warm.wait(300):
            raise TimeoutError(f"the server never said {WARM_LINE!r}")
        warm_s = time.monotonic() - started
        with sync_playwright() as playwright:
            browser = browser_support.launch_browser(playwright)
            sessions = [one_session(browser, url, strokes) for _ in range(args.sessions)]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    result = {"healthy_s": round(healthy_s, 1), "first_session_at_s": round(warm_s, 1),
              "after_warm": args.after_warm, "sessions": sessions}
    for i, s in enumerate(sessions, start=1):
        print(f"session {i:>2}: page {s['page_s']:6.2f} s, first answer {s['first_answer_s']:6.2f} s")
    print(f"server healthy after {healthy_s:.1f} s; first session opened at {warm_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
