"""The app in headless Chromium: cold start, stroke-to-prediction, drawn accuracy, many sessions at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import async_playwright

from .accuracy import offline_predictions
from .browser import clear, open_draw_page, replay, start_training, training_running
from .common import Sizes, summary
from .drawing import browser_support, render, replay_digits
from .streamlit_client import Session, data_url

PEER_APP = Path(__file__).resolve().parent / "peer_app.py"  # the tutorial's digit app
VIEWPORT = {"width": 1280, "height": 900}
POOL = 200  # replay digits the concurrent sessions draw from
PEN_SAMPLE_S = 1 / 60  # a pen or mouse reports about 60 points a second: drawing a digit takes that long
SESSION_TIMEOUT_S = 20.0  # a drawing still unanswered after this counts at this value (a lower bound)
SLOWER = 2.7  # the slower laptop of issue 23: 2.7x this machine's CPU time per drawing
CFS_PERIOD_US = 10_000  # a short quota period, so a slowed server works in small slices as a slow CPU would


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
    """The server on one core and the clients on the others, so the figures measure the server.

    ``sizes.sessions`` clients draw at once, first on an idle server, then while it trains (the job
    started from a real browser tab's sidebar, as a person would; the training process may use every
    core, as on a laptop). Then ``sizes.one_core_sessions`` clients at once; then the same clients on
    the tutorial's app (``peer_app.py``), for its server CPU and latency beside ours.
    """
    per_round = sizes.sessions * sizes.session_digits
    many = sizes.one_core_sessions * sizes.session_digits
    digits = replay_digits(POOL)
    expected = offline_digits(digits)  # what the bundled model says for the very same images
    pool = [Drawing(data_url(render(d)), sum(map(len, d.strokes)) * PEN_SAMPLE_S, e)
            for d, e in zip(digits, expected)]

    def drawings(start: int, count: int) -> list[Drawing]:
        return [pool[(start + i) % len(pool)] for i in range(count)]

    server_cpus, client_cpus = split_cores()
    results = {"concurrent_server_cores": len(server_cpus), "concurrent_client_cores": len(client_cpus),
               "concurrent_kept_apart": bool(client_cpus)}
    with tempfile.TemporaryDirectory() as models, clients_on(client_cpus):
        env = {"CONVNET_LAB_TRAIN_LIMIT": "20000", "CONVNET_LAB_MODELS": models}
        async with async_playwright() as pw:
            browser = await browser_support.launch_browser(pw)
            with browser_support.app_server(env, cpus=server_cpus) as (url, server):
                wait_ready(url)
                tab = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
                clients = [await Session.open(url, SESSION_TIMEOUT_S) for _ in range(sizes.one_core_sessions)]
                some = clients[:sizes.sessions]
                await _draw_at_once(some, drawings(0, per_round), sizes.session_digits)  # every session warm
                idle, idle_cpu = await _measured(server.pid, some, drawings(per_round, per_round), sizes)
                crowd, crowd_cpu = await _measured(server.pid, clients, drawings(2 * per_round, many), sizes)
                with slowed(server.pid, SLOWER) as slow_cgroup:
                    slow = (await _draw_at_once(some, drawings(per_round, per_round), sizes.session_digits)
                            if slow_cgroup else [])
                await start_training(tab)
                spread_children(server.pid)
                busy, busy_cpu = await _measured(server.pid, some, drawings(3 * per_round, per_round), sizes)
                still_training = await training_running(tab)
                rss_mb = rss_bytes(server.pid) / 2**20
                for client in clients:
                    await client.close()
            await browser.close()
        with browser_support.app_server(env, cpus=server_cpus, script=PEER_APP) as (url, server):
            clients = [await Session.open(url, SESSION_TIMEOUT_S) for _ in range(sizes.sessions)]
            await _draw_at_once(clients, drawings(0, per_round), sizes.session_digits)
            peer, peer_cpu = await _measured(server.pid, clients, drawings(per_round, per_round), sizes)
            for client in clients:
                await client.close()
    idle_s, busy_s, crowd_s, peer_s = (summary([a.ms for a in answers]) for answers in (idle, busy, crowd, peer))
    if slow:
        slow_s = summary([a.ms for a in slow])
        results |= {"concurrent_slow_factor": SLOWER, "concurrent_slow_p50_ms": slow_s["p50"],
                    "concurrent_slow_p95_ms": slow_s["p95"], "concurrent_slow_timeouts": unanswered(slow),
                    "concurrent_slow_wrong_answers": sum(a.digit != a.expected for a in slow if a.digit is not None)}
    ours = idle + busy + crowd
    return {**results, "concurrent_sessions": sizes.sessions, "concurrent_timeout_s": SESSION_TIMEOUT_S,
            "concurrent_client": "Streamlit websocket clients (benchmarks/streamlit_client.py); latency = the "
                                 "canvas's 200 ms send debounce + round trip to the 'Prediction:' delta",
            "concurrent_sessions_p50_ms": idle_s["p50"], "concurrent_sessions_p95_ms": idle_s["p95"],
            "concurrent_sessions_training_p50_ms": busy_s["p50"],
            "concurrent_sessions_training_p95_ms": busy_s["p95"],
            "concurrent_one_core_sessions": sizes.one_core_sessions,
            "concurrent_one_core_p50_ms": crowd_s["p50"], "concurrent_one_core_p95_ms": crowd_s["p95"],
            "concurrent_one_core_timeouts": unanswered(crowd),
            "concurrent_drawings": idle_s["n"] + busy_s["n"] + crowd_s["n"],
            "concurrent_planned": 2 * per_round + many,
            "concurrent_timeouts": unanswered(ours),
            "concurrent_wrong_answers": sum(a.digit != a.expected for a in ours if a.digit is not None),
            "server_cpu_s_per_drawing": idle_cpu / max(1, len(idle)),
            "server_cpu_s_per_drawing_one_core": crowd_cpu / max(1, len(crowd)),
            "server_cpu_s_per_drawing_training": busy_cpu / max(1, len(busy)),
            "server_rss_mb_after": rss_mb, "training_ran_throughout": still_training,
            "peer_sessions": sizes.sessions, "peer_p50_ms": peer_s["p50"], "peer_p95_ms": peer_s["p95"],
            "peer_timeouts": unanswered(peer), "peer_server_cpu_s_per_drawing": peer_cpu / max(1, len(peer)),
            "peer_wrong_answers": sum(a.digit != a.expected for a in peer if a.digit is not None)}


async def _measured(pid: int, clients: list[Session], drawings: list[Drawing], sizes: Sizes):
    """One round of ``_draw_at_once``; its answers and the server's CPU seconds over it."""
    cpu = cpu_seconds(pid)
    answers = await _draw_at_once(clients, drawings, sizes.session_digits)
    return answers, cpu_seconds(pid) - cpu


def unanswered(answers: list[Answer]) -> int:
    return sum(a.ms >= SESSION_TIMEOUT_S * 1000 for a in answers)


@contextlib.contextmanager
def slowed(pid: int, times: float):
    """The server process given ``1 / times`` of its core for the block, as on a machine ``times`` slower.

    A CFS bandwidth quota in a cgroup of its own (cgroup v1's cpu controller, or v2's ``cpu.max``):
    the server runs ``CFS_PERIOD_US / times`` microseconds in each period and waits out the rest.
    Yields the cgroup's folder, or None where cgroups cannot be written (not root, a container that
    hides them): the slow round is then left out of the results.
    """
    period, quota = CFS_PERIOD_US, int(CFS_PERIOD_US / times)
    v1 = Path("/sys/fs/cgroup/cpu")
    parent = v1 if (v1 / "cpu.cfs_quota_us").exists() else Path("/sys/fs/cgroup")
    group = parent / f"convnet-lab-slow-{pid}"
    try:
        group.mkdir()
        if parent == v1:
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (group / "cpu.max").write_text(f"{quota} {period}")
        (group / "cgroup.procs").write_text(str(pid))  # every thread of the process, and those it starts
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        yield None
        return
    try:
        yield group
    finally:
        with contextlib.suppress(OSError):
            (parent / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            group.rmdir()


def split_cores() -> tuple[set[int], set[int]]:
    """(the server's cores, the load generator's): one core for the server, the others for the clients.
    On one core both share it, and the results say so (``concurrent_kept_apart``)."""
    cores = sorted(os.sched_getaffinity(0))
    return ({cores[0]}, set(cores[1:])) if len(cores) > 1 else (set(cores), set())


@contextlib.contextmanager
def clients_on(cpus: set[int]):
    """This process (the clients, and the Chromium it starts) on ``cpus`` only, for the block."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def spread_children(pid: int) -> None:
    """Let the server's child processes (the training worker) use every core, as they would on a laptop:
    the server stays on its one."""
    every = set(range(os.cpu_count() or 1))
    for child in child_pids(pid):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(child, every)


def child_pids(pid: int) -> list[int]:
    """The process's children, from /proc."""
    children = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
    return children


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    """Until the server's warm-up is over (``/ready``), so no round times the server's start."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/ready", timeout=2).status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url}/ready did not answer 200 within {timeout_s:.0f} s")


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
