"""A class's drawings as a data set to keep: an npz in MNIST's layout and a CSV of what was sent."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .db import Store
from .summary import DrawingRecord, class_drawings, student_numbers

CSV_COLUMNS = ("id", "student", "intended", "predicted", "confidence", "created")


def drawing_arrays(records: list[DrawingRecord]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Drawings as MNIST-style arrays: images (N, 28, 28) uint8, intended digits (N,) uint8, student ids."""
    x = np.stack([r.image for r in records]) if records else np.zeros((0, 28, 28), np.uint8)
    return x, np.array([r.intended for r in records], np.uint8), [r.student for r in records]


def export_npz(store: Store, code: str, path: str | os.PathLike) -> int:
    """Write a class's drawings as an npz in MNIST's layout (``x`` uint8 N x 28 x 28, ``y`` intended digits).

    Returns:
        How many drawings were written.
    """
    x, y, _ = drawing_arrays(class_drawings(store, code))
    _write_atomically(Path(path), lambda f: np.savez_compressed(f, x=x, y=y), binary=True)
    return len(y)


def export_csv(store: Store, code: str, path: str | os.PathLike) -> int:
    """Write one CSV row per drawing of a class (CSV_COLUMNS).

    The ``student`` column is the student's public number in the class (1 for the first to
    join; see ``student_numbers``), never the secret id that withdraws drawings, nor a nickname.

    Returns:
        How many drawings were written.
    """
    records = class_drawings(store, code)
    numbers = student_numbers(store, code)

    def write(f):
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        out.writerows((r.id, numbers[r.student], r.intended, r.predicted, f"{r.confidence:.6f}",
                       r.created.isoformat(timespec="seconds")) for r in records)

    _write_atomically(Path(path), write, binary=False)
    return len(records)


def _write_atomically(path: Path, write: Callable, binary: bool) -> None:
    """``write(file)`` into a temp file beside ``path``, then move it over ``path``: never half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "wb" if binary else "w", newline=None if binary else "") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; an export is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
