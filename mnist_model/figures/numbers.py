"""How the app writes numbers for people: a probability never rounded into a certainty, and a
change of a percentage in points ("+0.26 points": 99.18% to 99.44%, not "+0.26%")."""

from __future__ import annotations

import math

import numpy as np


def percent(value: float, decimals: int = 1, exact: bool = False) -> str:
    """A probability or a share as a percentage that never claims more than it is.

    A softmax never reaches 0 or 1, so a probability that rounds to 100% is written
    ">99.9%" and one that rounds to 0% "<0.1%". A share of digits read right can be exactly
    1 or 0: with ``exact``, 1.0 is "100%" and 0.0 is "0%"; anything short of them still
    shows ">99.9%" or "<0.1%".

    Args:
        value: a number from 0 to 1.
        decimals: digits after the point, 0 to 3.
        exact: the value can be exactly 0 or 1 (a count's share), not only come close.

    Returns:
        "12.3%", ">99.9%", "<0.1%", or with ``exact`` "100%" / "0%".
    """
    value = float(value)
    step = 10.0 ** -decimals  # in percent: 0.1 for one decimal
    top, bottom = f">{100 - step:.{decimals}f}%", f"<{step:.{decimals}f}%"
    if exact and value in (0.0, 1.0):
        return f"{value:.0%}"
    if round(value * 100, decimals) >= 100:
        return top
    if round(value * 100, decimals) <= 0:
        return bottom if value > 0 or not exact else "0%"
    return f"{value * 100:.{decimals}f}%"


def points(change: float, decimals: int = 2) -> str:
    """A difference of two percentages (given as fractions) in percentage points, signed.

    "+0.26 points", "-1.50 points"; a change that rounds to nothing is "no change" when it
    is 0 and "under 0.01 points" otherwise, without a sign an arrow would be drawn from.
    """
    amount = float(change) * 100
    if round(abs(amount), decimals) == 0:
        return "no change" if amount == 0 else f"under {10.0 ** -decimals:.{decimals}f} points"
    word = "point" if f"{abs(amount):.{decimals}f}" == "1" else "points"
    return f"{amount:+.{decimals}f} {word}"


def visible(change: float, decimals: int = 2) -> bool:
    """Whether ``points(change, decimals)`` shows a signed change (worth a coloured arrow)."""
    return math.isfinite(change) and round(abs(float(change) * 100), decimals) > 0


SURE_DECIMALS = 1  # every page says how sure a model is with one decimal: "87.3% sure", ">99.9% sure"


def sure(probability: float) -> str:
    """How sure a model is of its answer, written the same way on every page: "87.3% sure", ">99.9% sure"."""
    return f"{percent(probability, SURE_DECIMALS)} sure"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """A whole number of things in words: "1 drawing", "0 drawings", "1,234 drawings"."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def share(right: int, total: int) -> str:
    """A count's share as a percentage: "100%" only when all ``total`` are right, else at most ">99%"."""
    return "–" if not total else percent(right / total, 0, exact=True)


def ink_words(image, level: float = 0.1) -> str:
    """A picture's text alternative in numbers: "28x28 pixels, 112 of them ink, in rows 4-23 and columns 6-20".

    Args:
        image: a 2-D array of brightness from 0 to 1 (or 0 to 255, as uint8).
        level: the brightness, as a share of the largest possible, from which a pixel counts as ink.
    """
    image = np.asarray(image)
    bright = image / 255.0 if image.dtype == np.uint8 else image.astype(float)
    ink = bright >= level
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    size = f"{image.shape[0]}x{image.shape[1]} pixels"
    if not len(rows):
        return f"{size}, no ink"
    return (f"{size}, {count(int(ink.sum()), 'pixel')} of ink in rows {rows[0]}-{rows[-1]} and columns "
            f"{cols[0]}-{cols[-1]}")
