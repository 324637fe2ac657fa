import numpy as np
import pytest

from mnist_model.engine.data import DEFAULT_NPZ, DataError, load_mnist, prepare_images, prepare_labels


def test_bundled_file_loads_in_keras_layout():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28)
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_explicit_path_then_env_var_are_used(tmp_path, monkeypatch):
    small = tmp_path / "small.npz"
    z = np.zeros((5, 28, 28), np.uint8)
    np.savez(small, x_train=z, y_train=np.arange(5), x_test=z[:2], y_test=np.arange(2))
    assert len(load_mnist(small)[0][0]) == 5
    monkeypatch.setenv("MNIST_NPZ", str(small))
    assert len(load_mnist()[1][0]) == 2


def _write(path, kind):
    z = np.zeros((4, 28, 28), np.uint8)
    if kind == "text":
        path.write_text("not an npz")
    elif kind == "missing key":
        np.savez(path, x_train=z, y_train=np.zeros(4))
    elif kind == "wrong shape":
        np.savez(path, x_train=np.zeros((4, 32, 32)), y_train=np.zeros(4), x_test=z, y_test=np.zeros(4))
    elif kind == "length mismatch":
        np.savez(path, x_train=z, y_train=np.zeros(3), x_test=z, y_test=np.zeros(4))


@pytest.mark.parametrize("kind, message", [
    ("absent", "MNIST file not found"),
    ("text", "not a readable .npz"),
    ("missing key", r"lacks \['x_test', 'y_test'\]"),
    ("wrong shape", r"x_train has shape \(4, 32, 32\)"),
    ("length mismatch", "differ in length"),
])
def test_bad_data_files_give_clear_errors_naming_the_path(tmp_path, kind, message):
    path = tmp_path / "mnist.npz"
    if kind != "absent":
        _write(path, kind)
    with pytest.raises(DataError, match=message) as err:
        load_mnist(path)
    assert str(path) in str(err.value)


def test_preparation_matches_the_seed_notebook():
    x = np.full((2, 28, 28), 255, np.uint8)
    images = prepare_images(x)
    assert images.shape == (2, 28, 28, 1) and images.dtype == np.float32 and images.max() == 1.0
    np.testing.assert_array_equal(prepare_labels(np.array([3, 0])).argmax(1), [3, 0])
    assert DEFAULT_NPZ.name == "mnist.npz"


def test_without_any_file_it_falls_back_to_keras_download(monkeypatch, tmp_path):
    import keras

    import mnist_model.engine.data as data

    monkeypatch.delenv("MNIST_NPZ", raising=False)
    monkeypatch.setattr(data, "DEFAULT_NPZ", tmp_path / "deleted.npz")
    z = np.zeros((1, 28, 28), np.uint8)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: ((z, np.zeros(1)), (z, np.zeros(1))))
    assert load_mnist()[0][0].shape == (1, 28, 28)

    def offline():
        raise OSError("no internet")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match="download failed: no internet"):
        load_mnist()
