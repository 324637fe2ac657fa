"""Strict JSON for everything the project writes or prints: NaN and Infinity become null."""

from __future__ import annotations

import json
import math

import numpy as np


def json_safe(obj):
    """A copy of ``obj`` that strict JSON accepts: NaN and Infinity become None (JSON ``null``).

    Args:
        obj: dicts, lists, tuples, numbers, strings, numpy scalars and arrays, nested freely.

    Returns:
        The same structure with numpy values as plain Python ones and every non-finite float
        as None, ready for ``json.dumps(..., allow_nan=False)``.
    """
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj) -> None:
    """One line of strict JSON: NaN and Infinity, which JSON has no words for, print as null."""
    print(json.dumps(json_safe(obj), allow_nan=False))
