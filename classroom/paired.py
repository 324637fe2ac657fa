"""Accuracy before and after, on the same drawings: how sure the difference is.

A class fine-tune is checked on a few dozen held-out drawings, so its accuracies move by
several points from chance alone. Each accuracy gets a Wilson 95% interval; the change,
measured on the same drawings twice, gets Newcombe's interval for paired proportions
(his method 10, built from the two Wilson intervals and the correlation of the pairs, with
the correlation continuity-corrected: simulated fine-tune checks of 20 to 200 drawings
are covered at least 95% of the time, where the uncorrected one fell to 90% when the
changes all went one way). A change whose interval holds 0 is within noise.

One student's drawings are alike: read right or wrong together, they are not independent
tries. When the counts come with each student's own (``clusters``), every interval is
widened to hold a bootstrap over students as well: the students are drawn again with
replacement (``BOOTSTRAP`` times), each bringing all their drawings, and the middle 95%
of the resampled accuracies and changes is kept. An interval is the wider of the two, so
it never claims more than the drawings alone, nor more than the students allow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
BOOTSTRAP = 2000  # resamples of the students for the cluster bootstrap
SEED = 0  # the bootstrap's resamples: the same counts always give the same interval


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for ``k`` successes in ``n`` tries; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairedAccuracy:
    """The same items read before and after: how many each way."""

    both: int  # right before and after
    lost: int  # right before, wrong after
    gained: int  # wrong before, right after
    neither: int  # wrong both times
    clusters: tuple[tuple[int, int, int, int], ...] = ()  # the same four counts per student; () for independent items

    def __post_init__(self):
        clusters = tuple(tuple(int(c) for c in cluster) for cluster in self.clusters)  # also from JSON's lists
        object.__setattr__(self, "clusters", clusters)
        if clusters and (any(len(c) != 4 for c in clusters)
                         or tuple(map(sum, zip(*clusters))) != (self.both, self.lost, self.gained, self.neither)):
            raise ValueError(f"clusters must be (both, lost, gained, neither) per student and add up to "
                             f"{(self.both, self.lost, self.gained, self.neither)}, got {clusters}")

    @classmethod
    def from_right(cls, before: np.ndarray, after: np.ndarray, groups=None) -> PairedAccuracy:
        """From two boolean arrays: was each item read right before, and after; ``groups`` (one label per
        item, such as the student who drew it) makes the intervals count each group as one unit."""
        before, after = np.asarray(before, bool), np.asarray(after, bool)
        if before.shape != after.shape or before.ndim != 1:
            raise ValueError(f"before and after must be 1-D and the same length, got {before.shape} {after.shape}")
        clusters = ()
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != before.shape:
                raise ValueError(f"groups must give one label per item, got {groups.shape} for {before.shape}")
            clusters = tuple(_counts(before[groups == g], after[groups == g]) for g in np.unique(groups))
        return cls(*_counts(before, after), clusters=clusters)

    def method(self) -> str:
        """How the intervals count, in words, for the caption beside them."""
        if len(self.clusters) < 2:
            return "95% intervals, each drawing counted as independent"
        return (f"95% intervals with each of the {len(self.clusters)} students as one unit (a bootstrap over "
                f"students, {BOOTSTRAP:,} resamples, or the interval for independent drawings where that is wider)")

    @property
    def n_clusters(self) -> int:
        """How many students the intervals count as units; 0 when the items count one by one."""
        return len(self.clusters)

    @property
    def n(self) -> int:
        return self.both + self.lost + self.gained + self.neither

    @property
    def before(self) -> float:
        return (self.both + self.lost) / self.n if self.n else float("nan")

    @property
    def after(self) -> float:
        return (self.both + self.gained) / self.n if self.n else float("nan")

    @property
    def difference(self) -> float:
        """After minus before, as a share (0.062 is 6.2 points)."""
        return (self.gained - self.lost) / self.n if self.n else float("nan")

    def before_interval(self) -> tuple[float, float]:
        return _wider(wilson(self.both + self.lost, self.n), self._bootstrap[0])

    def after_interval(self) -> tuple[float, float]:
        return _wider(wilson(self.both + self.gained, self.n), self._bootstrap[1])

    def difference_interval(self) -> tuple[float, float]:
        """Newcombe's 95% interval for after minus before (method 10), widened by the bootstrap over students."""
        return _wider(self._newcombe(), self._bootstrap[2])

    @cached_property
    def _bootstrap(self) -> tuple[tuple[float, float] | None, ...]:
        """The middle 95% of before, after and their difference over students drawn again; Nones without
        at least two students."""
        if len(self.clusters) < 2:
            return None, None, None
        counts = np.array(self.clusters, np.int64)
        picks = np.random.default_rng(SEED).integers(0, len(counts), (BOOTSTRAP, len(counts)))
        both, lost, gained, _ = counts[picks].sum(axis=1).T
        n = counts[picks].sum(axis=(1, 2))
        before, after = (both + lost) / n, (both + gained) / n
        return tuple((float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) for v in (before, after,
                                                                                            after - before))

    def _newcombe(self) -> tuple[float, float]:
        if not self.n:
            return -1.0, 1.0
        p1, p2 = self.before, self.after
        (l1, u1), (l2, u2) = wilson(self.both + self.lost, self.n), wilson(self.both + self.gained, self.n)
        phi = self._phi()
        below = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
        above = math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
        return max(-1.0, self.difference - below), min(1.0, self.difference + above)

    def _phi(self) -> float:
        """The correlation of right-before and right-after over the items, a positive one lowered by half an
        item (Newcombe's correction); 0 when either reading never varies."""
        a, b, c, d = self.both, self.lost, self.gained, self.neither
        spread = (a + b) * (c + d) * (a + c) * (b + d)
        if not spread:
            return 0.0
        agree = a * d - b * c
        return (max(0.0, agree - self.n / 2) if agree > 0 else agree) / math.sqrt(spread)

    @property
    def within_noise(self) -> bool:
        """Whether the difference's interval holds 0: these items cannot tell better from worse."""
        low, high = self.difference_interval()
        return low <= 0 <= high

    def to_dict(self) -> dict:
        return asdict(self)


def _counts(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    return (int((before & after).sum()), int((before & ~after).sum()), int((~before & after).sum()),
            int((~before & ~after).sum()))


def _wider(interval: tuple[float, float], other: tuple[float, float] | None) -> tuple[float, float]:
    """The smallest interval holding both (``other`` None: ``interval`` as it is)."""
    return interval if other is None else (min(interval[0], other[0]), max(interval[1], other[1]))
