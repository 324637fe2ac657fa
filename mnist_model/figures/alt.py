"""Text alternatives: each chart in one sentence, with its numbers, from the arrays it is drawn from.

A screen reader reads these out where a person would look at the chart (``st.plotly_chart(..., alt=...)``).
They are built on every rerun of every student's page, so they only pick numbers out of the
arrays at hand (a maximum, an argsort of ten), never compute anything new.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .classroom import counts_words
from .explain import Overlay
from .numbers import count, ink_words, percent

INK_LEVEL = 0.1  # brightness from which a pixel counts as ink, as in ``ink_words``
VISIBLE = 0.05  # a signed map's colour is worth naming from this share of its largest value (fainter looks clear)


def _and(words: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _numbered(noun: str, numbers: Sequence[int]) -> str:
    """"filter 4", "filters 4 and 9"."""
    return f"{noun if len(numbers) == 1 else noun + 's'} {_and([str(i) for i in numbers])}"


def _at(row: int, col: int) -> str:
    return f"row {row}, column {col}"


def _peak(values: np.ndarray) -> tuple[int, int]:
    """Where a 2-D array is largest, NaN left out (the array has a number somewhere)."""
    return tuple(int(i) for i in np.unravel_index(int(np.nanargmax(values)), values.shape))


def _size(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def probabilities_alt(probs: np.ndarray, what: str = "the probability of each digit") -> str:
    """``probability_bars`` in words: "Bar chart of the probability of each digit: 3 at 99.2%, then 8 at 0.5% and
    5 at 0.2%."."""
    probs = np.asarray(probs, dtype=float)
    first, *then = np.argsort(probs)[::-1][:3]
    return (f"Bar chart of {what}: {first} at {percent(probs[first])}, then "
            f"{_and([f'{d} at {percent(probs[d])}' for d in then])}.")


def before_after_alt(before: np.ndarray, after: np.ndarray) -> str:
    """``before_after_bars`` in words: how the digit read with everything on moved, and what leads now."""
    was, now = int(np.argmax(before)), int(np.argmax(after))
    start, end = percent(before[was]), percent(after[was])
    moved = f"stays at {start}" if start == end else f"goes from {start} to {end}"
    leads = f"; now {now} leads, at {percent(after[now])}" if now != was else ""
    return (f"Bar chart of the probability of each digit, with all switched on and with yours switched off: "
            f"{was} {moved}{leads}.")


def training_alt(history: dict[str, list[float]], epochs: int | None = None) -> str:
    """``training_curves`` in words: how far training has got and the last accuracies.

    Args:
        history: "loss", "accuracy", "val_accuracy", ..., with "x" and "val_x" (partial epochs) or without.
        epochs: the epochs planned, when training may still be running.
    """
    accuracy, val = history.get("accuracy") or [], history.get("val_accuracy") or []
    xs = history.get("x") or list(range(1, len(history.get("loss") or []) + 1))
    done = float(xs[-1]) if xs else 0.0
    so_far = f"{done:.1f}".removesuffix(".0")
    span = f"{so_far} of {epochs} epochs" if epochs and done < epochs else f"{so_far} epochs"
    last = [f"training accuracy {percent(accuracy[-1])}"] if accuracy else []
    if val:
        val_x = history.get("val_x") or list(range(1, len(val) + 1))
        last.append(f"validation accuracy {percent(val[-1])} after epoch {val_x[-1]:g}")
    return f"Line charts of loss and accuracy over {span}" + (f": {_and(last)}." if last else ".")


def timeline_alt(test_accuracy: Sequence[float], epoch: int, train_accuracy: Sequence[float] | None = None) -> str:
    """``timeline_curve`` in words: test accuracy after the first and last epoch, and at the marked one."""
    n = len(test_accuracy)
    if n == 1:
        return f"Test accuracy after 1 epoch: {percent(test_accuracy[0], 2)}."
    train = f"; training accuracy, dotted, ends at {percent(train_accuracy[-1], 2)}" if train_accuracy else ""
    return (f"Line chart of test accuracy after each of {n} epochs: {percent(test_accuracy[0], 2)} after epoch 1, "
            f"{percent(test_accuracy[-1], 2)} after epoch {n}; epoch {epoch}, marked, at "
            f"{percent(test_accuracy[epoch - 1], 2)}{train}.")


def architecture_alt(rows: list[dict]) -> str:
    """``architecture_diagram`` in words: each block's layer and output shape, left to right."""
    blocks = ["input 28x28x1", *(f"{r['layer']} {_size(r['output_shape'])}" for r in rows)]
    return f"Diagram of the layers, left to right, each with the shape of its output: {', '.join(blocks)}."


def feature_maps_alt(maps: np.ndarray, layer: str) -> str:
    """A ``map_grid`` of a layer's feature maps in words: how many, how big, which are strongest, which stay dark."""
    n, h, w = np.shape(maps)
    peaks = np.asarray(maps).reshape(n, -1).max(axis=1)
    lit = [int(i) for i in np.argsort(peaks)[::-1][:3] if peaks[i] > 0]
    dark = int((peaks <= 0).sum())
    strongest = f"; strongest: {_numbered('channel', lit)}" if lit else ""
    stay_dark = "; all dark (nothing above 0)" if dark == n else f"; {dark} stay dark (nothing above 0)" if dark else ""
    return f"Grid of the {count(n, 'feature map')} of {layer}, {h}x{w}{' each' if n > 1 else ''}{strongest}{stay_dark}."


def one_map_alt(values: np.ndarray, name: str) -> str:
    """One feature map in words: its size, its range and where it is highest."""
    values = np.asarray(values, dtype=float)
    return (f"{name}, {_size(values.shape)}: values from {values.min():.2f} to {values.max():.2f}, the highest at "
            f"{_at(*_peak(values))}.")


def kernels_alt(kernels: np.ndarray, whose: str) -> str:
    """A ``map_grid`` of kernels in words: "Grid of 32 kernels of conv_1, 3x3 weights each, from -0.41 (blue) to
    0.38 (red).", ``whose`` being "of conv_1"."""
    kernels = np.asarray(kernels, dtype=float)
    return (f"Grid of {count(len(kernels), 'kernel')} {whose}, {_size(kernels.shape[1:])} weights each, from "
            f"{kernels.min():.2f} (blue) to {kernels.max():.2f} (red).")


def patterns_alt(patterns: np.ndarray, layer: str, blank: Sequence[int]) -> str:
    """The filter patterns' grid in words; ``blank``: the filters whose pattern is nearly one even tone."""
    n, h, w = np.shape(patterns)
    nearly = f"; {len(blank)} nearly blank ({_numbered('filter', [int(i) for i in blank])})" if len(blank) else ""
    return (f"Grid of {n} pictures, one per filter of {layer}: for each, the {h}x{w} input that excites it "
            f"most{nearly}.")


def units_alt(values: np.ndarray, layer: str) -> str:
    """``vector_strip`` in words: how many units are above 0, and the strongest three."""
    values = np.asarray(values, dtype=float).ravel()
    top = [f"unit {i} at {values[i]:.2f}" for i in np.argsort(values)[::-1][:3] if values[i] > 0]
    strongest = f"; strongest: {_and(top)}" if top else ""
    return f"Bar chart of the {len(values)} units of {layer}: {int((values > 0).sum())} above 0{strongest}."


def preprocessing_alt(prep, source: str) -> str:
    """``preprocessing_steps`` in words: the ink's box, the fitted size and the network's input."""
    if prep.box is None or prep.image is None:
        return f"The preprocessing of {source}: no ink found."
    top, left, bottom, right = prep.box
    return (f"Four steps, left to right: {source} with its ink boxed ({bottom - top}x{right - left} pixels), "
            f"cropped to the ink, scaled to {_size(np.shape(prep.fitted))} to fit a 20x20 box, then centred by "
            f"mass in 28x28: {ink_words(prep.image)}.")


def class_counts_alt(counts: np.ndarray, right: np.ndarray) -> str:
    """``class_counts_bars`` in words."""
    return (f"Bar chart of the drawings sent for each digit meant, read right and read wrong. "
            f"{counts_words(counts, right)}")


def confusion_alt(confusion: np.ndarray, noun: str = "test digit") -> str:
    """``confusion_heatmap`` in words: how many read right, and the three commonest mix-ups."""
    counts = np.asarray(confusion, dtype=np.int64)
    total, right = int(counts.sum()), int(np.trace(counts))
    if not total:
        return f"Confusion matrix, empty: no {noun}s yet."
    mistakes = np.where(np.eye(len(counts), dtype=bool), 0, counts).ravel()
    worst = [int(i) for i in np.argsort(mistakes, kind="stable")[::-1][:3] if mistakes[i]]
    mixups = [f"{i // len(counts)}s read as {i % len(counts)} ({mistakes[i]:,})" for i in worst]
    mixed = f"; commonest mix-ups: {_and(mixups)}" if mixups else "; no mix-ups"
    return (f"Confusion matrix of {count(total, noun)}: {right:,} read right "
            f"({percent(right / total, 1, exact=True)}), on the diagonal{mixed}.")


def error_bars_alt(totals: np.ndarray, right: np.ndarray) -> str:
    """``class_error_bars`` in words: each digit's mistakes, and the digit with the most."""
    totals, right = np.asarray(totals, np.int64), np.asarray(right, np.int64)
    wrong = totals - right
    each = "; ".join(f"{d}s {w:,} of {n:,}" for d, (w, n) in enumerate(zip(wrong, totals)))
    most = f" Most on the {int(wrong.argmax())}s." if wrong.max(initial=0) > 0 else " No mistakes at all."
    return f"Bar chart of the test digits read wrong, for each true digit: {each}.{most}"


def unit_map_alt(values: np.ndarray, row: int, col: int, layer: str) -> str:
    """``unit_on_map`` in words: the chosen unit's value, and the brightest unit's."""
    values = np.asarray(values, dtype=float)
    peak = _peak(values)
    return (f"Map of the {_size(values.shape)} units of {layer}, each lit by its strongest filter: the outlined "
            f"unit, {_at(row, col)}, at {values[row, col]:.2f}; the brightest, {_at(*peak)}, at {values[peak]:.2f}.")


def field_alt(image: np.ndarray, box: tuple[int, int, int, int], row: int, col: int) -> str:
    """``field_on_input`` in words: which rows and columns the unit sees, and how much ink is in them."""
    h, w = np.shape(image)
    top, left, bottom, right = max(box[0], 0), max(box[1], 0), min(box[2], h), min(box[3], w)
    ink = int((np.asarray(image)[top:bottom, left:right] >= INK_LEVEL).sum())
    return (f"The {h}x{w} input with the field of unit ({row}, {col}) outlined: rows {top}-{bottom - 1}, columns "
            f"{left}-{right - 1}, with {count(ink, 'pixel')} of ink in it.")


def patches_alt(patches: np.ndarray, activations: np.ndarray, first: int, layer: str) -> str:
    """``patch_mosaic`` in words: which filters, how big their patches, which never fire."""
    n, per, h, w = np.shape(patches)
    silent = [first + int(i) for i in np.flatnonzero(~(np.asarray(activations) > 0).any(axis=1))]
    never = f"; {_numbered('filter', silent)} never {'fires' if len(silent) == 1 else 'fire'}" if silent else ""
    return (f"Grid of the test-digit patches that excite filters {first}-{first + n - 1} of {layer} most: up to "
            f"{per} patches of {h}x{w} pixels per filter, strongest first{never}.")


def shift_alt(grid: np.ndarray, digit: int, name: str, above: float = 0.5) -> str:
    """``shift_heatmap`` in words: at how many positions the digit keeps its probability, and where it was."""
    grid = np.asarray(grid, dtype=float)
    k = grid.shape[0] // 2
    return (f"{name}: map of the probability of {digit} with the digit moved up to {k} px each way: over "
            f"{above:.0%} at {int((grid > above).sum())} of {grid.size} positions; {percent(grid[k, k])} where it "
            f"was, in the middle.")


def equivariance_alts(of_shifted: np.ndarray, shifted: np.ndarray, inside: np.ndarray, name: str,
                      moved: str) -> tuple[str, str, str]:
    """``equivariance_maps`` in words, one sentence per map: where each is strongest, and their largest difference.

    Args:
        of_shifted, shifted: the map of the moved digit, and the map of the digit moved afterwards.
        inside: where the two are compared (away from the borders).
        name: the map's name ("conv_1's map 5").
        moved: the shift in words ("4 px right, 3 px down").
    """
    def strongest(values: np.ndarray) -> str:
        peak = _peak(values)
        return f"{_size(values.shape)}, strongest at {_at(*peak)} ({values[peak]:.2f})"

    difference = np.abs(np.asarray(of_shifted) - np.asarray(shifted))[np.asarray(inside, bool)]
    return (f"{name} of the moved digit ({moved}): {strongest(of_shifted)}.",
            f"{name} of the digit, then moved ({moved}): {strongest(shifted)}.",
            f"The difference between the two maps, away from the grey borders: at most "
            f"{difference.max(initial=0.0):.4f}.")


def unit_bars_alt(original: np.ndarray, moved: np.ndarray, match: float) -> str:
    """``unit_bars`` in words: how well the two patterns match, and what becomes of the strongest unit."""
    original, moved = np.asarray(original, dtype=float), np.asarray(moved, dtype=float)
    i = int(original.argmax())
    return (f"Bar chart of the dense network's {len(original)} units, for the digit where it was and moved: the "
            f"patterns match {percent(match, 0, exact=True)}; unit {i}, the strongest where it was, goes from "
            f"{original[i]:.2f} to {moved[i]:.2f}.")


def shift_curves_alt(shifts: np.ndarray, conv_accuracy: np.ndarray, dense_accuracy: np.ndarray, conv_name: str,
                     dense_name: str) -> str:
    """``accuracy_curves`` in words: each network's test accuracy unmoved and moved furthest."""
    lines = [f"{name} from {percent(a[0], 1, exact=True)} to {percent(a[-1], 1, exact=True)}"
             for name, a in ((conv_name, conv_accuracy), (dense_name, dense_accuracy))]
    return (f"Line chart of test accuracy against how far every test digit is moved, {shifts[0]} to {shifts[-1]} px: "
            f"{_and(lines)}.")


def overlay_alt(overlay: Overlay) -> str:
    """One of ``explanation_panels``' maps in words: where it is most red and most blue, or strongest."""
    values = np.asarray(overlay.values, dtype=float)
    if not np.isfinite(values).any() or not np.nanmax(np.abs(values)) > 0:
        return f"{overlay.title}, over the digit: nothing to show, every value is 0."

    def said(row: int, col: int) -> str:
        return overlay.text[row, col] if overlay.text is not None else f"{values[row, col]:+.3f}"

    if not overlay.signed:
        return (f"{overlay.title}, over the digit in grey: {count(int(np.isfinite(values).sum()), 'pixel')} "
                f"coloured, the strongest at {_at(*_peak(values))}.")
    red, blue, faint = _peak(values), _peak(-values), VISIBLE * np.nanmax(np.abs(values))
    parts = [f"most {colour} at {_at(*where)} ({said(*where)})" for colour, where, strength in
             (("red", red, values[red]), ("blue", blue, -values[blue])) if strength >= faint]
    return f"{overlay.title}, over the digit in grey: {'; '.join(parts)}."


def ranking_alt(lead_drop: np.ndarray, lead: float, unit: str = "filter", off: Sequence[int] = (),
                top: int = 3) -> str:
    """``ranking_bars`` in words: the ``top`` units whose loss shrinks the lead most, and whether one alone
    changes the answer."""
    lead_drop = np.asarray(lead_drop, dtype=float)
    order = [int(i) for i in np.argsort(-lead_drop, kind="stable") if int(i) not in off][:top]
    if not order:
        return f"Bar chart of the {unit}s to switch off: every one is switched off already."
    each = _and([f"{unit} {i} by {lead_drop[i]:.1f}" for i in order])
    alone = ("" if lead <= 0 else f"; the whole lead is {lead:.1f}, so {unit} {order[0]} alone changes the answer"
             if lead <= lead_drop[order[0]] else f"; the whole lead is {lead:.1f}, more than any one of them takes")
    return f"Bar chart of how much the lead shrinks when one more {unit} is switched off, largest first: {each}{alone}."


def efficiency_alt(sizes: Sequence[int], convnet: Sequence[float], dense: Sequence[float], live: int = 0,
                   metric: str = "accuracy") -> str:
    """``accuracy_vs_size`` in words: both networks' mean accuracy (or error) with the fewest and the most digits.

    Args:
        sizes: the training-set sizes, smallest first.
        convnet, dense: each network's mean test accuracy per size.
        live: how many runs of the student's own are drawn as stars.
        metric: "accuracy", or "error" (the share got wrong, on a log axis).
    """
    shown = (lambda a: percent(a, 1)) if metric == "accuracy" else (lambda a: percent(1 - a, 1))
    what = ("test accuracy against training digits (log scale)" if metric == "accuracy" else
            "the share of test digits got wrong against training digits, both on log scales")
    ends = [f"with {sizes[i]:,} digits the convnet {shown(convnet[i])}, the dense network {shown(dense[i])}"
            for i in sorted({0, len(sizes) - 1})]
    stars = f"; your {count(live, 'run')} as stars" if live else ""
    return f"Line chart of {what}: {'; '.join(ends)}{stars}."


def window_alt(layer_input: np.ndarray, origin: tuple[int, int], kernel_size: tuple[int, int], layer: str) -> str:
    """``window_view`` in words: the input, and the rows and columns under the window."""
    h, w, depth = np.shape(layer_input)
    (top, left), (kh, kw) = origin, kernel_size
    what = f"a {h}x{w} picture" if depth == 1 else f"{depth} maps of {h}x{w}"
    padding = " (partly in the zeros around it)" if top < 0 or left < 0 or top + kh > h or left + kw > w else ""
    return (f"Input of {layer}, {what}, with the {kh}x{kw} window outlined at rows {top} to {top + kh - 1}, "
            f"columns {left} to {left + kw - 1}{padding}.")


def output_map_alt(values: np.ndarray, row: int, col: int, name: str) -> str:
    """``output_map`` in words: the ringed cell's value and the highest."""
    values = np.asarray(values, dtype=float)
    peak = _peak(values)
    highest = ", the highest" if peak == (row, col) else f"; the highest, {values[peak]:.3f}, is at {_at(*peak)}"
    return f"{name}, {_size(values.shape)}: the ringed cell, {_at(row, col)}, is {values[row, col]:.3f}{highest}."


def numbers_alt(values: np.ndarray, name: str) -> str:
    """A small block of numbers in words: a 2-D one row by row, a deep one by its slices and range."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim == 3:
        return (f"{name}: {values.shape[2]} slices of {_size(values.shape[:2])}, one per input channel, numbers "
                f"from {values.min():.2f} to {values.max():.2f}.")
    rows = "; ".join(", ".join(f"{v:.2f}" for v in row) for row in values)
    return f"{name}, {_size(values.shape)} numbers, row by row: {rows}."


def depth_vector_alt(vector: np.ndarray, chosen: int, row: int, col: int) -> str:
    """``depth_vector`` in words: the chosen filter's value, the highest, and how many are above 0."""
    vector = np.asarray(vector, dtype=float)
    best = int(vector.argmax())
    highest = ", the highest" if best == chosen else f"; the highest, filter {best}, {vector[best]:.3f}"
    return (f"Bar chart of all {len(vector)} filters' values at {_at(row, col)}: filter {chosen}, in red, "
            f"{vector[chosen]:.3f}{highest}; {int((vector > 0).sum())} above 0.")


def sliding_alt(output: np.ndarray, layer: str, filter_: int) -> str:
    """``sliding_window`` in words: what the animation fills in."""
    output = np.asarray(output, dtype=float)
    return (f"Animation: the window slides over the input of {layer} row by row, filling the "
            f"{_size(output.shape)} output map of filter {filter_}, values from {output.min():.2f} to "
            f"{output.max():.2f}.")

