"""Model files built to cost memory, CPU or process state: shared by the tests and the hostile-upload benchmark.

Each builder takes a small good ``.keras`` file and writes a hostile variant of it; ``HOSTILE``
maps a name to (builder, part of the sentence that refuses it).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np


def rewrite(good: Path, dst: Path, members: dict[str, bytes | str]) -> Path:
    """A copy of the archive ``good`` with ``members`` replacing or added to its own."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dst, "w") as out:
        for info in src.infolist():
            if info.filename not in members:
                out.writestr(info, src.read(info))
        for name, data in members.items():
            out.writestr(name, data)
    return dst


def config_of(path: Path) -> dict:
    return json.loads(zipfile.ZipFile(path).read("config.json"))


def _edited_config(edit):
    def build(good: Path, dst: Path) -> Path:
        config = config_of(good)
        edit(config)
        return rewrite(good, dst, {"config.json": json.dumps(config)})
    return build


def _layers(config: dict) -> list[dict]:
    return config["config"]["layers"]


def _first(config: dict, class_name: str) -> dict:
    return next(layer for layer in _layers(config) if layer["class_name"] == class_name)


def _edited_weights(edit):
    """The good archive with its model.weights.h5 changed by ``edit(h5py.File)``."""
    def build(good: Path, dst: Path) -> Path:
        data = io.BytesIO(zipfile.ZipFile(good).read("model.weights.h5"))
        with h5py.File(data, "r+", libver="latest") as weights:  # "latest": attributes over 64 KB
            edit(weights)
        return rewrite(good, dst, {"model.weights.h5": data.getvalue()})
    return build


def _kernel(weights: h5py.File) -> str:
    """The path of the first layer kernel in a Keras weights file."""
    found = []
    weights.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset)
                       and name.startswith("layers/") and name.endswith("vars/0") else None)
    return found[0]


def _declare(path_of, shape, **options):
    """Replace a dataset by one declaring ``shape`` with no data written: a few KB on disk."""
    def edit(weights: h5py.File) -> None:
        path = path_of(weights)
        if path in weights:
            del weights[path]
        chunks = tuple(min(64, d) for d in shape)
        weights.create_dataset(path, shape=shape, dtype=options.get("dtype", "f4"), chunks=chunks)
    return _edited_weights(edit)


def _wide_convs(config: dict) -> None:
    """Three convolutions of 1024 filters: 19 M weights, 10 GFLOP per image."""
    for layer in _layers(config):
        if layer["class_name"] == "Conv2D":
            layer["config"]["filters"] = 1024
            layer["config"]["padding"] = "same"
            layer.pop("build_config", None)


def _many_layers(config: dict) -> None:
    """900 Activation layers before the output: Keras takes minutes to load them."""
    extra = [{"module": "keras.layers", "class_name": "Activation", "registered_name": None,
              "config": {"name": f"act_{i}", "activation": "relu", "trainable": True, "dtype": "float32"}}
             for i in range(900)]
    layers = _layers(config)
    layers[-1:-1] = extra


def _function_activation(name: str, module: str = "builtins"):
    def edit(config: dict) -> None:
        _first(config, "Dense")["config"]["activation"] = {
            "module": module, "class_name": "function", "config": name, "registered_name": "function"}
    return edit


def _initializer(module: str, class_name: str, inner: dict | str):
    def edit(config: dict) -> None:
        _first(config, "Dense")["config"]["kernel_initializer"] = {
            "module": module, "class_name": class_name, "config": inner, "registered_name": None}
    return edit


def _huge_weights(weights: h5py.File) -> None:
    """Finite weights of 1e38: every output overflows to NaN."""
    for name in list(weights["layers"]):
        group = weights["layers"][name].get("vars")
        for key in group or ():
            group[key][...] = np.full(group[key].shape, 1e38, group[key].dtype)


def _external(weights: h5py.File) -> None:
    path = _kernel(weights)
    shape = weights[path].shape
    del weights[path]
    weights.create_dataset(path, shape=shape, dtype="f4", external=[("/etc/hostname", 0, 4 * int(np.prod(shape)))])


def _soft_link(weights: h5py.File) -> None:
    weights["layers/elsewhere"] = h5py.ExternalLink("/etc/hostname", "/")


def _text_weights(weights: h5py.File) -> None:
    path = _kernel(weights)
    del weights[path]
    weights.create_dataset(path, data=np.array([b"x" * 100] * 4))


def _big_attribute(weights: h5py.File) -> None:
    weights.create_group("layers/blob").attrs.create("blob", np.zeros(2**17, np.uint8))


def _many_objects(weights: h5py.File) -> None:
    group = weights.create_group("junk")
    for i in range(12_000):
        group.create_group(str(i))


def _saved(build):
    """A builder that saves the Keras model ``build()`` makes (the good file is not needed)."""
    def save(good: Path, dst: Path) -> Path:
        build().save(dst)
        return dst
    return save


def _shared_conv(calls: int):
    """One 64-filter Conv2D called ``calls`` times in a chain: 37 K weights, 58 MFLOP a call."""
    def build():
        import keras

        image = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(64, 3, padding="same", name="stem")(image)
        shared = keras.layers.Conv2D(64, 3, padding="same", name="shared")
        for _ in range(calls):
            x = shared(x)
        return keras.Model(image, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    return build


def _nested_model_called(calls: int):
    """A nested model (one 64-filter convolution) called ``calls`` times."""
    def build():
        import keras

        inner_input = keras.Input((28, 28, 64))
        inner = keras.Model(inner_input, keras.layers.Conv2D(64, 3, padding="same", name="inner_conv")(inner_input),
                            name="block")
        image = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(64, 3, padding="same", name="stem")(image)
        for _ in range(calls):
            x = inner(x)
        return keras.Model(image, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    return build


def _shared_upsampling():
    """One UpSampling2D called 5 times: 28x28 becomes 896x896, 6.4 M values from a layer counted at 25 K."""
    import keras

    image = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(image)
    up = keras.layers.UpSampling2D(2, name="up")
    for _ in range(5):
        x = up(x)
    return keras.Model(image, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


def _wide_attention():
    """A 16-head MultiHeadAttention over the 784 pixels: 16 x 784 x 784 = 9.8 M scores per image, 1 K weights."""
    import keras

    image = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(image)
    x = keras.layers.MultiHeadAttention(16, 4, name="attention")(x, x)
    return keras.Model(image, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


HOSTILE = {  # name -> (builder, part of the refusal)
    "declares a 4 GiB kernel": (_declare(_kernel, (1024, 1024, 1024)),
                                "declares 1,073,741,828 values for the layer 'conv_1', whose config needs at most 40"),
    "declares 3.9 GB of optimizer state": (_declare(lambda w: "optimizer/vars/1", (1000, 1000, 1000)),
                                           "declares 1,000,000,000 values"),
    "declares a weight outside any layer": (_declare(lambda w: "junk", (2**31,)), "declares 2,147,483,648 values"),
    "stores a weight in another file": (_edited_weights(_external), "is stored in another file"),
    "links to another file": (_edited_weights(_soft_link), "links /layers/elsewhere to another place or file"),
    "stores text as weights": (_edited_weights(_text_weights), "not numbers"),
    "carries a 128 KB attribute": (_edited_weights(_big_attribute),
                                   "declares an attribute of 131,072 bytes on /layers/blob"),
    "holds 12,000 objects": (_edited_weights(_many_objects), "holds over 10,000 objects"),
    "three 1024-filter convolutions": (_edited_config(_wide_convs), "MFLOP per image so far; the limit is 200 MFLOP"),
    "900 Activation layers": (_edited_config(_many_layers), "it has more than 100 layers"),
    "activation keras.config.set_epsilon": (_edited_config(_function_activation("set_epsilon")),
                                            "it calls the function 'set_epsilon', which is not one of Keras' "
                                            "activations"),
    "activation set_max_epochs from keras.config": (
        _edited_config(_function_activation("set_max_epochs", "keras.config")),
        "calls a function from the module 'keras.config'"),
    "activation named 'set_floatx'": (
        _edited_config(lambda c: _first(c, "Dense")["config"].update(activation="set_floatx")),
        "its activation 'set_floatx' is not one of Keras' activations"),
    "a callback as an initializer": (
        _edited_config(_initializer("keras.callbacks", "TensorBoard", {"log_dir": "/tmp/evil"})),
        "from the module 'keras.callbacks', which is not part of Keras (its layers"),
    "weights of 1e38": (_edited_weights(_huge_weights), "gives NaN or infinite outputs on ordinary images"),
    "one Conv2D called 40 times": (_saved(_shared_conv(40)),
                                   "its layer 'shared' declares a Conv2D layer of 64 filters with a 3x3 kernel and "
                                   "calls it 4 times or more (up to "),
    "one Conv2D called 160 times": (_saved(_shared_conv(160)), "and calls it 4 times or more (up to "),
    "a nested model called 40 times": (_saved(_nested_model_called(40)),
                                       "its layer 'inner_conv' declares a Conv2D layer of 64 filters with a 3x3 "
                                       "kernel and calls it 4 times or more (up to "),
    "one UpSampling2D called 5 times": (_saved(_shared_upsampling),
                                        "its layer 'up' declares an UpSampling2D layer and calls it 5 times or more "
                                        "(outputs of up to 6,422,528 values per image; the limit is 2,097,152)"),
    "16-head attention over every pixel": (_saved(_wide_attention),
                                           "its layer 'attention' declares a MultiHeadAttention layer (attention "
                                           "scores and projections of up to 9,985,024 values per image; the limit "
                                           "is 2,097,152)"),
}


def build_all(good: Path, folder: Path) -> dict[str, Path]:
    """Every hostile variant of ``good`` in ``folder``, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: make(good, folder / f"{re.sub('[^A-Za-z0-9]+', '_', name).strip('_')}.keras")
            for name, (make, _) in HOSTILE.items()}
