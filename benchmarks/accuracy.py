"""Accuracy on the MNIST test set and on real pen-drawn digits rendered offline."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from mnist_model.engine.data import load_prepared
from mnist_model.engine.inference import evaluate
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.engine.storage import PRETRAINED_DIR

from .common import Sizes, bundled_predictor
from .drawing import render, replay_digits

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SEED_RECIPE_MEASURED = 0.9889  # `python -m mnist_model train --recipe seed`, 60k images, 5 epochs, 40 s


def run(sizes: Sizes) -> dict:
    (_, _), (x_test, y_test) = load_prepared()
    model = bundled_predictor().model
    scores = evaluate(model, x_test[:sizes.test_images], y_test[:sizes.test_images])
    digits = replay_digits(sizes.drawn_digits)
    predicted = offline_predictions(sizes.drawn_digits)
    right = [p == d.label for p, d in zip(predicted, digits)]
    return {"test_accuracy": scores["test_accuracy"], "test_images": scores["n"],
            **seed_recipe_accuracy(),
            "drawn_accuracy_offline": float(np.mean(right)), "drawn_digits": len(digits),
            "drawn_writers": len({d.writer for d in digits})}


@functools.cache
def offline_predictions(n: int) -> tuple[int, ...]:
    """The first ``n`` replay digits rendered with PIL at the browser's geometry, through canvas_to_mnist
    and the bundled model; -1 where the drawing counts as empty."""
    predictor = bundled_predictor()
    images = [canvas_to_mnist(render(d)).image for d in replay_digits(n)]
    return tuple(-1 if img is None else int(predictor.probabilities(img).argmax()) for img in images)


def seed_recipe_accuracy() -> dict:
    """The full seed recipe's test accuracy from a model card, else the figure measured by hand."""
    for card_file in sorted([*PRETRAINED_DIR.glob("*.json"), *MODELS_DIR.glob("*.json")]):
        card = _read_json(card_file)
        config = card.get("config") or {}
        if (card.get("recipe") == "seed" and card.get("n_train") == 60_000 and config.get("epochs") == 5
                and isinstance(card.get("test_accuracy"), float)):
            return {"seed_recipe_test_accuracy": card["test_accuracy"],
                    "seed_recipe_source": f"model card {card_file.name}"}
    return {"seed_recipe_test_accuracy": SEED_RECIPE_MEASURED,
            "seed_recipe_source": "not re-measured: README figure from `python -m mnist_model train "
                                  "--recipe seed` (60k images, 5 epochs, 40 s)"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
