"""A minimal Streamlit client on the app's websocket: what a browser tab sends and waits for, minus rendering.

Twenty headless Chromium tabs on two cores spend the CPU on plotly and React, not on the server under
test; these clients send exactly what the draw page's canvas sends (its PNG data URL in the canvas
widget's JSON state), poll the training fragment as the browser does, and time the server's answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time

import numpy as np
import websockets
from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

HINT = "Draw a digit on the black canvas"  # the prediction panel's text while the canvas is empty
EMPTY_CANVAS = {"drawing": {"raw": {"objects": []}, "data": None}, "backgroundFit": None}
CANVAS_DEBOUNCE_MS = 200  # the canvas sends a drawing 200 ms after the pen lifts (streamlit-drawable-canvas)


def data_url(rgba: np.ndarray) -> str:
    """The canvas's own encoding of a drawing: a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class Session:
    """One user's session: opens the draw page, draws, clears, and polls like the browser."""

    def __init__(self, ws):
        self.ws = ws
        self.widget_ids: dict[str, str] = {}  # user key -> Streamlit widget id, learnt from the page
        self.fragments: dict[str, str] = {}  # user key -> the fragment the widget lives in, if any
        self.canvas = EMPTY_CANVAS
        self.poll: tuple[str, float] | None = None  # (fragment id, seconds) the page asks to be rerun at
        self.texts: list[tuple[float, str]] = []  # (arrival time, text) of markdown and alerts
        self.alerts: list[tuple[float, str]] = []  # (arrival time, text) of alerts alone
        self._arrived = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._poll())]

    @classmethod
    async def open(cls, url: str, timeout_s: float) -> Session:
        ws = await websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream",
                                      subprotocols=["streamlit"], max_size=None)
        session = cls(ws)
        start = time.perf_counter()
        await session._send()
        await session._wait_text(HINT, start, timeout_s)
        return session

    async def draw(self, url: str, timeout_s: float) -> tuple[float, int]:
        """Send a drawing; milliseconds until its prediction arrives (the canvas's debounce included),
        and the digit the page says."""
        self.canvas = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}
        start = time.perf_counter()
        await self._send(fragment_id=self.fragments.get("canvas", ""))
        arrived, text = await self._wait_text("# Prediction:", start, timeout_s)
        return CANVAS_DEBOUNCE_MS + (arrived - start) * 1000, int(text.removeprefix("# Prediction:"))

    async def send_canvas(self, url: str, timeout_s: float) -> str | None:
        """Send any canvas data URL (a forged one too); the first prediction or alert the page answers with,
        None if none came. The canvas is cleared afterwards."""
        self.canvas = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}
        start = time.perf_counter()
        await self._send(fragment_id=self.fragments.get("canvas", ""))
        deadline = time.perf_counter() + timeout_s
        answer = None
        while answer is None and time.perf_counter() < deadline and not self._tasks[0].done():  # reader alive
            found = [text for t, text in self.alerts if t >= start] + \
                [text for t, text in self.texts if t >= start and text.startswith("# Prediction:")]
            answer = found[0] if found else None
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.5)
        with contextlib.suppress(asyncio.TimeoutError, KeyError):
            await self.clear(timeout_s)
        return answer

    async def clear(self, timeout_s: float) -> None:
        """Press Clear and wait for the empty-canvas hint."""
        start = time.perf_counter()
        await self._send(trigger="clear_canvas", fragment_id=self.fragments.get("clear_canvas", ""))
        self.canvas = EMPTY_CANVAS
        await self._wait_text(HINT, start, timeout_s)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    async def _send(self, trigger: str | None = None, fragment_id: str = "", auto: bool = False) -> None:
        """A rerun request as the browser sends it: all widget states, and the fragment to rerun
        when the widget that changed lives in one (then only that fragment runs on the server)."""
        msg = BackMsg()
        msg.rerun_script.fragment_id = fragment_id
        msg.rerun_script.is_auto_rerun = auto
        states = msg.rerun_script.widget_states.widgets
        if "canvas" in self.widget_ids:
            states.append(WidgetState(id=self.widget_ids["canvas"], json_value=json.dumps(self.canvas)))
        if trigger:
            states.append(WidgetState(id=self.widget_ids[trigger], trigger_value=True))
        await self.ws.send(msg.SerializeToString())

    async def _wait_text(self, prefix: str, since: float, timeout_s: float) -> tuple[float, str]:
        """The arrival time and text of the first text starting with ``prefix`` sent after ``since``."""
        deadline = time.perf_counter() + timeout_s
        while True:
            found = [(t, text) for t, text in self.texts if t >= since and text.startswith(prefix)]
            if found:
                return found[0]
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - time.perf_counter()))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self._receive(raw)

    def _receive(self, raw: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "auto_rerun":
            self.poll = (msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)

    def _element(self, element, fragment_id: str) -> None:
        kind = element.WhichOneof("type")
        inner = getattr(element, kind)
        widget_id = getattr(inner, "id", "")
        if widget_id.startswith("$$ID-"):
            user_key = widget_id.rsplit("-", 1)[1]
            self.widget_ids[user_key] = widget_id
            self.fragments[user_key] = fragment_id
        if kind in ("markdown", "alert"):
            self.texts.append((time.perf_counter(), inner.body))
            if kind == "alert":
                self.alerts.append((time.perf_counter(), inner.body))
            self._arrived.set()

    async def _poll(self) -> None:
        """Rerun the page's polling fragment at the interval it asked for, as the browser's timer does."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self.poll[1] if self.poll else 1.0)
                if self.poll:
                    await self._send(fragment_id=self.poll[0], auto=True)
