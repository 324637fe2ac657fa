"""The replayed digits: real UNIPEN pen strokes laid out once, for the browser and for offline rendering.

The geometry (``stroke_paths``) and the offline pen (``render_strokes``) come from
``tests/browser_support.py``, so the browser replay and the offline rendering cannot drift apart.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import browser_support  # noqa: E402

CANVAS_SIZE = 320  # the draw page's canvas, in CSS pixels
PEN_WIDTH = 18  # the draw page's default pen width


@dataclass(frozen=True)
class Digit:
    """One UNIPEN sample placed on the canvas."""

    index: int  # position in the replay set; also seeds its placement
    writer: str
    label: int
    strokes: tuple  # polylines in canvas pixels, from stroke_paths


@functools.cache
def replay_digits(n: int, seed: int = 0) -> tuple[Digit, ...]:
    """``n`` digits spread over writers and labels, each placed with its own seeded offset."""
    samples = browser_support.pick_digits(browser_support.load_unipen(), n, seed)
    return tuple(Digit(i, s["writer"], int(s["label"]), _paths(s, i)) for i, s in enumerate(samples))


def _paths(sample: dict, seed: int) -> tuple:
    return tuple(tuple(stroke) for stroke in browser_support.stroke_paths(sample, CANVAS_SIZE, seed=seed))


def render(digit: Digit) -> np.ndarray:
    """The digit as the canvas hands it to the app: 320x320 RGBA uint8, white pen on opaque black."""
    strokes = [list(stroke) for stroke in digit.strokes]
    return np.asarray(browser_support.render_strokes(strokes, CANVAS_SIZE, PEN_WIDTH))
