"""Issue 14's attack classes: model files built to cost memory, CPU or process state are refused with a sentence."""

import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from hostile_models import HOSTILE, build_all

from mnist_model.engine import model_files
from mnist_model.engine.network import build_convnet
from mnist_model.engine.probe import probe_model
from mnist_model.engine.storage import ModelFileError, import_model, list_models, load_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.keras"
    build_convnet((4, 8, 8), 16).save(path)
    return path


@pytest.fixture(scope="module")
def hostile(good, tmp_path_factory):
    return build_all(good, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_file_is_refused_with_a_sentence_naming_it(hostile, name):
    with pytest.raises(ModelFileError, match=re.escape(HOSTILE[name][1])) as err:
        load_model(hostile[name])
    assert str(err.value).startswith(hostile[name].name)
    assert "\n" not in str(err.value) and str(err.value).rstrip().endswith(".")


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_upload_is_refused_and_nothing_is_listed(hostile, name, tmp_path):
    with pytest.raises(ModelFileError, match=re.escape(HOSTILE[name][1])):
        import_model(hostile[name].read_bytes(), "upload.keras", tmp_path)
    assert [e for e in list_models(tmp_path) if not e.bundled] == []


def test_the_files_declaring_gigabytes_are_tiny(hostile):
    """What arrives on the wire is a few KB: the cost is all in what it declares."""
    assert max(path.stat().st_size for name, path in hostile.items() if name.startswith("declares")) < 64 * 2**10


def test_keras_settings_are_untouched_after_the_refusals(hostile):
    before = (keras.config.epsilon(), keras.config.floatx(), keras.config.max_epochs())
    for path in hostile.values():
        with pytest.raises(ModelFileError):
            load_model(path)
    assert (keras.config.epsilon(), keras.config.floatx(), keras.config.max_epochs()) == before


def test_the_activation_list_is_keras_own():
    import keras.activations as activations

    own = {name for name, value in vars(activations).items() if callable(value) and not name.startswith("_")
           and name not in ("get", "serialize", "deserialize")}
    assert own == model_files.ACTIVATIONS


def test_a_model_that_changes_keras_settings_when_it_runs_is_refused_and_they_are_put_back():
    epsilon = keras.config.epsilon()

    def sneaky(images, training=False):
        keras.config.set_epsilon(0.5)
        return np.full((len(images), 10), 0.1, np.float32)

    with pytest.raises(ModelFileError, match=r"changed Keras' settings for the whole server \(epsilon\)"):
        probe_model("sneaky.keras", sneaky)
    assert keras.config.epsilon() == epsilon


def test_a_model_that_fails_to_run_is_refused_with_its_reason():
    def broken(images, training=False):
        raise ValueError("shapes do not match\nmore detail")

    with pytest.raises(ModelFileError, match="broken.keras could not be run on a test batch: shapes do not match$"):
        probe_model("broken.keras", broken)


@pytest.mark.parametrize("name", ["declares a 4 GiB kernel", "declares 3.9 GB of optimizer state",
                                  "three 1024-filter convolutions", "900 Activation layers", "weights of 1e38"])
def test_the_cli_refuses_in_seconds_and_little_memory(hostile, name):
    """The worst of each kind through ``python -m mnist_model evaluate``: a sentence, exit 2, under 60 s
    and 1.5 GB peak (TensorFlow itself takes about 0.5 GB)."""
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = subprocess.run([sys.executable, "-m", "mnist_model", "evaluate", "--model", str(hostile[name])],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith(f"error: {hostile[name].name}") and "Traceback" not in run.stderr
    assert seconds < 60
    assert peak_mb < 1536 or before / 1024 >= 1536  # ru_maxrss is the largest child so far


def test_the_servers_check_runs_in_a_child_and_says_the_same(hostile, good):
    """The app checks an upload's bytes in a short-lived process: same verdicts, same cost, nothing parsed
    by the server itself."""
    from mnist_model.engine.check_process import check_isolated
    from mnist_model.engine.model_files import check_archive

    assert check_isolated(good, "good.keras") == check_archive(good, "good.keras")
    for name in ("declares a 4 GiB kernel", "holds 12,000 objects", "activation keras.config.set_epsilon"):
        with pytest.raises(ModelFileError, match=re.escape(HOSTILE[name][1])):
            check_isolated(hostile[name], hostile[name].name)
    with pytest.raises(ModelFileError, match=r"checking it took longer than 0 s"):
        check_isolated(good, "good.keras", timeout_s=0.01)
