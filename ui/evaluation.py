"""The evaluation page's shared resource: each model's Evaluation, kept in memory per model file version."""

from __future__ import annotations

import os

from mnist_model.lab.evaluation import Evaluation, load_or_compute_evaluation
from server import resources

KEPT_MODELS = 8  # evaluations kept in memory; each is about 60 kB


def evaluation(path: str | os.PathLike) -> Evaluation | None:
    """The model's answers on the 10,000 test digits, as its preparation stored them (None while it has not)."""
    model = resources.get_predictor(path).model
    return resources.stored("evaluation", (path,), lambda: load_or_compute_evaluation(model, path, compute=False),
                            kept=KEPT_MODELS)
