"""Everything the lab's pages compute once per model, computed before the model is offered to anyone.

A model joins the picker only when ``prepare_model`` has loaded it (every check and the test
batch of ``load_model``), and stored beside it what the pages would otherwise compute on a
student's request: the familiarity check, the evaluation on the 10,000 test digits, the
filter patterns, the top patches and the shift curves against the bundled partner network.
It then writes the ready mark (``storage.mark_ready``). The app runs this in a worker process
at the lowest priority (``prepare_worker``), never in the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..engine.model_files import check_archive
from ..engine.storage import PRETRAINED_DENSE, PRETRAINED_MODEL, load_model, mark_ready, model_digest
from .evaluation import load_or_compute_evaluation
from .familiarity import load_or_fit_familiarity
from .inspection import conv_layer_names, load_or_compute_patterns
from .measured_cost import check_measured_cost
from .shift import SHIFTS, load_or_compute_shift_curves
from .top_patches import load_or_compute_top_patches

Progress = Callable[[float, str], None]  # (fraction of the whole preparation done, what is being done)
SHIFT_FLOPS = 6e11  # the shift curves' budget: all 10,000 test digits for the bundled convnet (5.7 MFLOP) ...
MIN_SHIFT_DIGITS = 1000  # ... and never fewer digits than this, however slow the model

# Each step's share of the time (measured on the bundled convnet, 2 cores), so one bar moves evenly.
STEPS = (("familiarity", "learning what its digits look like", 0.30),
         ("evaluation", "reading the 10,000 test digits", 0.05),
         ("patterns", "finding what each filter responds to", 0.25),
         ("top patches", "finding the test patches that excite each filter", 0.10),
         ("shift curves", "moving the test digits for the shift page", 0.30))


def prepare_model(path: str | Path, on_progress: Progress | None = None) -> dict:
    """Load the model at ``path``, compute and store every per-model result, then mark it ready.

    Args:
        path: a ``.keras`` file in a model folder.
        on_progress: called with (fraction done, what is being done).

    Returns:
        The ready mark: the file's SHA-256, the seconds each step took and the measured passes.

    Raises:
        ModelFileError: the file fails a check or its test batch (see ``load_model``), or its passes
            cost more than a multiple of the bundled model's (``measured_cost``).
        DataError: MNIST cannot be read.
    """
    path = Path(path)
    report = on_progress or (lambda done, what: None)
    report(0.0, "loading and checking the model")
    model = load_model(path)
    report(0.0, "timing a forward and a gradient pass")
    cost = check_measured_cost(path.name, model, load_model(PRETRAINED_MODEL))
    flops = check_archive(path, path.name).flops
    digits = int(min(10_000, max(MIN_SHIFT_DIGITS, SHIFT_FLOPS / (len(SHIFTS) * flops))))
    convolutional = bool(conv_layer_names(model))
    partner_path = PRETRAINED_DENSE if convolutional else PRETRAINED_MODEL
    partner = load_model(partner_path)
    pair = (model, path, partner, partner_path) if convolutional else (partner, partner_path, model, path)
    work = {"familiarity": lambda p: load_or_fit_familiarity(model, path, on_progress=p),
            "evaluation": lambda p: load_or_compute_evaluation(model, path, on_progress=lambda done: p(done, "")),
            "patterns": lambda p: load_or_compute_patterns(model, path, on_progress=p),
            "top patches": lambda p: load_or_compute_top_patches(model, path, on_progress=p),
            "shift curves": lambda p: load_or_compute_shift_curves(*pair, progress=p, digits=digits)}
    seconds, done = {}, 0.0
    for name, words, share in STEPS:
        start = time.monotonic()
        work[name](lambda fraction, _what, done=done, share=share, words=words:
                   report(done + share * min(max(fraction, 0.0), 1.0), words))
        seconds[name] = round(time.monotonic() - start, 2)
        done += share
    report(1.0, "done")
    return mark_ready(path, model_digest(path), {"seconds": seconds, "pass_ms": round(cost.ms, 1),
                                                 "bundled_pass_ms": round(cost.bundled_ms, 1)})
