"""The app in headless Chromium: cold start, stroke-to-prediction, drawn accuracy, many sessions at once."""

from __future__ import annotations

import asyncio
import os
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
    digits = replay_digits(POOL)[:2 * per_round]
    expected = offline_digits(digits)  # what the bundled model says for the very same images
    pool = [Drawing(data_url(render(d)), sum(map(len, d.strokes)) * PEN_SAMPLE_S, e)
            for d, e in zip(digits, expected)]
    with tempfile.TemporaryDirectory() as models:
        env = {"CONVNET_LAB_TRAIN_LIMIT": "20000", "CONVNET_LAB_MODELS": models}
        async with async_playwright() as pw:
            browser = await browser_support.launch_browser(pw)
            with browser_support.app_server(env) as (url, server):
                tab = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
                clients = [await Session.open(url, SESSION_TIMEOUT_S) for _ in range(sizes.sessions)]
                cpu = cpu_seconds(server.pid)
                idle = await _draw_at_once(clients, pool[:per_round], sizes.session_digits)
                idle_cpu = cpu_seconds(server.pid) - cpu
                await start_training(tab)
                cpu = cpu_seconds(server.pid)
                busy = await _draw_at_once(clients, pool[per_round:2 * per_round], sizes.session_digits)
                busy_cpu = cpu_seconds(server.pid) - cpu
                still_training = await training_running(tab)
                rss_mb = rss_bytes(server.pid) / 2**20
                for client in clients:
                    await client.close()
            await browser.close()
    idle_s, busy_s = summary([a.ms for a in idle]), summary([a.ms for a in busy])
    return {"concurrent_sessions": sizes.sessions, "concurrent_timeout_s": SESSION_TIMEOUT_S,
            "concurrent_client": "Streamlit websocket clients (benchmarks/streamlit_client.py); latency = the "
                                 "canvas's 200 ms send debounce + round trip to the 'Prediction:' delta",
            "concurrent_sessions_p50_ms": idle_s["p50"], "concurrent_sessions_p95_ms": idle_s["p95"],
            "concurrent_sessions_training_p50_ms": busy_s["p50"],
            "concurrent_sessions_training_p95_ms": busy_s["p95"],
            "concurrent_drawings": idle_s["n"] + busy_s["n"], "concurrent_planned": 2 * per_round,
            "concurrent_timeouts": sum(a.ms >= SESSION_TIMEOUT_S * 1000 for a in idle + busy),
            "concurrent_wrong_answers": sum(a.digit != a.expected for a in idle + busy if a.digit is not None),
            "server_cpu_s_per_drawing": idle_cpu / max(1, len(idle)),
            "server_cpu_s_per_drawing_training": busy_cpu / max(1, len(busy)),
            "server_rss_mb_after": rss_mb, "training_ran_throughout": still_training}


def offline_digits(digits) -> list[int]:
    """The bundled model's answer for each digit rendered as the canvas sends it, preprocessed by the app."""
    import numpy as np

    from mnist_model.engine.preprocess import canvas_to_mnist

    from .common import bundled_predictor

    images = np.stack([canvas_to_mnist(render(d)).image for d in digits])
    return [int(p.argmax()) for p in bundled_predictor().forward(images)[-1]]


def rss_bytes(pid: int) -> int:
    """Resident memory of one process."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its own threads; a training subprocess is not counted)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drawing:
    """A digit as the canvas sends it, and how long a hand takes to draw it."""

    url: str  # PNG data URL
    seconds: float  # time to draw it before the pen lifts
    expected: int  # the digit the bundled model gives this very image offline


@dataclass(frozen=True)
class Answer:
    """One drawing's round trip: how long it took, what came back and what should have."""

    ms: float  # pen lift to prediction shown; the timeout when none came
    digit: int | None  # the predicted digit the page showed; None when none came
    expected: int
    at: float = 0.0  # time.perf_counter() when the answer came (or the wait ended)


async def _draw_at_once(clients: list[Session], drawings: list[Drawing], per_client: int) -> list[Answer]:
    """Every client draws its share of ``drawings`` one after another, all clients at the same time."""
    shares = [drawings[i * per_client:(i + 1) * per_client] for i in range(len(clients))]
    results = await asyncio.gather(*(_session(client, share) for client, share in zip(clients, shares)))
    return [answer for answers in results for answer in answers]


async def _session(client: Session, drawings: list[Drawing]) -> list[Answer]:
    """One client's drawings in turn, each after the time a hand takes to draw it, Clear between.

    A drawing left unanswered counts at the timeout; the client then stops, its page in an unknown state.
    """
    answers = []
    for drawing in drawings:
        await asyncio.sleep(drawing.seconds)
        try:
            ms, digit = await client.draw(drawing.url, SESSION_TIMEOUT_S)
            answers.append(Answer(ms, digit, drawing.expected, time.perf_counter()))
            await client.clear(SESSION_TIMEOUT_S)
        except asyncio.TimeoutError:
            missed = Answer(SESSION_TIMEOUT_S * 1000, None, drawing.expected, time.perf_counter())
            return [*answers, missed][:len(drawings)]
    return answers
