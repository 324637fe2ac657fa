"""The evaluation page's shared resource: each model's Evaluation, kept in memory per model file version."""

from __future__ import annotations

import os

from mnist_model.lab.evaluation import Evaluation, load_or_compute_evaluation

from . import resources

KEPT_MODELS = 8  # evaluations kept in memory; each is about 60 kB


def evaluation(path: str | os.PathLike, progress=None) -> Evaluation:
    """The model's answers on the 10,000 test digits, computed once per model and stored beside it."""
    return resources.once_per_model(
        "evaluation", resources.model_key(path),
        lambda: load_or_compute_evaluation(resources.get_predictor(path).model, path, on_progress=progress),
        kept=KEPT_MODELS)
