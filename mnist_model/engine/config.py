"""Architecture and training configuration, saved as JSON beside each model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

RECIPES = ("seed", "improved")
ARCHITECTURES = ("convnet", "dense")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
INPUT_SHAPE = (28, 28, 1)  # every model here takes MNIST images
NUM_CLASSES = 10


@dataclass(frozen=True)
class TrainConfig:
    """Everything needed to rebuild and retrain a model exactly."""

    filters: tuple[int, int, int] = (32, 64, 64)  # output channels of conv_1, conv_2, conv_3 (convnet only)
    dense_units: int = 64  # width of the hidden dense layer
    architecture: str = "convnet"  # "convnet" (listing 5.1) or "dense" (Flatten, one hidden Dense, softmax)
    recipe: str = "seed"  # "seed" (listing 5.1 as published) or "improved" (same net, better training)
    epochs: int = 5  # passes over the training images
    batch_size: int = 64  # images per gradient step
    optimizer: str = "rmsprop"  # one of OPTIMIZERS
    learning_rate: float = 1e-3  # initial step size
    lr_schedule: str = "constant"  # "constant" or "cosine" (decays to 0 over all steps)
    augment: bool = False  # random shifts, rotations and zoom of the training images
    validation_split: float = 0.0  # fraction of the training images held out for validation curves
    seed: int = 0  # seeds weights, shuffling, augmentation and the validation split
    train_limit: int | None = None  # use only the first N training images (tests, quick demos)

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        _check(len(self.filters) == 3 and all(f > 0 for f in self.filters),
               f"filters must be three positive integers, got {self.filters}")
        _check(self.dense_units > 0, f"dense_units must be positive, got {self.dense_units}")
        _check(self.architecture in ARCHITECTURES,
               f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        _check(self.recipe in RECIPES, f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        _check(self.epochs > 0, f"epochs must be positive, got {self.epochs}")
        _check(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        _check(self.optimizer in OPTIMIZERS,
               f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        _check(self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}")
        _check(self.lr_schedule in ("constant", "cosine"),
               f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        _check(0.0 <= self.validation_split < 1.0,
               f"validation_split must be in [0, 1), got {self.validation_split}")
        _check(self.train_limit is None or self.train_limit > 0,
               f"train_limit must be a positive integer or None, got {self.train_limit}")

    @classmethod
    def for_recipe(cls, recipe: str, **overrides) -> TrainConfig:
        """The named recipe's defaults, with any field overridden."""
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
        base = dict(IMPROVED_DEFAULTS) if recipe == "improved" else {}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(recipe=recipe, **base)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"filters": list(self.filters)}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# The improved recipe keeps the seed architecture and changes only how it is trained.
IMPROVED_DEFAULTS = {
    "epochs": 20,
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "lr_schedule": "cosine",
    "augment": True,
}


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)

