"""The app in headless Chromium: cold start, stroke-to-prediction, drawn accuracy, many sessions at once."""

from __future__ import annotations

import asyncio
import tempfile
import time

from playwright.async_api import async_playwright

from .accuracy import offline_predictions
from .browser import clear, open_draw_page, replay
from .common import Sizes, summary
from .drawing import browser_support, replay_digits

VIEWPORT = {"width": 1280, "height": 900}
TRAIN_ENV = "CONVNET_LAB_TRAIN_LIMIT"


def run_single(sizes: Sizes) -> dict:
    return asyncio.run(_single(sizes))


async def _single(sizes: Sizes) -> dict:
    """Cold start on a fresh server, then every replay digit drawn in one session, Clear between."""
    digits = replay_digits(sizes.drawn_digits)
    offline = offline_predictions(sizes.drawn_digits)
    async with async_playwright() as pw:
        browser = await browser_support.launch_browser(pw)
        start = time.perf_counter()
        with browser_support.running_app() as url:
            page = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
            await replay(page, digits[0])
            cold_start = time.perf_counter() - start
            await clear(page)
            results = []
            for digit in digits:
                results.append(await replay(page, digit))
                await clear(page)
        await browser.close()
    latencies = [ms for ms, _ in results if ms is not None]
    read = [digit for _, digit in results]
    stats = summary(latencies)
    return {"cold_start_s": cold_start,
            "browser_stroke_to_prediction_ms_p50": stats["p50"], "browser_stroke_to_prediction_ms_p95": stats["p95"],
            "browser_timed_digits": stats["n"],
            "drawn_accuracy": sum(r == d.label for r, d in zip(read, digits)) / len(digits),
            "drawn_disagreements": [{"index": d.index, "writer": d.writer, "label": d.label, "browser": r,
                                     "offline": o} for d, r, o in zip(digits, read, offline) if r != o]}
