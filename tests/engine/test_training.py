import json
import threading

import keras
import pytest

from mnist_model.engine.config import TrainConfig
from mnist_model.engine.training import TrainingCancelled, TrainingDiverged, train

TINY = dict(filters=(8, 16, 16), dense_units=32, batch_size=32)


def test_a_short_training_run_learns(tiny_data):
    result = train(TrainConfig(epochs=3, **TINY), tiny_data)
    assert result.test_accuracy > 0.5  # chance is 0.1
    assert len(result.history["loss"]) == 3 and result.history["loss"][-1] < result.history["loss"][0]
    assert result.n_train == 600


def test_improved_recipe_runs_with_augmentation_schedule_and_validation(tiny_data):
    config = TrainConfig.for_recipe("improved", epochs=2, validation_split=0.2, **TINY)
    assert config.augment and config.lr_schedule == "cosine" and config.optimizer == "adam"
    result = train(config, tiny_data)
    assert result.n_train == 480 and len(result.history["val_accuracy"]) == 2


def test_same_seed_gives_the_same_model(tiny_data):
    config = TrainConfig(epochs=1, train_limit=200, **TINY)
    a, b = train(config, tiny_data), train(config, tiny_data)
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-4)


def test_cancellation_stops_between_batches(tiny_data):
    cancel = threading.Event()
    seen = []

    class CancelAfterThree(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            if batch == 2:
                cancel.set()

    with pytest.raises(TrainingCancelled, match="no model was saved"):
        train(TrainConfig(epochs=5, **TINY), tiny_data, callbacks=[CancelAfterThree()], cancel=cancel)
    assert len(seen) <= 4


def test_nan_loss_stops_training_with_a_reason(tiny_data):
    exploding = TrainConfig(epochs=2, optimizer="sgd", learning_rate=1e6, **TINY)
    with pytest.raises(TrainingDiverged, match=r"NaN at epoch 1, batch \d+; the model was not saved"):
        train(exploding, tiny_data)


@pytest.mark.parametrize("field, value, message", [
    ("recipe", "fancy", "recipe must be one of"),
    ("optimizer", "adagrad", "optimizer must be one of"),
    ("epochs", 0, "epochs must be positive"),
    ("batch_size", -1, "batch_size must be positive"),
    ("validation_split", 1.0, r"validation_split must be in \[0, 1\)"),
    ("lr_schedule", "step", "lr_schedule must be"),
    ("train_limit", 0, "train_limit must be"),
])
def test_bad_training_configs_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_config_round_trips_through_json():
    config = TrainConfig.for_recipe("improved", epochs=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
