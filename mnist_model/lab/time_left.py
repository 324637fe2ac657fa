"""How long a row of trainings has left, measured on the machine running them while they run.

A fixed estimate is wrong on any machine but the one it was measured on: the live data-efficiency
run once said "about 45 seconds" and took 145 on a busy server. Here every number comes from the
run itself: each kind of network's seconds per gradient step, measured on its own steps; the time a
training's first step takes (building the graph); and testing, which reads the test digits forward
only. A kind that has not trained yet borrows the measured speed of one that has, scaled by how much
slower or faster it is per step (``relative_cost``: a ratio, so it carries over from another machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TEST_SHARE = 1 / 3  # reading a batch forward costs about a third of a training step (no gradients, no update)
MEASURED_STEPS = 10  # steps a speed is measured over before it counts: the first few after tracing run slow


@dataclass(frozen=True)
class Training:
    """One training in the row."""

    kind: str  # trainings of one kind share a speed: "convnet", "dense"
    steps: int  # gradient steps
    test_steps: float  # its test afterwards, in training steps: test images / batch size x TEST_SHARE


class TimeLeft:
    """Seconds left of ``trainings``, run one after another, from what this run has measured so far.

    Args:
        trainings: in the order they run.
        relative_cost: seconds per step of each kind, in any unit: only their ratios are used.
        clock: seconds, for tests.
    """

    def __init__(self, trainings: list[Training], relative_cost: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._trainings = trainings
        self._relative = relative_cost or {}
        self._clock = clock
        self._per_step: dict[str, float] = {}  # measured seconds per step, by kind
        self._first_step_s: float | None = None  # measured: the first step of the latest training
        self._index, self._done, self._begun, self._first_at = -1, 0, 0.0, 0.0

    def begin(self, index: int) -> None:
        """Training ``index`` is about to take its first step."""
        self._index, self._done, self._begun = index, 0, self._clock()

    def step(self) -> None:
        """The current training finished one more step."""
        now = self._clock()
        self._done += 1
        if self._done == 1:  # it builds and traces the graph: a cost of its own, not a step's
            self._first_step_s, self._first_at = now - self._begun, now
        elif self._done - 1 >= MEASURED_STEPS:
            self._per_step[self._trainings[self._index].kind] = (now - self._first_at) / (self._done - 1)

    def seconds_left(self) -> float | None:
        """The estimate, or None before any speed is measured (the first MEASURED_STEPS + 1 steps)."""
        if not self._per_step or self._index < 0:
            return None
        current = self._trainings[self._index]
        left = (current.steps - self._done + current.test_steps) * self.seconds_per_step(current.kind)
        for training in self._trainings[self._index + 1:]:
            left += self._first_step_s + (training.steps + training.test_steps) * self.seconds_per_step(training.kind)
        return max(0.0, left)

    def seconds_per_step(self, kind: str) -> float:
        """Measured for ``kind``, else borrowed from a measured kind through ``relative_cost``."""
        if kind in self._per_step:
            return self._per_step[kind]
        known, seconds = next(iter(self._per_step.items()))
        return seconds * self._relative.get(kind, 1.0) / self._relative.get(known, 1.0)
