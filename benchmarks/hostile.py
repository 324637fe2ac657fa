"""29 sessions draw while a 30th attacks the server: hostile model uploads and forged canvas messages.

The attacker is a real browser tab uploading every file of ``tests/hostile_models.py`` through
the sidebar, and a websocket client sending canvas messages no canvas would send (a 9000x9000
PNG, a PNG that declares 60000x60000, a 40 MB string). Measured: the other sessions' answer
latency before and during the attack, each refusal's time, the server's and its workers' peak
memory, and whether any page showed a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import websockets
from PIL import Image
from playwright.async_api import async_playwright

from .browser import open_draw_page
from .common import Sizes, summary
from .drawing import browser_support, render, replay_digits
from .sessions import PEN_SAMPLE_S, SESSION_TIMEOUT_S, VIEWPORT, Drawing, _draw_at_once, offline_digits, rss_bytes
from .streamlit_client import Session, data_url

SAMPLE_S = 0.1  # how often memory is read
REFUSED = "was not added"  # the sidebar's sentence for a refused upload


def run(sizes: Sizes) -> dict:
    return asyncio.run(_hostile(sizes))


async def _hostile(sizes: Sizes) -> dict:
    drawers = max(1, sizes.sessions - 1)
    per_round = drawers * sizes.session_digits
    digits = replay_digits(200)
    pool = [Drawing(data_url(render(d)), sum(map(len, d.strokes)) * PEN_SAMPLE_S, e)
            for d, e in zip(digits, offline_digits(digits))]
    with tempfile.TemporaryDirectory() as folder:
        files = _hostile_files(Path(folder) / "files")
        env = {"CONVNET_LAB_MODELS": str(Path(folder) / "models")}
        async with async_playwright() as pw:
            browser = await browser_support.launch_browser(pw)
            with browser_support.app_server(env) as (url, server):
                tab = await open_draw_page(await browser.new_context(viewport=VIEWPORT), url)
                clients = [await Session.open(url, SESSION_TIMEOUT_S) for _ in range(drawers)]
                calm = await _draw_at_once(clients, _cycle(pool, per_round, 0), sizes.session_digits)
                peaks = {"server": 0, "workers": 0}
                watch = asyncio.create_task(_watch(server.pid, peaks))
                attack = asyncio.create_task(_attack(tab, url, files))
                busy, rounds = [], 0
                while not attack.done() or rounds == 0:
                    rounds += 1
                    busy += await _draw_at_once(clients, _cycle(pool, per_round, rounds), sizes.session_digits)
                refusals = await attack
                watch.cancel()
                for client in clients:
                    await client.close()
            await browser.close()
    calm_s, busy_s = summary([a.ms for a in calm]), summary([a.ms for a in busy])
    return {"hostile_sessions_drawing": drawers, "hostile_calm_p50_ms": calm_s["p50"],
            "hostile_calm_p95_ms": calm_s["p95"], "hostile_attack_p50_ms": busy_s["p50"],
            "hostile_attack_p95_ms": busy_s["p95"], "hostile_attack_max_ms": max(a.ms for a in busy),
            "hostile_drawings_during_attack": len(busy),
            "hostile_wrong_answers": sum(a.digit != a.expected for a in calm + busy if a.digit is not None),
            "hostile_unanswered": sum(a.digit is None for a in calm + busy),
            "hostile_attacks": len(refusals), "hostile_not_refused": sum(not r["refused"] for r in refusals),
            "hostile_refusal_max_s": max(r["seconds"] for r in refusals),
            "hostile_tracebacks": sum(r["traceback"] for r in refusals),
            "hostile_server_peak_mb": peaks["server"] / 2**20, "hostile_worker_peak_mb": peaks["workers"] / 2**20,
            "hostile_p95_ms_by_attack": _p95_during(busy, refusals), "hostile_refusals": refusals}


def _p95_during(answers, refusals: list[dict]) -> dict[str, float | None]:
    """The other sessions' p95 while each attack ran (answers that arrived between its start and its end)."""
    found = {}
    for r in refusals:
        during = [a.ms for a in answers if r["start"] <= a.at <= r["end"]]
        found[r["attack"]] = round(float(np.percentile(during, 95)), 1) if during else None
    return found


def _cycle(pool: list[Drawing], n: int, round_: int) -> list[Drawing]:
    start = (round_ * n) % len(pool)
    return [pool[(start + i) % len(pool)] for i in range(n)]


def _hostile_files(folder: Path) -> dict[str, Path]:
    from hostile_models import build_all  # tests/ is on the path (benchmarks.drawing puts it there)

    from mnist_model.engine.network import build_convnet

    folder.mkdir(parents=True)
    build_convnet((4, 8, 8), 16).save(folder / "good.keras")
    return build_all(folder / "good.keras", folder / "hostile")


async def _attack(tab, url: str, files: dict[str, Path]) -> list[dict]:
    """Every hostile upload through the sidebar, then every forged canvas message; one record each."""
    records = []
    await tab.get_by_text("Upload, rename or delete").click()
    uploader = tab.locator(".st-key-model_upload input[type='file']")
    for name, path in files.items():
        start = time.perf_counter()
        await uploader.set_input_files(str(path))
        refused = await _refused(tab, path.name)
        records.append({"attack": f"upload: {name}", "refused": refused, "start": start, "end": time.perf_counter(),
                        "seconds": round(time.perf_counter() - start, 2), "traceback": await _traceback(tab)})
    for name, message in _forged_canvases().items():
        attacker = await Session.open(url, SESSION_TIMEOUT_S)  # a fresh one each time: the server may hang up
        start = time.perf_counter()
        try:
            text = await attacker.send_canvas(message, SESSION_TIMEOUT_S)
        except websockets.ConnectionClosed as closed:  # refused by the server's websocket before the app saw it
            text = f"connection closed by the server: {closed.rcvd.reason if closed.rcvd else closed}"
        records.append({"attack": f"canvas: {name}", "refused": text is not None and "Prediction:" not in text,
                        "said": text, "seconds": round(time.perf_counter() - start, 2), "start": start,
                        "end": time.perf_counter(),
                        "traceback": bool(text) and "Traceback" in text})
        with contextlib.suppress(websockets.ConnectionClosed):
            await attacker.close()
    return records


async def _refused(tab, file_name: str, timeout_s: float = 120.0) -> bool:
    """Wait for the sidebar's sentence refusing ``file_name`` (one the worker refuses takes a while)."""
    refusal = tab.locator("[data-testid='stSidebar'] [data-testid='stAlert']").filter(has_text=REFUSED) \
        .filter(has_text=file_name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await refusal.count() or await _traceback(tab):
            return bool(await refusal.count())
        await asyncio.sleep(0.2)
    return False


async def _traceback(tab) -> bool:
    return await tab.evaluate("() => document.body.innerText.includes('Traceback')") or \
        await tab.locator("[data-testid='stException']").count() > 0


def _forged_canvases() -> dict[str, str]:
    """Canvas data URLs no canvas sends."""
    big = io.BytesIO()
    Image.fromarray(np.zeros((9000, 9000), np.uint8)).save(big, "PNG")
    canvas = _encoded(np.zeros((320, 320, 4), np.uint8), "PNG")
    return {"9000x9000 PNG": "data:image/png;base64," + base64.b64encode(big.getvalue()).decode(),
            "PNG declaring 60000x60000": "data:image/png;base64," + base64.b64encode(_declaring(60000)).decode(),
            "40 MB of text": "data:image/png;base64," + "A" * (40 * 2**20),
            "250,000 empty chunks": _png_url(canvas[:33] + _chunk(b"zzZz", b"") * 250_000 + canvas[33:]),
            "200,000 tEXt chunks": _png_url(canvas[:33] + _chunk(b"tEXt", b"k\x00v") * 200_000 + canvas[33:]),
            "JPEG bytes": _png_url(_encoded(np.zeros((320, 320, 3), np.uint8), "JPEG")),
            "16-bit PNG": _png_url(_encoded(np.zeros((320, 320), np.uint16), "PNG"))}


def _encoded(pixels: np.ndarray, kind: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, kind)
    return out.getvalue()


def _png_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _declaring(side: int) -> bytes:
    """A PNG header declaring ``side`` x ``side`` RGBA pixels, with a few bytes of image data."""
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + \
        _chunk(b"IEND", b"")


async def _watch(pid: int, peaks: dict) -> None:
    """Keep the largest resident memory seen of the server and of its worker processes."""
    while True:
        peaks["server"] = max(peaks["server"], _safe_rss(pid))
        peaks["workers"] = max(peaks["workers"], sum(_safe_rss(child) for child in _children(pid)))
        await asyncio.sleep(SAMPLE_S)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _safe_rss(pid: int) -> int:
    try:
        return rss_bytes(pid)
    except (OSError, StopIteration):
        return 0

