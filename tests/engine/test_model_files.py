"""Hostile model files, uploads, renames and deletes: every bad file is refused with a clear message."""

import hashlib
import json
import os
import pathlib
import struct
import time
import tracemalloc
import zipfile
import zlib

import keras
import numpy as np
import pytest
from hostile_models import config_of as _config_of
from hostile_models import rewrite as _rewrite
from model_zoo import BUILDERS
from PIL import Image, ImageDraw

from mnist_model import cli
from mnist_model.engine import layer_sizes, model_files
from mnist_model.engine.layer_sizes import check_layer_sizes
from mnist_model.engine.storage import (
    PRETRAINED_DENSE,
    PRETRAINED_MODEL,
    ModelFileError,
    check_model_file,
    delete_model,
    import_model,
    list_models,
    load_model,
    model_digest,
    read_card,
    remove_stale_temp,
    rename_model,
    save_model,
)


def _members(**members):
    return lambda good, dst: _rewrite(good, dst, members)


def _member(name):
    return lambda good, dst: _rewrite(good, dst, {name: "x"})


def _edited_config(edit):
    """The good archive with its config.json changed in place by ``edit``."""
    def build(good, dst):
        config = _config_of(good)
        edit(config)
        return _rewrite(good, dst, {"config.json": json.dumps(config)})
    return build


def _last_layer(edit):
    """The good archive with its last layer's entry in config.json changed by ``edit``."""
    return _edited_config(lambda config: edit(config["config"]["layers"][-1]))


def _layer_named(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


def _declaring(name, **settings):
    """The good archive with the layer ``name`` declaring ``settings`` in config.json."""
    return _edited_config(lambda config: _layer_named(config, name)["config"].update(settings))


def _raw_zip(path, members):
    """A zip written byte by byte from (name, method, stored bytes, declared size, crc) tuples."""
    out, central = bytearray(), bytearray()
    for name, method, data, size, crc in members:
        encoded = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(encoded), 0, 0, 0, 0, 0, len(out)) + encoded
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                           len(encoded), 0) + encoded + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def _stored(name, data):
    return name, 0, data, len(data), zlib.crc32(data)


def _zip_bomb(good, dst):
    """A real zip bomb: model.weights.h5 is 1 GiB of zeros in about 1 MB (and would unpack correctly)."""
    chunk = bytes(2**20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)  # so every MiB of zeros packs alike
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(chunk, crc)
    with zipfile.ZipFile(good) as src:
        plain = [_stored(name, src.read(name)) for name in ("config.json", "metadata.json")]
    return _raw_zip(dst, [*plain, ("model.weights.h5", zipfile.ZIP_DEFLATED, block * 1024 + packer.flush(),
                                   2**30, crc)])


def _deflated_zeros(good, dst):
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("config.json", src.read("config.json"))
        out.writestr("model.weights.h5", bytes(20 * 2**20))
    return dst


def _duplicate_member(good, dst):
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dst, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr("config.json", src.read("config.json"))
    return dst


def _corrupt_member(good, dst):
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    data[start:start + 50] = bytes(50)
    dst.write_bytes(bytes(data))
    return dst


def _written(data, name="bad.keras"):
    """A file holding ``data``, or ``data(good archive)`` when it is a function."""
    def build(good, dst):
        path = dst.with_name(name)
        path.write_bytes(data(good) if callable(data) else data)
        return path
    return build


def _model(*layers, name):
    return lambda good, dst: save_model(keras.Sequential([*layers]), dst.with_name(name))


def _with_weight(value, layer):
    """The good model with one weight of ``layer`` set to ``value``."""
    def build(good, dst):
        model = load_model(good)
        weights = model.get_layer(layer).get_weights()
        weights[0].flat[3] = value
        model.get_layer(layer).set_weights(weights)
        return save_model(model, dst)
    return build


HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(100)
REFUSED_BEFORE_LOADING = "far larger than an MNIST model needs; refused before loading so it cannot exhaust"
UPSAMPLING = {"module": "keras.layers", "class_name": "UpSampling2D", "config": {"name": "up", "size": [1000, 1000]}}
HUGE = {  # name -> (a config.json declaring layers that would exhaust memory at load, what the refusal must say)
    "Dense of 10^9 units": (_declaring("dense", units=10**9), r"its layer 'dense' declares a Dense layer of "
                            r"1,000,000,000 units \(up to [\d,]+ weights in all; the limit is 25,000,000\): "
                            + REFUSED_BEFORE_LOADING),
    "Conv2D of 10^6 filters": (_declaring("conv_2", filters=10**6), "its layer 'conv_2' declares a Conv2D layer of "
                               "1,000,000 filters with a 3x3 kernel .*" + REFUSED_BEFORE_LOADING),
    "10,000x10,000 kernel": (_declaring("conv_2", kernel_size=[10_000, 10_000]),
                             "a Conv2D layer of 8 filters with a 10,000x10,000 kernel .*" + REFUSED_BEFORE_LOADING),
    "UpSampling by 1,000": (_edited_config(lambda config: config["config"]["layers"].insert(2, UPSAMPLING)),
                            r"its layer 'up' declares an UpSampling2D layer \(outputs of up to [\d,]+ values per "
                            rf"image; the limit is {layer_sizes.MAX_ACTIVATION_VALUES:,}\)"),
    "input of 10^5x10^5 pixels": (_edited_config(lambda config: config["config"]["layers"][0]["config"].update(
        batch_shape=[None, 10**5, 10**5, 1])), "declares an InputLayer .*" + REFUSED_BEFORE_LOADING),
    "recorded input shape of 10^9": (_edited_config(lambda config: _layer_named(config, "predictions").update(
        build_config={"input_shape": [None, 10**9]})), "its layer 'predictions' declares a Dense layer of 10 units"),
    "units as text": (_declaring("dense", units="1000000000"),
                      r"its layer 'dense' \(Dense\) gives units as '1000000000', which is not a whole number"),
}
LAMBDA = {"class_name": "__lambda__", "config": {"value": ["4wAAAAAAAAAAAAAAAAEAAAADAAAA8wQAAAB8AFMAKQFO"]}}
HOSTILE = {  # name -> (how to make it from a good archive, what the refusal must say)
    "Lambda layer": (_model(keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Flatten(),
                            keras.layers.Dense(10), name="lambda.keras"), "refused for safety: .*Lambda layer"),
    "lambda activation": (_last_layer(lambda layer: layer["config"].update(activation=LAMBDA)),
                          "refused for safety: it contains a Python lambda"),
    "module os": (_last_layer(lambda layer: layer.update(module="os", class_name="system")),
                  "refused for safety: it uses 'system' from the module 'os', which is not part of Keras"),
    "module builtins": (_last_layer(lambda layer: layer.update(module="builtins", class_name="eval")),
                        "'eval' from the module 'builtins'"),
    "module named like keras": (_last_layer(lambda layer: layer.update(module="keras_evil.layers")),
                                "from the module 'keras_evil.layers'"),
    "custom registered class": (_last_layer(lambda layer: layer.update(registered_name="evil>Dense")),
                                "the custom object 'evil>Dense', which is not a built-in Keras class"),
    "class named by a list": (_last_layer(lambda layer: layer.update(class_name=["Dense"])),
                              r"names a class by \['Dense'\], which is not a name"),
    "TFSMLayer": (_last_layer(lambda layer: layer.update(class_name="TFSMLayer")),
                  "refused for safety: it contains a TFSMLayer"),
    "legacy h5": (_written(HDF5, "old.h5"), "old.h5 is a legacy HDF5 model"),
    "legacy h5 renamed .keras": (_written(HDF5), "bad.keras is a legacy HDF5 model"),
    "zero bytes": (_written(b""), r"is empty \(0 bytes\)"),
    "text renamed .keras": (_written(b"hello, I am a model"), "a '.keras' file is a zip archive"),
    "truncated": (_written(lambda good: good.read_bytes()[: good.stat().st_size // 2]),
                  "a damaged archive: it starts like a zip but its end is missing"),
    "corrupt member": (_corrupt_member, "fails its checksum|damaged"),
    "incomplete": (lambda good, dst: _raw_zip(dst, [_stored("metadata.json", b"{}")]),
                   r"lacks \['config.json', 'model.weights.h5'\]"),
    "zip bomb (1 GiB of zeros)": (_zip_bomb, r"unpack to 1,024 MB, over the 200 MB limit \(a zip bomb\?\)"),
    "highly compressed member": (_deflated_zeros, r"'model.weights.h5' unpacks [\d,]+ times larger .*zip bomb"),
    "../evil member": (_member("../evil"), "holds '../evil', a path with '..' that points outside the model"),
    "assets/../../evil member": (_member("assets/../../evil"), "a path with '..'"),
    "absolute member": (_member("/etc/cron.d/evil"), "holds '/etc/cron.d/evil', an absolute path"),
    "drive letter member": (_member("C:/evil"), "an absolute path"),
    "backslash member": (_member("assets\\..\\evil"), "a name with a backslash"),
    "extra member": (_members(**{"run_me.py": "import os"}), "'run_me.py', a file Keras does not write"),
    "duplicate member": (_duplicate_member, "names a member twice"),
    "config not JSON": (_members(**{"config.json": "{not json"}), "its config.json is not valid JSON"),
    "wrong input shape": (_model(keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10),
                                 name="cifar.keras"), r"must take \(None, 28, 28, 1\)"),
    "wrong output shape": (_model(keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5),
                                  name="five.keras"), r"\[\(None, 5\)\], but MNIST models must output 10 class"),
    "NaN weights": (_with_weight(np.nan, "dense"),
                    r"has non-finite weights \(NaN or Infinity\) in layer dense: it cannot predict. Retrain it."),
    "Inf weights": (_with_weight(-np.inf, "predictions"), "non-finite weights .* in layer predictions"),
    **HUGE,
}


@pytest.fixture
def good(tmp_path, tiny_model):
    return save_model(tiny_model, tmp_path / "good.keras")


@pytest.fixture
def user_folder(tmp_path):
    """A model folder that already holds one model, to check that failures leave it untouched."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "keep.keras").write_bytes(b"an existing model")
    (folder / "keep.json").write_text("{}")
    return folder


def _listing(folder):
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


@pytest.mark.parametrize("kind", HOSTILE)
def test_every_hostile_file_on_disk_is_refused_with_a_clear_message(tmp_path, good, kind):
    make, message = HOSTILE[kind]
    bad = make(good, tmp_path / "bad.keras")
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(bad)
    assert str(err.value).startswith(bad.name)


@pytest.mark.parametrize("kind", HOSTILE)
def test_every_hostile_upload_is_refused_and_leaves_the_folder_as_it_was(tmp_path, good, user_folder, kind):
    make, message = HOSTILE[kind]
    bad = make(good, tmp_path / "bad.keras")
    before = _listing(user_folder)
    with pytest.raises(ModelFileError, match=message) as err:
        import_model(bad.read_bytes(), f"uploads/{bad.name}", user_folder)
    assert str(err.value).startswith(bad.name)  # the name the person knows, not a temp file's
    assert _listing(user_folder) == before


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_MODEL_BYTES", 10_000, r"good.keras is [\d.]+ MB; model files over [\d.]+ MB are refused"),
    ("MAX_UNPACKED_BYTES", 10_000, r"would unpack to \d+ MB, over the [\d.e-]+ MB limit"),
    ("MAX_CONFIG_BYTES", 2048, "its config.json is over 2 KB"),
    ("MAX_PARAMS", 1000, r"its layer 'dense' declares a Dense layer of 16 units \(up to 2,088 weights in all; "
                         r"the limit is 1,000\)"),
    ("MAX_ACTIVATION_VALUES", 1000, r"its layer 'conv_1' declares a Conv2D layer of 4 filters with a 3x3 kernel "
                                    r"\(outputs of up to 2,704 values per image; the limit is 1,000\)"),
])
def test_size_limits_are_enforced_before_keras_reads_the_file(good, user_folder, monkeypatch, limit, value, message):
    monkeypatch.setattr(layer_sizes if hasattr(layer_sizes, limit) else model_files, limit, value)
    with pytest.raises(ModelFileError, match=message):
        load_model(good)
    with pytest.raises(ModelFileError, match=message):
        import_model(good.read_bytes(), "good.keras", user_folder)


def test_a_missing_file_is_named():
    with pytest.raises(ModelFileError, match="Model file not found: .*absent.keras"):
        load_model("absent.keras")


def _functional(good, dst):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, activation=keras.activations.gelu)(inputs))
    x = keras.layers.Dropout(0.1)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 100)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return save_model(model, dst)


@pytest.mark.parametrize("make", [
    lambda good, dst: PRETRAINED_MODEL,
    lambda good, dst: good,
    _functional,
    lambda good, dst: _rewrite(good, dst, {"assets/vocabulary.txt": "a\nb\n"}),
], ids=["bundled", "tiny sequential", "compiled functional", "with assets"])
def test_plain_keras_models_pass_every_check(tmp_path, good, make):
    path = make(good, tmp_path / "other.keras")
    assert check_model_file(path) == path
    assert load_model(path).output_shape == (None, 10)


@pytest.mark.parametrize("kind", HUGE)
def test_huge_layers_are_refused_in_milliseconds_without_allocating(tmp_path, good, kind):
    make, message = HUGE[kind]
    bad = make(good, tmp_path / "bad.keras")
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ModelFileError, match=message):
            check_model_file(bad)
        seconds, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 0.5 and peak < 10 * 2**20


def test_the_weight_bound_of_the_bundled_model_is_its_exact_count():
    assert check_layer_sizes("classic.keras", _config_of(PRETRAINED_MODEL)).params == 93_322 == \
        read_card(PRETRAINED_MODEL)["params"]


def _sequential(*layers):
    return lambda: keras.Sequential([keras.Input((28, 28, 1)), *layers])


def _attention():
    image = keras.Input((28, 28, 1))
    rows = keras.layers.Reshape((28, 28))(image)
    mixed = keras.layers.MultiHeadAttention(2, 8)(rows, rows)
    return keras.Model(image, keras.layers.Dense(10)(keras.layers.Flatten()(mixed)))


L = keras.layers
SIZED = {  # name -> (a model builder, whether the bound must be its exact count rather than a little above)
    **{name: (build, True) for name, build in BUILDERS.items()},
    "normalizations": (_sequential(
        L.Conv2D(8, 3), L.BatchNormalization(), L.LayerNormalization(), L.PReLU(), L.GroupNormalization(2),
        L.GlobalMaxPooling2D(), L.Dense(10)), True),
    "depthwise, separable, grouped": (_sequential(
        L.Conv2D(4, 3, padding="same"), L.DepthwiseConv2D(3, depth_multiplier=2), L.SeparableConv2D(8, 3, strides=2),
        L.Conv2D(8, 3, groups=2, dilation_rate=2), L.AveragePooling2D(2), L.Flatten(), L.Dense(10)), True),
    "resize, permute, adaptive": (_sequential(
        L.Resizing(14, 14), L.Permute((2, 1, 3)), L.Conv2D(3, 3), L.AdaptiveAveragePooling2D(5), L.Flatten(),
        L.Dense(10)), True),
    "channels first": (_sequential(
        L.Permute((3, 1, 2)), L.Conv2D(4, 3, data_format="channels_first"),
        L.MaxPooling2D(data_format="channels_first"), L.Flatten(), L.Dense(10)), True),
    "nested Sequential": (_sequential(
        keras.Sequential([L.Conv2D(4, 3), L.MaxPooling2D()]), L.Flatten(), L.Dense(10)), True),
    "rows through TimeDistributed and Conv1D": (_sequential(
        L.Reshape((28, 28)), L.TimeDistributed(L.Dense(5)), L.Conv1D(6, 5, strides=2), L.GlobalAveragePooling1D(),
        L.Dense(10)), True),
    "padding, upsampling, transposed conv": (_sequential(
        L.ZeroPadding2D(2), L.UpSampling2D(2), L.Conv2DTranspose(4, 3, strides=2), L.Flatten(), L.Dense(10)), False),
    "recurrent": (_sequential(
        L.Reshape((28, 28)), L.Bidirectional(L.GRU(8, return_sequences=True)), L.LSTM(4), L.Dense(10)), False),
    "attention": (_attention, False),
    "einsum dense": (_sequential(L.Flatten(), L.EinsumDense("ab,bc->ac", output_shape=32), L.Dense(10)), False),
}


@pytest.mark.parametrize("name", SIZED)
def test_the_weight_bound_is_exact_for_usual_layers_and_never_below_the_count(tmp_path, name):
    build, exact = SIZED[name]
    model = build()
    model.save(tmp_path / "m.keras")
    bound, count = check_layer_sizes("m.keras", _config_of(tmp_path / "m.keras")).params, model.count_params()
    assert bound == count if exact else count < bound <= 1.1 * count


def test_a_functional_model_is_bounded_whatever_order_its_layers_are_listed_in(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_sizes, "MAX_TOTAL_ACTIVATIONS", 2**40)  # only the weights are bounded here
    monkeypatch.setattr(layer_sizes, "MAX_ACTIVATION_VALUES", 2**40)
    monkeypatch.setattr(layer_sizes, "MAX_FLOPS", 2**50)
    model = BUILDERS["functional"]()
    model.save(tmp_path / "f.keras")
    config = _config_of(tmp_path / "f.keras")
    for layer in config["config"]["layers"]:
        layer.pop("build_config", None)  # so Keras builds each layer from the layers that feed it
    config["config"]["layers"].reverse()
    assert check_layer_sizes("f.keras", config).params == model.count_params()
    conv = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")
    conv["config"]["filters"] = 20_000  # allowed alone, too many inputs for the Dense layer
    with pytest.raises(ModelFileError, match=r"its layer '\w+' declares a Dense layer of 10 units \(up to"):
        check_layer_sizes("f.keras", config)


def test_every_call_of_a_shared_layer_costs_and_its_weights_count_once_by_hand(tmp_path):
    image = keras.Input((28, 28, 1))
    rows = keras.layers.Reshape((28, 28), name="rows")(image)  # 28 positions of 28 values
    shared = keras.layers.Dense(28, name="shared")
    x = shared(shared(shared(rows)))
    model = keras.Model(image, keras.layers.Dense(10, name="out")(keras.layers.Flatten(name="flat")(x)))
    model.save(tmp_path / "shared.keras")
    cost = check_layer_sizes("shared.keras", _config_of(tmp_path / "shared.keras"))
    dense = 28 * 28 + 28  # weights and biases
    assert cost.params == model.count_params() == dense + (784 + 1) * 10
    per_call = 2 * dense * 28 + 784  # each weight once per row, a multiply and an add; one value per output
    reshape = flatten = 784
    model_output = 10  # the model itself counts as a layer giving its 10 values
    assert cost.flops == 784 + reshape + 3 * per_call + flatten + (2 * 785 * 10 + 10) + model_output  # input's 784 too
    assert cost.calls == 8 and cost.layers == 6  # the model, input, rows, shared x3, flat, out: shared is one layer


def test_two_layers_under_one_name_are_both_weighed(tmp_path):
    image = keras.Input((28, 28, 1))
    model = keras.Model(image, keras.layers.Dense(10, name="out")(keras.layers.Flatten(name="flat")(image)))
    model.save(tmp_path / "twin.keras")
    config = _config_of(tmp_path / "twin.keras")
    twin = json.loads(json.dumps(next(lr for lr in config["config"]["layers"] if lr["name"] == "out")))
    twin["config"]["units"] = 10**6  # Keras would build it before it noticed the name is taken
    config["config"]["layers"].append(twin)
    with pytest.raises(ModelFileError, match=r"its layer 'out' declares a Dense layer of 1,000,000 units \(up to "
                                             r"[\d,]+ weights in all"):
        check_layer_sizes("twin.keras", config)


def test_attention_counts_its_score_matrix_by_hand(tmp_path):
    image = keras.Input((28, 28, 1))
    rows = keras.layers.Reshape((28, 28), name="rows")(image)
    mixed = keras.layers.MultiHeadAttention(2, 8, name="mha")(rows, rows)
    model = keras.Model(image, keras.layers.Dense(10, name="out")(keras.layers.Flatten(name="flat")(mixed)))
    model.save(tmp_path / "mha.keras")
    cost = check_layer_sizes("mha.keras", _config_of(tmp_path / "mha.keras"))
    scores = 2 * 28 * 28  # per head, each of 28 query rows against each of 28 key rows
    projections = 28 * 2 * (8 + 8 + 8)  # query, key and value, per head
    assert cost.activations == 784 + 784 + (784 + scores + projections) + 784 + 10 + 10  # the model's own 10 last


def test_an_upload_lands_with_its_card_under_a_new_unique_name(good, user_folder):
    data = good.read_bytes()
    first = import_model(data, "My Model!.keras", user_folder, uploaded_by="ann")
    second = import_model(data, "My Model!.keras", user_folder)
    assert (first.name, second.name) == ("My Model!.keras", "My Model!-2.keras")
    card = read_card(first)
    assert card["uploaded"] is True and card["uploaded_by"] == "ann"
    assert card["original_name"] == "My Model!.keras" and card["uploaded_at"].endswith("+00:00")
    assert card["params"] == load_model(good).count_params() and card["layers"] == 8
    assert read_card(second)["uploaded_by"] is None
    assert first.read_bytes() == data and load_model(second).count_params() == card["params"]
    assert sorted(p.name for p in user_folder.iterdir()) == [
        "My Model!-2.json", "My Model!-2.keras", "My Model!.json", "My Model!.keras", "keep.json", "keep.keras"]


@pytest.mark.parametrize("original, name", [
    ("../../etc/passwd.keras", "etc-passwd.keras"),
    ("a/b.keras", "a-b.keras"),
    ("<script>alert(1)</script>.keras", "script-alert(1)-script.keras"),
    ("", "model.keras"),
    ("keep.keras", "keep-2.keras"),
    ("classic.keras", "classic-2.keras"),
    ("dense.keras", "dense-2.keras"),
])
def test_uploads_stay_in_their_folder_and_never_replace_a_model(good, user_folder, original, name):
    path = import_model(good.read_bytes(), original, user_folder)
    assert path == user_folder / name
    assert (user_folder / "keep.keras").read_bytes() == b"an existing model"


def test_an_upload_that_cannot_be_written_says_so(good, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelFileError, match="good.keras could not be saved in"):
        import_model(good.read_bytes(), "good.keras", blocker / "models")


def _family(folder):
    """A model 'seed-1' with sidecars, beside models whose names begin the same way."""
    names = ["seed-1.keras", "seed-1.json", "seed-1.patterns.npz", "seed-1.notes.txt",
             "seed-10.keras", "seed-10.json", "seed-1.v2.keras", "seed-1.v2.json"]
    for name in names:
        (folder / name).write_text(name)
    return folder / "seed-1.keras"


def test_rename_moves_the_model_with_its_sidecars_only(user_folder):
    model = _family(user_folder)
    digest = model_digest(model)
    renamed = rename_model(model, "../elsewhere/best run")
    assert renamed == user_folder / "elsewhere-best run.keras" and model_digest(renamed) == digest
    assert sorted(p.name for p in user_folder.iterdir()) == [
        "elsewhere-best run.json", "elsewhere-best run.keras", "elsewhere-best run.notes.txt",
        "elsewhere-best run.patterns.npz", "keep.json", "keep.keras", "seed-1.v2.json", "seed-1.v2.keras",
        "seed-10.json", "seed-10.keras"]
    assert (user_folder / "elsewhere-best run.json").read_text() == "seed-1.json"


@pytest.mark.parametrize("new_name", ["keep", "seed-10.keras", "classic", "dense"])
def test_rename_refuses_a_taken_name_and_changes_nothing(user_folder, new_name):
    model = _family(user_folder)
    before = _listing(user_folder)
    with pytest.raises(ModelFileError, match="already exists; choose another name"):
        rename_model(model, new_name)
    assert _listing(user_folder) == before


def test_rename_to_the_same_name_changes_nothing(user_folder):
    model = _family(user_folder)
    assert rename_model(model, "seed-1.keras") == model and model.read_text() == "seed-1.keras"


def test_delete_removes_the_model_with_its_sidecars_only(user_folder):
    delete_model(_family(user_folder))
    assert sorted(p.name for p in user_folder.iterdir()) == [
        "keep.json", "keep.keras", "seed-1.v2.json", "seed-1.v2.keras", "seed-10.json", "seed-10.keras"]


@pytest.mark.parametrize("action", [lambda p: rename_model(p, "mine"), delete_model], ids=["rename", "delete"])
@pytest.mark.parametrize("path, message", [
    (PRETRAINED_MODEL, "classic.keras is bundled with the app; it cannot be renamed or deleted"),
    (PRETRAINED_MODEL.with_suffix(".json"), "classic.json is bundled with the app"),
    (PRETRAINED_DENSE, "dense.keras is bundled with the app; it cannot be renamed or deleted"),
    ("absent.keras", "Model file not found"),
])
def test_the_bundled_model_and_missing_files_cannot_be_renamed_or_deleted(action, path, message):
    bundled = sorted(p.name for p in PRETRAINED_MODEL.parent.iterdir())
    with pytest.raises(ModelFileError, match=message):
        action(path)
    assert sorted(p.name for p in PRETRAINED_MODEL.parent.iterdir()) == bundled


def _denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


@pytest.mark.parametrize("action, blocked, message", [
    (lambda p: rename_model(p, "other"), (os, "link"), "seed-1.keras could not be renamed: .*Permission denied"),
    (delete_model, (pathlib.Path, "unlink"), "seed-1.keras could not be deleted: .*Permission denied"),
], ids=["rename", "delete"])
def test_a_folder_that_cannot_be_written_is_said_in_plain_words(user_folder, monkeypatch, action, blocked,
                                                                 message):
    model = _family(user_folder)
    before = _listing(user_folder)
    monkeypatch.setattr(*blocked, _denied)  # as in a read-only folder (chmod does not stop root)
    with pytest.raises(ModelFileError, match=message):
        action(model)
    assert _listing(user_folder) == before


def test_model_digest_is_the_sha256_of_the_file(good):
    assert model_digest(good) == hashlib.sha256(good.read_bytes()).hexdigest()


def test_stale_temp_files_are_removed_and_nothing_else(user_folder):
    stale = [".m.abcd_123.tmp.keras", ".m.patterns.x1y2z3w4.tmp.npz", ".upload.abcdefgh.tmp.keras"]
    kept = [".hidden", "notes.tmp", "m.keras", ".m.keras"]
    for name in stale + kept:
        (user_folder / name).write_text("x")
    assert remove_stale_temp(user_folder, older_than_s=3600) == 0  # a write may still be running
    assert remove_stale_temp(user_folder) == 3
    assert sorted(p.name for p in user_folder.iterdir()) == sorted([*kept, "keep.json", "keep.keras"])
    assert remove_stale_temp(user_folder / "absent") == 0


def test_list_models_ignores_an_upload_in_progress(good, user_folder):
    (user_folder / ".upload.abcdefgh.tmp.keras").write_bytes(good.read_bytes())
    assert [e.name for e in list_models(user_folder)] == ["classic", "dense", "keep"]


def _refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def test_cli_refuses_a_model_whose_output_is_nan_in_plain_words(tmp_path, tiny_model, capsys):
    tiny_model.set_weights([np.full_like(w, 1e30) for w in tiny_model.get_weights()])  # finite, but overflows
    model = save_model(tiny_model, tmp_path / "huge.keras")
    image = Image.new("L", (28, 28))
    ImageDraw.Draw(image).line([(14, 4), (14, 24)], fill=255, width=3)
    image.save(tmp_path / "one.png")
    assert cli.main(["predict", "--json", "--model", str(model), str(tmp_path / "one.png")]) == 2
    assert "error: huge.keras gives NaN or infinite outputs on ordinary images" in capsys.readouterr().err


def test_cli_refuses_a_model_with_nan_weights_in_plain_words(tmp_path, tiny_model, capsys):
    tiny_model.set_weights([np.full_like(w, np.nan) for w in tiny_model.get_weights()])
    model = save_model(tiny_model, tmp_path / "nan.keras")
    assert cli.main(["predict", "--json", "--model", str(model), "any.png"]) == 2
    assert "error: nan.keras has non-finite weights" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["[click](http:evil.example)", "<img src=x onerror=alert(1)>", "x" * 101, "**bold**"])
def test_layer_names_that_could_format_the_page_are_refused(tmp_path, name):
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax", name=name)])
    path = save_model(model, tmp_path / "named.keras")
    with pytest.raises(ModelFileError, match="layer names shown in the app may use only"):
        load_model(path)


def test_ordinary_layer_names_pass(tmp_path):
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(name="my flatten-1.v2"),
                              keras.layers.Dense(10, activation="softmax", name="dense_10")])
    assert load_model(save_model(model, tmp_path / "named.keras")).count_params() == 7850
