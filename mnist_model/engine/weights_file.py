"""The weights a ``.keras`` file's ``model.weights.h5`` declares, held to its config before Keras reads any.

Keras reads each weight with ``np.array(dataset)``, so a 40 KB file whose HDF5 dataset
*declares* 4 GB makes the server allocate 4 GB before anything can complain. Here the
datasets' shapes and types are read from the HDF5 metadata alone (h5py, no data) and held
to what the config's own layers need, as ``layer_sizes`` bounds them.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile

import h5py
import numpy as np

from .errors import ModelFileError

WEIGHTS_MEMBER = "model.weights.h5"
MAX_OBJECTS = 10_000  # groups and datasets; the bundled model's file has 45
MAX_ATTRIBUTE_BYTES = 2**16  # Keras stores a layer's name there
SLOTS_PER_WEIGHT = 3  # an optimizer keeps at most two values per weight (Adam) and a few counters
SLACK_VALUES = 1024  # counters, a seed generator's state and the like
_NUMERIC = "fiub"  # float, int, unsigned, bool


def check_weights(label: str, archive: zipfile.ZipFile, layer_params: dict[str, int], params: int) -> None:
    """Refuse a weights file that declares more, or other, than the config's layers hold.

    Args:
        label: the file's name, for messages.
        archive: the opened ``.keras`` archive.
        layer_params: each layer's weight bound by layer name, from ``layer_sizes``.
        params: the whole model's weight bound.

    Raises:
        ModelFileError: a dataset is not plain numbers, lives in another file (external
            storage, links, virtual datasets), is larger than its layer (or the whole model)
            can hold, or the file declares more values in all than the model and an
            optimizer's state would need.
    """
    with archive.open(WEIGHTS_MEMBER) as member, tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(member, copy, 2**20)  # h5py seeks back and forth: not in a zip stream
        copy.seek(0)
        try:
            with h5py.File(copy, "r") as weights:
                declared = _declared(label, weights)
        except ModelFileError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise ModelFileError(f"{label} is damaged: its {WEIGHTS_MEMBER} is not a readable HDF5 file "
                                 f"({err}). Re-save the model.") from err
    _hold_to_config(label, declared, layer_params, params)


def _declared(label: str, weights: h5py.File) -> dict[str, int]:
    """Values declared per group of weights ('vars' groups by their layer's name; others by path)."""
    declared: dict[str, int] = {}
    stack, seen = [weights], 0
    while stack:
        group = stack.pop()
        _check_attributes(label, group)
        owner = _owner(group)
        for name in group:
            seen += 1
            if seen > MAX_OBJECTS:
                raise ModelFileError(f"{label} is refused: its weights file holds over {MAX_OBJECTS:,} objects; "
                                     f"an MNIST model's holds a few dozen.")
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ModelFileError(f"{label} is refused: its weights file links {group.name}/{name} to another "
                                     f"place or file; Keras never writes links.")
            item = group[name]
            if isinstance(item, h5py.Group):
                stack.append(item)
            else:
                declared[owner] = declared.get(owner, 0) + _dataset_values(label, item)
    return declared


def _owner(group: h5py.Group) -> str:
    """Whose weights a group holds: Keras names each layer's 'vars' group after the layer."""
    if group.name == "/optimizer" or group.name.startswith("/optimizer/"):
        return group.name  # an optimizer's state: bounded by the whole model's weights
    name = group.attrs.get("name") if group.name.endswith("/vars") else None
    return f"layer:{name.decode() if isinstance(name, bytes) else name}" if name is not None else group.name


def _dataset_values(label: str, dataset: h5py.Dataset) -> int:
    _check_attributes(label, dataset)
    if dataset.dtype.kind not in _NUMERIC or dataset.dtype.itemsize > 8 or dataset.dtype.names:
        raise ModelFileError(f"{label} is refused: its weight {dataset.name} holds {dataset.dtype}, not numbers.")
    if dataset.is_virtual or dataset.external:
        raise ModelFileError(f"{label} is refused: its weight {dataset.name} is stored in another file; "
                             f"Keras keeps every weight inside the model.")
    return int(np.prod(dataset.shape, dtype=object)) if dataset.shape else 1


def _check_attributes(label: str, item) -> None:
    for name in item.attrs:
        attribute = h5py.h5a.open(item.id, name.encode())
        size = int(np.prod(attribute.shape or (), dtype=object)) * attribute.dtype.itemsize
        if size > MAX_ATTRIBUTE_BYTES:
            raise ModelFileError(f"{label} is refused: its weights file declares an attribute of {size:,} bytes "
                                 f"on {item.name}; Keras stores only names there.")


def _hold_to_config(label: str, declared: dict[str, int], layer_params: dict[str, int], params: int) -> None:
    for owner, values in declared.items():
        layer = owner.removeprefix("layer:") if owner.startswith("layer:") else None
        bound = layer_params.get(layer, params) if layer is not None else SLOTS_PER_WEIGHT * params + SLACK_VALUES
        if values > bound + SLACK_VALUES:
            whose = f"the layer {layer!r}" if layer in layer_params else f"{owner}"
            raise ModelFileError(f"{label} is refused: its weights file declares {values:,} values for {whose}, "
                                 f"whose config needs at most {bound:,}; refused before loading so it cannot "
                                 f"exhaust the server's memory.")
    total = sum(declared.values())
    if total > (1 + SLOTS_PER_WEIGHT) * params + SLACK_VALUES:
        raise ModelFileError(f"{label} is refused: its weights file declares {total:,} values in all, while its "
                             f"config's {params:,} weights and an optimizer's state need at most "
                             f"{(1 + SLOTS_PER_WEIGHT) * params + SLACK_VALUES:,}.")
