"""The app in headless Chromium: cold start, stroke-to-prediction, drawn accuracy, many sessions at once."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass

from playwright.async_api import async_playwright

from .accuracy import offline_predictions
from .browser import clear, open_draw_page, replay, start_training, training_running
from .common import Sizes, summary
from .drawing import browser_support, render, replay_digits
from .streamlit_client import Session, data_url

VIEWPORT = {"width": 1280, "height": 900}
POOL = 200  # replay digits the concurrent sessions draw from
PEN_SAMPLE_S = 1 / 60  # a pen or mouse reports about 60 points a second: drawing a digit takes that long
SESSION_TIMEOUT_S = 20.0  # a drawing still unanswered after this counts at this value (a lower bound)


def run_single(sizes: Sizes) -> dict:
    return asyncio.run(_single(sizes))


def run_concurrent(sizes: Sizes) -> dict:
    return asyncio.run(_concurrent(sizes))


async def _single(sizes: Sizes) -> dict:
    """Cold start on a fresh server, then every replay digit drawn in one session, Clear between."""
    digits = replay_digits(sizes.drawn_digits)
    offline = offline_predictions(sizes.drawn_digits)
    async with async_playwright() as pw:
        browser = await browser_support.launch_browser(pw)
        start = time.perf_counter()
        with browser_support.running_app() as url:
            page = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
            ready = time.perf_counter() - start
            first_ms, _ = await replay(page, digits[0])
            await clear(page)
            results = []
            for digit in digits:
                results.append(await replay(page, digit))
                await clear(page)
        await browser.close()
    read = [digit for _, digit in results]
    stats = summary([ms for ms, _ in results if ms is not None])
    return {"cold_start_s": ready + first_ms / 1000, "cold_start_page_ready_s": ready,
            "browser_stroke_to_prediction_ms_p50": stats["p50"],
            "browser_stroke_to_prediction_ms_p95": stats["p95"], "browser_timed_digits": stats["n"],
            "drawn_accuracy": sum(r == d.label for r, d in zip(read, digits)) / len(digits),
            "drawn_disagreements": [{"index": d.index, "writer": d.writer, "label": d.label, "browser": r,
                                     "offline": o} for d, r, o in zip(digits, read, offline) if r != o]}


async def _concurrent(sizes: Sizes) -> dict:
    """``sizes.sessions`` clients drawing at once, first on an idle server, then while it trains.

    The training job is started from a real browser tab's sidebar, as a person would.
    """
    per_round = sizes.sessions * sizes.session_digits
    pool = [Drawing(data_url(render(d)), sum(map(len, d.strokes)) * PEN_SAMPLE_S)
            for d in replay_digits(POOL)[:2 * per_round]]
    with tempfile.TemporaryDirectory() as models:
        env = {"CONVNET_LAB_TRAIN_LIMIT": "20000", "CONVNET_LAB_MODELS": models}
        async with async_playwright() as pw:
            browser = await browser_support.launch_browser(pw)
            with browser_support.running_app(env) as url:
                tab = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
                clients = [await Session.open(url, SESSION_TIMEOUT_S) for _ in range(sizes.sessions)]
                idle = await _draw_at_once(clients, pool[:per_round], sizes.session_digits)
                await start_training(tab)
                busy = await _draw_at_once(clients, pool[per_round:2 * per_round], sizes.session_digits)
                still_training = await training_running(tab)
                for client in clients:
                    await client.close()
            await browser.close()
    idle_s, busy_s = summary(idle), summary(busy)
    return {"concurrent_sessions": sizes.sessions,
            "concurrent_client": "Streamlit websocket clients (benchmarks/streamlit_client.py); latency = the "
                                 "canvas's 200 ms send debounce + round trip to the 'Prediction:' delta",
            "concurrent_sessions_p50_ms": idle_s["p50"], "concurrent_sessions_p95_ms": idle_s["p95"],
            "concurrent_sessions_training_p50_ms": busy_s["p50"],
            "concurrent_sessions_training_p95_ms": busy_s["p95"],
            "concurrent_drawings": idle_s["n"] + busy_s["n"], "concurrent_planned": 2 * per_round,
            "concurrent_timeouts": sum(ms >= SESSION_TIMEOUT_S * 1000 for ms in idle + busy),
            "training_ran_throughout": still_training}


@dataclass(frozen=True)
class Drawing:
    """A digit as the canvas sends it, and how long a hand takes to draw it."""

    url: str  # PNG data URL
    seconds: float  # time to draw it before the pen lifts


async def _draw_at_once(clients: list[Session], drawings: list[Drawing], per_client: int) -> list[float]:
    """Every client draws its share of ``drawings`` one after another, all clients at the same time."""
    shares = [drawings[i * per_client:(i + 1) * per_client] for i in range(len(clients))]
    results = await asyncio.gather(*(_session(client, share) for client, share in zip(clients, shares)))
    return [ms for latencies in results for ms in latencies]


async def _session(client: Session, drawings: list[Drawing]) -> list[float]:
    """One client's drawings in turn, each after the time a hand takes to draw it, Clear between.

    A drawing left unanswered counts at the timeout; the client then stops, its page in an unknown state.
    """
    latencies = []
    for drawing in drawings:
        await asyncio.sleep(drawing.seconds)
        try:
            latencies.append(await client.draw(drawing.url, SESSION_TIMEOUT_S))
            await client.clear(SESSION_TIMEOUT_S)
        except asyncio.TimeoutError:
            return [*latencies, SESSION_TIMEOUT_S * 1000][:len(drawings)]
    return latencies
