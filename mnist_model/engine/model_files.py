"""Checks a model file passes before Keras reads it: size, zip members, safe classes, bounded layer sizes.

Nothing here imports Keras: a hostile file is refused from its bytes and its config.json alone.
"""

from __future__ import annotations

import json
import os
import re
import reprlib
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import ModelFileError
from .layer_sizes import ModelCost, check_layer_sizes
from .weights_file import check_weights

LEGACY_SUFFIXES = (".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # a legacy model renamed .keras is still recognised
MAX_MODEL_BYTES = 50 * 2**20  # a model file; the bundled one is about 1 MB
MAX_UNPACKED_BYTES = 200 * 2**20  # all its members once unpacked
MAX_COMPRESSION_RATIO = 100  # a member unpacking larger than this is a zip bomb (Keras stores weights raw)
MAX_CONFIG_BYTES = 2**20  # config.json; the bundled model's is 7 KB
_RATIO_FLOOR_BYTES = 2**20  # smaller members may compress well (repetitive JSON) without harm
_REQUIRED_MEMBERS = ("config.json", "model.weights.h5")
_KERAS_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")  # what model.save writes
_ASSETS_FOLDER = "assets/"  # where model.save puts layer assets such as vocabularies
_UNSAFE_CLASSES = {  # Keras classes that run code from outside the checked config and weights
    "Lambda": "it contains a Lambda layer, Python code that could do anything when it runs",
    "__lambda__": "it contains a Python lambda, code that could do anything when it runs",
    "TFSMLayer": "it contains a TFSMLayer, which loads and runs a TensorFlow SavedModel from elsewhere",
    "TorchModuleWrapper": "it contains a TorchModuleWrapper, whose PyTorch module is unpickled (unpickling runs code)",
    "JaxLayer": "it contains a JaxLayer, which wraps a JAX function from outside the file",
    "FlaxLayer": "it contains a FlaxLayer, which wraps a Flax module from outside the file",
}


ACTIVATIONS = frozenset((  # keras.activations' functions (a test keeps this list equal to Keras' own)
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu",
    "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus",
    "swish", "tanh", "tanh_shrink", "threshold"))
_KERAS_MODULES = frozenset((  # where the objects of a plain model's config come from
    "keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.optimizers",
    "keras.optimizers.schedules", "keras.losses", "keras.metrics", "keras.dtype_policies", "keras.models",
    "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model"))
_KERAS_MARKERS = frozenset(("__keras_tensor__", "__tuple__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__",
                            "__typespec__", "__tensor__"))  # Keras' own tags for values, not classes
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\- ]{1,100}")  # layer names end up in page text: no markup


def check_model_file(path: str | os.PathLike) -> Path:
    """Refuse files that are not a complete, plain, MNIST-sized Keras 3 archive, before Keras sees them.

    Checks the file's size, its zip members (names, sizes, compression ratio, checksums),
    every object its ``config.json`` names (only Keras' own classes, and of functions only
    Keras' activations), an upper bound of the weights, values, FLOPs and layers of its
    config, and the shapes its weights file declares against that config.

    Raises:
        ModelFileError: missing, empty, too large, legacy HDF5, not a zip, truncated,
            incomplete, a zip bomb, members outside the model, unsafe code in the config,
            layers far larger or slower than an MNIST model needs, or weights declared
            beyond what the config's layers hold.
    """
    path = Path(path)
    check_archive(path, path.name)
    return path


def check_archive(path: Path, label: str) -> ModelCost:
    """``check_model_file`` with ``label`` naming the file in messages (an upload's own name); returns
    the model's cost from its config."""
    _check_file(path, label)
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(label, archive.infolist())
            bad = archive.testzip()
            if bad is not None:
                raise ModelFileError(f"{label} is damaged: member {bad!r} fails its checksum. Retrain or re-copy it.")
            config = _read_config(label, archive)
            _check_config(label, config)
            cost = check_layer_sizes(label, config)
            check_weights(label, archive, cost.by_layer, cost.params)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as err:
        raise ModelFileError(f"{label} is a damaged archive ({err}). Retrain or re-copy it.") from err
    return cost


def _check_file(path: Path, label: str) -> None:
    legacy = ModelFileError(f"{label} is a legacy HDF5 model; only Keras 3 '.keras' files are loaded. "
                            f"Re-save it with model.save('model.keras') in Keras 3.")
    if Path(label).suffix.lower() in LEGACY_SUFFIXES:
        raise legacy
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    check_size(label, path.stat().st_size)
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head == HDF5_SIGNATURE:
        raise legacy
    if path.suffix != ".keras":
        raise ModelFileError(f"{label} is not a '.keras' model file.")
    if zipfile.is_zipfile(path):
        return
    if head.startswith(b"PK\x03\x04"):
        raise ModelFileError(f"{label} is a damaged archive: it starts like a zip but its end is missing "
                             f"(truncated, or copied only in part?). Retrain or re-copy it.")
    raise ModelFileError(f"{label} is not a Keras model: a '.keras' file is a zip archive, "
                         f"and this one is not (overwritten?). Retrain or re-copy it.")


def check_size(label: str, size: int) -> None:
    """Refuse an empty model file, or one over ``MAX_MODEL_BYTES``."""
    if size == 0:
        raise ModelFileError(f"{label} is empty (0 bytes), not a Keras model: an interrupted copy or save? "
                             f"Re-copy or retrain it.")
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{label} is {size / 2**20:.1f} MB; model files over {MAX_MODEL_BYTES / 2**20:g} MB "
                             f"are refused (the bundled model is about 1 MB).")


def _check_members(label: str, infos: list[zipfile.ZipInfo]) -> None:
    names = [info.filename for info in infos]
    for name in names:
        problem = _member_problem(name)
        if problem:
            raise ModelFileError(f"{label} is refused: its archive holds {name!r}, {problem}. A Keras model "
                                 f"holds only {', '.join(_KERAS_MEMBERS)} and {_ASSETS_FOLDER} files.")
    if len(set(names)) != len(names):
        raise ModelFileError(f"{label} is refused: its archive names a member twice.")
    missing = [m for m in _REQUIRED_MEMBERS if m not in names]
    if missing:
        raise ModelFileError(f"{label} lacks {missing}: it is not a complete Keras model.")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ModelFileError(f"{label} is refused: it would unpack to {unpacked / 2**20:,.0f} MB, over the "
                             f"{MAX_UNPACKED_BYTES / 2**20:g} MB limit (a zip bomb?).")
    for info in infos:
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > _RATIO_FLOOR_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise ModelFileError(f"{label} is refused: {info.filename!r} unpacks {ratio:,.0f} times larger than "
                                 f"stored, over the {MAX_COMPRESSION_RATIO}x limit (a zip bomb?).")


def _member_problem(name: str) -> str | None:
    """Why a zip member has no place in a Keras model, or None."""
    if "\\" in name:
        return "a name with a backslash"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a path with '..' that points outside the model"
    if name not in _KERAS_MEMBERS and not name.startswith(_ASSETS_FOLDER):
        return "a file Keras does not write"
    return None


def _read_config(label: str, archive: zipfile.ZipFile):
    if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{label} is refused: its config.json is over {MAX_CONFIG_BYTES // 2**10} KB "
                             f"(the bundled model's is 7 KB).")
    try:
        return json.loads(archive.read("config.json"))
    except (ValueError, RecursionError) as err:
        raise ModelFileError(f"{label} is damaged: its config.json is not valid JSON ({err}).") from err


def _check_config(label: str, config) -> None:
    """Refuse any object in the config that is not one of Keras' own safe classes or functions."""
    for node in _serialized_objects(config):
        problem = _object_problem(node)
        if problem:
            raise ModelFileError(f"{label} is refused for safety: {problem}. "
                                 f"Use a model built from standard Keras layers.")


def _serialized_objects(tree):
    """Every ``{"class_name": ...}`` object in a Keras config, however deeply nested."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node:
                yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _object_problem(node: dict) -> str | None:
    name, module, registered = node["class_name"], node.get("module"), node.get("registered_name")
    if not isinstance(name, str):
        return f"its config.json names a class by {name!r}, which is not a name"
    config = node.get("config")
    layer_name = config.get("name") if isinstance(config, dict) else None
    if layer_name is not None and not (isinstance(layer_name, str) and _SAFE_NAME.fullmatch(layer_name)):
        return (f"a layer is named {reprlib.repr(layer_name)}; layer names shown in the app may use only "
                f"letters, digits, spaces, '_', '.' and '-' (at most 100 characters)")
    if name in _UNSAFE_CLASSES:
        return _UNSAFE_CLASSES[name]
    if name == "function":
        return _function_problem(module, config)
    if module is None:
        return None if name in _KERAS_MARKERS else f"it names {reprlib.repr(name)} without saying where it comes from"
    if module not in _KERAS_MODULES:
        return (f"it uses {name!r} from the module {module!r}, which is not part of Keras (its layers, "
                f"initializers, regularizers, constraints, optimizers) and could run any code")
    if registered not in (None, name):
        return f"it uses the custom object {registered!r}, which is not a built-in Keras class"
    return _activations_problem(config)


def _function_problem(module, config) -> str | None:
    """A function in a config may only be one of Keras' activations: any other (``keras.config.set_epsilon``)
    would run when the model does, and could change the whole server's state."""
    if module not in ("builtins", "keras.activations") and not str(module).startswith("keras.src.activations"):
        return f"it calls a function from the module {reprlib.repr(module)}, which is not one of Keras' activations"
    if config not in ACTIVATIONS:
        return (f"it calls the function {reprlib.repr(config)}, which is not one of Keras' activations "
                f"({', '.join(sorted(ACTIVATIONS))})")
    return None


def _activations_problem(config) -> str | None:
    """An activation named by a string must be one of Keras' own, too."""
    if not isinstance(config, dict):
        return None
    for key in ("activation", "recurrent_activation"):
        value = config.get(key)
        if isinstance(value, str) and value not in ACTIVATIONS:
            return (f"its activation {reprlib.repr(value)} is not one of Keras' activations "
                    f"({', '.join(sorted(ACTIVATIONS))})")
    return None
