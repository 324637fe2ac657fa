"""An upper bound of what a Keras config.json costs, checked before Keras builds any of it.

Keras creates every weight a layer declares before it reads one, so a config asking for a
Dense layer of 10^9 units would exhaust the server's memory at load; a model of a few
weights can still cost minutes per image (wide convolutions) or per load (thousands of
layers). ``check_layer_sizes`` follows the shapes from the 28x28x1 input through the config
alone and refuses such files: weights, values per layer and in all, FLOPs, layers.
"""

from __future__ import annotations

import re
import reprlib
from collections import deque
from dataclasses import dataclass

from .errors import ModelFileError

MAX_PARAMS = 25_000_000  # weights a config may declare (100 MB of float32); the bundled model has 93,322
MAX_ACTIVATION_VALUES = 2**21  # values one layer may output per image (8 MB); the bundled model's largest is 21,632
MAX_TOTAL_ACTIVATIONS = 2**22  # values all layers output per image (16 MB); the bundled model's add up to 38,404
MAX_FLOPS = 200_000_000  # per image (a multiply-add is 2); the bundled model needs 5.6 M: room for any MNIST model
MAX_LAYERS = 100  # layers, nested ones and inputs included; the bundled model counts 10 (Keras loads 900 in minutes)
MAX_CALLS = 300  # layer calls per image, a shared layer's every call counted; the bundled model makes 10
MAX_OTHER_SIZE = 4096  # any whole number in a layer this check has no rule for (seeds aside)
_MNIST_SIDE = 28  # an input dimension left open (None) is fed 28 pixels at most
_HUGE = 2**62  # products saturate here: far over every limit, and never a number too long to handle


@dataclass(frozen=True)
class ModelCost:
    """Upper bounds of what one model costs, from its config alone."""

    params: int  # weights (the exact count for the usual layers)
    flops: int  # floating-point operations per image, a multiply-add counted as 2
    activations: int  # values all its layers output per image
    layers: int  # layers, those inside nested models included
    by_layer: dict[str, int]  # each layer's weight bound, by its name
    calls: int  # layer calls per image: a shared layer (or nested model) counts once per call


def check_layer_sizes(label: str, config) -> ModelCost:
    """Refuse a config whose layers would make Keras allocate or compute far more than an MNIST model needs.

    Keras creates every weight a layer declares before it reads a single one, so a config.json
    asking for a Dense layer of 10^9 units exhausts memory at load. This walks the layers in
    the order Keras builds them (nested models and wrapped layers too), following an upper
    bound of each tensor's shape from the 28x28x1 input, and adds up an upper bound of the
    weights each layer creates, from its config and its recorded input shape alone. Every call
    of a layer is followed, as its inbound nodes list them: a layer (or a nested model) called
    40 times holds its weights once and costs its FLOPs and values 40 times; attention layers
    count their score matrices too.

    Args:
        label: the file's name, for messages.
        config: the parsed config.json.

    Returns:
        The model's cost: weights (the exact count for the usual layers), FLOPs and values
        per image, layers.

    Raises:
        ModelFileError: the bound exceeds ``MAX_PARAMS``, a layer may output more than
            ``MAX_ACTIVATION_VALUES`` values per image or all layers more than
            ``MAX_TOTAL_ACTIVATIONS``, an image may cost more than ``MAX_FLOPS``, there are
            more than ``MAX_LAYERS`` layers or ``MAX_CALLS`` layer calls, or a size is not a whole number.
    """
    tally = _Tally(label)
    try:
        tally.layer(config, [[_MNIST_SIDE, _MNIST_SIDE, 1]])
    except RecursionError as err:
        raise ModelFileError(f"{label} is refused: its config.json nests models too deeply to check.") from err
    return ModelCost(tally.params, tally.flops, tally.activations, tally.layers, tally.by_layer, tally.calls)


class _Unsized(ValueError):
    """A size field that is not a whole number."""


class _Tally:
    """The running bound of a model's weights and costs, refusing at the first layer call that breaks a limit."""

    def __init__(self, label: str):
        self.label = label
        self.params = self.flops = self.activations = self.layers = self.calls = 0
        self.by_layer: dict[str, int] = {}
        self.called: dict[int, int] = {}  # calls so far of each layer, by its identity
        self._again = 0  # > 0 while following a layer's second or later call: its weights exist already

    def layer(self, layer, inputs: list[list[int]]) -> list[int]:
        """Add ``layer``'s cost for these input shape bounds; returns its output shape bound."""
        if not isinstance(layer, dict):
            return _widest(inputs)
        name, cfg = str(layer.get("class_name")), layer.get("config")
        cfg = cfg if isinstance(cfg, dict) else {}
        self._count_call(layer)
        try:
            inputs = _with_build_shapes(inputs, layer.get("build_config"))
            params, out = self._apply(name, cfg, inputs)
            inner_flops, inner_values = _inner_cost(name, cfg, _widest(inputs))
        except _Unsized as err:
            raise ModelFileError(f"{self.label} is refused: its layer {_layer_name(layer)!r} ({name}) gives {err}.") \
                from None
        out = [min(d, _HUGE) for d in out]
        if not self._again:
            self.params = min(self.params + params, _HUGE)
            self.by_layer[_layer_name(layer)] = max(params, self.by_layer.get(_layer_name(layer), 0))
        self.flops = min(self.flops + _flops(name, params, _widest(inputs), out) + inner_flops, _HUGE)
        self.activations = min(self.activations + _prod(out) + inner_values, _HUGE)
        self._check(layer, name, cfg, _prod(out), inner_values)
        return out

    def layer_again(self, layer, inputs: list[list[int]]) -> list[int]:
        """A further call of a layer already counted: its FLOPs and values again, its weights not."""
        self._again += 1
        try:
            return self.layer(layer, inputs)
        finally:
            self._again -= 1

    def _count_call(self, layer: dict) -> None:
        self.calls += 1
        self.called[id(layer)] = self.called.get(id(layer), 0) + 1
        if self.calls > MAX_CALLS:
            raise ModelFileError(f"{self.label} is refused: it calls its layers more than {MAX_CALLS} times per "
                                 f"image (a shared layer counts once per call), far more than an MNIST model needs "
                                 f"(the bundled one makes 10).")
        if self._again:
            return
        self.layers += 1
        if self.layers > MAX_LAYERS:
            raise ModelFileError(f"{self.label} is refused: it has more than {MAX_LAYERS} layers, far more than an "
                                 f"MNIST model needs (the bundled one has 8), and Keras would take minutes to load it.")

    def _apply(self, name: str, cfg: dict, inputs: list[list[int]]) -> tuple[int, list[int]]:
        if isinstance(cfg.get("layers"), list):  # a nested model
            return 0, self._model(cfg, inputs)
        if isinstance(cfg.get("cells"), list):
            return 0, self._sequence(cfg["cells"], _widest(inputs))
        inner = cfg.get("layer", cfg.get("cell"))
        if isinstance(inner, dict):
            return self._wrapper(name, cfg, inner, _widest(inputs))
        for pattern, rule in _RULES:
            if re.fullmatch(pattern, name):
                return rule(name, cfg, inputs)
        return _other_layer(name, cfg, inputs)

    def _model(self, cfg: dict, inputs: list[list[int]]) -> list[int]:
        layers = [layer for layer in cfg["layers"] if isinstance(layer, dict)]
        start = _widest(_with_build_shapes(inputs, {"input_shape": cfg.get("build_input_shape")}))
        if "input_layers" not in cfg:
            return self._sequence(layers, start)
        outputs: dict[tuple[str, int], list[int]] = {}
        seen: set[int] = set()  # layers by identity: two layers under one name are two layers, both weighed
        for layer, node, refs in _calls_in_order(layers):
            known = [outputs[ref] for ref in refs if ref in outputs]
            call = self.layer_again if id(layer) in seen else self.layer
            seen.add(id(layer))
            outputs[(_layer_name(layer), node)] = call(layer, known or [start])
        ends = [outputs[ref] for ref in _tensor_refs(cfg.get("output_layers")) if ref in outputs]
        return _widest(ends or list(outputs.values()) or [start])

    def _sequence(self, layers: list, x: list[int]) -> list[int]:
        for layer in layers:
            x = self.layer(layer, [x])
        return x

    def _wrapper(self, name: str, cfg: dict, inner: dict, x: list[int]) -> tuple[int, list[int]]:
        if name == "TimeDistributed":  # the inner layer sees one time step at a time, and runs once per step
            flops_before = self.flops
            out = x[:1] + self.layer(inner, [x[1:] or [1]])
            self.flops = min(flops_before + (self.flops - flops_before) * x[0], _HUGE)
            return 0, out
        before = self.params
        out = self.layer(inner, [x])
        if isinstance(cfg.get("backward_layer"), dict):
            back = self.layer(cfg["backward_layer"], [x])
            return 0, [*out[:-1], out[-1] + back[-1]]
        if "cell" in cfg:  # RNN(cell): the cell holds the weights
            return 0, out
        # Bidirectional without a backward config clones its layer; other wrappers add weights of its shape
        return self.params - before, [*out[:-1], 2 * out[-1]]

    def _check(self, layer: dict, name: str, cfg: dict, values: int, inner_values: int) -> None:
        if self.params > MAX_PARAMS:
            why = f"up to {_number(self.params)} weights in all; the limit is {MAX_PARAMS:,}"
        elif inner_values > MAX_ACTIVATION_VALUES:
            why = (f"attention scores and projections of up to {_number(inner_values)} values per image; the limit "
                   f"is {MAX_ACTIVATION_VALUES:,}")
        elif values > MAX_ACTIVATION_VALUES:
            why = f"outputs of up to {_number(values)} values per image; the limit is {MAX_ACTIVATION_VALUES:,}"
        elif self.activations > MAX_TOTAL_ACTIVATIONS:
            why = (f"up to {_number(self.activations)} values per image from all layers so far; the limit is "
                   f"{MAX_TOTAL_ACTIVATIONS:,}")
        elif self.flops > MAX_FLOPS:
            why = (f"up to {_mega(self.flops)} MFLOP per image so far; the limit is {_mega(MAX_FLOPS)} MFLOP "
                   f"(the bundled model needs 5.6)")
        else:
            return
        article = "an" if name[:1] in "AEIOU" or name.startswith(("LSTM", "RMS")) else "a"
        kind = name if name.endswith("Layer") else f"{name} layer"
        calls = self.called.get(id(layer), 1)
        called = f" and calls it {calls} times or more" if calls > 1 else ""
        raise ModelFileError(f"{self.label} is refused: its layer {_layer_name(layer)!r} declares {article} {kind}"
                             f"{_described(cfg)}{called} ({why}): far larger than an MNIST model needs; refused "
                             f"before loading so it cannot exhaust the server's memory.")


def _flops(name: str, params: int, x: list[int], out: list[int]) -> int:
    """Operations per image: each weight used once per output position (twice: multiply and add),
    once per time step for recurrent layers, plus one per output value (activation, pooling, sums)."""
    recurrent = re.fullmatch(r"(SimpleRNN|GRU|LSTM)", name) is not None
    positions = _prod(x[:-1]) if recurrent else _prod(out[:-1])
    return _prod([2, params, positions]) + _prod(out)


def _inner_cost(name: str, cfg: dict, x: list[int]) -> tuple[int, int]:
    """``(FLOPs, values)`` per image that a layer computes beyond its weights and its output: an attention
    layer's score matrix (each query position against each key position, per head) and its projections."""
    if name not in ("MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention"):
        return 0, 0
    positions = _prod(x[:-1])
    if name == "MultiHeadAttention":
        heads, key = _whole(cfg, "num_heads"), _whole(cfg, "key_dim")
        value = _whole(cfg, "value_dim", key)
    elif name == "GroupQueryAttention":
        heads, key = _whole(cfg, "num_query_heads"), _whole(cfg, "head_dim")
        value = key
    else:
        heads, key, value = 1, x[-1], x[-1]
    attended = _attended(cfg.get("attention_axes"), x) if name == "MultiHeadAttention" else positions
    scores = _prod([heads, positions, attended])
    return _prod([scores, 2 * key + 2 * value + 1]), scores + _prod([positions, heads, 2 * key + value])


def _attended(axes, x: list[int]) -> int:
    """How many key positions each query position attends to: all but the batch and feature axes by default."""
    if axes is None:
        return _prod(x[:-1])
    axes = axes if isinstance(axes, list) else [axes]
    spots = {a if a < 0 else a - 1 for a in axes if isinstance(a, int) and not isinstance(a, bool)}
    return _prod(x[i] for i in spots if -len(x) <= i < len(x))


def _mega(flops: int) -> str:
    return f"{flops / 1e6:,.0f}" if flops < _HUGE else _number(flops)


def _layer_name(layer: dict) -> str:
    cfg = layer.get("config")
    return str(layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None) or "?")


def _described(cfg: dict) -> str:
    """`` of 1,000 units``, `` of 8 filters with a 3x3 kernel``: what a layer's size fields say."""
    parts = [f"{_number(cfg[key])} {key}" for key in ("units", "filters") if _is_whole(cfg.get(key))]
    text = f" of {' and '.join(parts)}" if parts else ""
    kernel = cfg.get("kernel_size")
    kernel = [kernel] if _is_whole(kernel) else kernel
    if isinstance(kernel, list) and 0 < len(kernel) <= 3 and all(_is_whole(k) for k in kernel):
        text += f" with a {'x'.join(_number(k) for k in kernel)} kernel"
    return text


def _number(n: int) -> str:
    return f"{n:,}" if n <= _HUGE else f"10^{len(str(n)) - 1}"  # a 4,000-digit number helps no reader


def _calls_in_order(layers: list[dict]) -> list[tuple[dict, int, list[tuple[str, int]]]]:
    """Every call of a functional model's layers, ``(layer, node index, the calls it takes input from)``,
    each after the calls it takes input from (Keras accepts any order of layers)."""
    calls = [(layer, k, refs) for layer in layers for k, refs in enumerate(_inbound(layer) or [[]])]
    index = {(_layer_name(layer), k): i for i, (layer, k, _) in enumerate(calls)}
    waits = [{ref for ref in refs if ref in index} for _, _, refs in calls]
    waiting_on: dict[tuple[str, int], list[int]] = {}
    for i, refs in enumerate(waits):
        for ref in refs:
            waiting_on.setdefault(ref, []).append(i)
    ready = deque(i for i, refs in enumerate(waits) if not refs)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        me = (_layer_name(calls[i][0]), calls[i][1])
        for j in waiting_on.pop(me, []):
            waits[j].discard(me)
            if not waits[j]:
                ready.append(j)
    done = set(order)  # a cycle or a missing layer: Keras refuses those, after building what it can
    return [calls[i] for i in order] + [call for i, call in enumerate(calls) if i not in done]


def _inbound(layer: dict) -> list[list[tuple[str, int]]]:
    """For each call of a functional layer, the ``(layer name, call index)`` of the outputs it takes."""
    nodes = layer.get("inbound_nodes")
    return [_tensor_refs(node) for node in nodes] if isinstance(nodes, list) else []


def _tensor_refs(tree) -> list[tuple[str, int]]:
    """``(layer name, call index)`` from every ``keras_history`` (or ``[name, node, tensor]`` list) in ``tree``."""
    if isinstance(tree, dict):
        tensor = tree.get("config") if tree.get("class_name") == "__keras_tensor__" else None
        history = tensor.get("keras_history") if isinstance(tensor, dict) else None
        if isinstance(history, list) and history:
            return [(str(history[0]), history[1] if len(history) > 1 and _is_whole(history[1]) else 0)]
        return [ref for value in tree.values() for ref in _tensor_refs(value)]
    if isinstance(tree, list):
        if len(tree) == 3 and isinstance(tree[0], str) and all(_is_whole(v) for v in tree[1:]):
            return [(tree[0], tree[1])]
        return [ref for value in tree for ref in _tensor_refs(value)]
    return []


def _with_build_shapes(inputs: list[list[int]], build_config) -> list[list[int]]:
    """The input bounds widened by a layer's recorded input shapes: Keras builds the layer from those."""
    if not isinstance(build_config, dict):
        return inputs
    shapes = build_config.get("input_shape")
    if shapes is None and isinstance(build_config.get("shapes_dict"), dict):
        shapes = list(build_config["shapes_dict"].values())
    if not isinstance(shapes, list):
        return inputs
    several = bool(shapes) and all(isinstance(s, list) or s is None for s in shapes)
    built = [_shape(s[1:], 1) for s in shapes if isinstance(s, list)] if several else [_shape(shapes[1:], 1)]
    if len(built) == len(inputs):
        return [_widest(pair) for pair in zip(inputs, built)]
    return built + inputs if built else inputs


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _whole(cfg: dict, key: str, default: int | None = None) -> int:
    value = cfg.get(key)
    if value is None and default is not None:
        return default
    if not _is_whole(value):
        raise _Unsized(f"{key} as {reprlib.repr(value)}, which is not a whole number")
    return value


def _wholes(cfg: dict, key: str, rank: int, default: int | None = None) -> list[int]:
    """An int or a list of ints, as Keras reads ``kernel_size``, ``strides``, ``pool_size``..."""
    value = cfg.get(key)
    if isinstance(value, list):
        return [_whole({key: v}, key) for v in value]
    return [_whole(cfg, key, default)] * rank


def _shape(dims, fill: int) -> list[int]:
    """A declared shape (batch left out), open dimensions (None or -1) taken as ``fill``."""
    if not isinstance(dims, list):
        raise _Unsized(f"a shape as {reprlib.repr(dims)}, which is not a list of whole numbers")
    shape = [fill if d is None or (isinstance(d, int) and d < 0) else _whole({"shape": d}, "shape") for d in dims]
    return shape or [1]


def _prod(values) -> int:
    result = 1
    for value in values:
        result = min(result * value, _HUGE)
    return result


def _widest(shapes: list[list[int]]) -> list[int]:
    """A shape bound covering all of ``shapes``: dimension by dimension, or by rows and last axis."""
    if len({len(s) for s in shapes}) == 1:
        return [max(dims) for dims in zip(*shapes)]
    rows, last = max(_prod(s[:-1]) for s in shapes), max(s[-1] for s in shapes)
    return [1] * (max(map(len, shapes)) - 2) + [rows, last]


def _rank(name: str) -> int:
    """The spatial dimensions of a ``...1D``, ``...2D`` or ``...3D`` layer."""
    found = re.search(r"([123])D", name)
    return int(found.group(1)) if found else 2


def _bias(cfg: dict) -> int:
    return 0 if cfg.get("use_bias") is False else 1


def _spatial(rule):
    """Run ``rule(name, cfg, lead, spatial, channels)`` on a channels-last view of the widest input."""
    def apply(name: str, cfg: dict, inputs: list[list[int]]) -> tuple[int, list[int]]:
        first = cfg.get("data_format") == "channels_first"
        x = _widest(inputs)
        x = x[1:] + x[:1] if first else x
        n = _rank(name)
        params, out = rule(name, cfg, x[:-1][:-n], x[:-1][-n:], x[-1])
        return params, out[-1:] + out[:-1] if first else out
    return apply


@_spatial
def _conv(name, cfg, lead, spatial, channels):
    n = len(spatial) or 1
    kernel, strides = _wholes(cfg, "kernel_size", n), _wholes(cfg, "strides", n, 1)
    dilation, k = _wholes(cfg, "dilation_rate", n, 1), _prod(kernel)
    transpose, bias = "Transpose" in name, _bias(cfg)
    extra = _wholes(cfg, "output_padding", n, 0) if transpose else [0] * n
    sizes = [_conv_length(*dims, cfg.get("padding"), transpose) for dims in zip(spatial, kernel, strides, dilation,
                                                                                 extra)]
    if "Depthwise" in name:
        out = channels * _whole(cfg, "depth_multiplier", 1)
        return k * out + bias * out, [*lead, *sizes, out]
    filters = _whole(cfg, "filters")
    if "Separable" in name:
        depth = channels * _whole(cfg, "depth_multiplier", 1)
        params = k * depth + depth * filters + bias * filters
    elif "LSTM" in name:
        params = 4 * (k * (channels + filters) * filters + bias * filters)
    else:
        params = k * (channels // max(1, _whole(cfg, "groups", 1))) * filters + bias * filters
    return params, [*lead, *sizes, filters]


def _conv_length(length: int, kernel: int, stride: int, dilation: int, extra: int, padding, transpose: bool) -> int:
    span, stride = dilation * (kernel - 1) + 1, max(stride, 1)
    if transpose:
        return length * stride + span + extra  # an upper bound of every padding's formula
    if padding == "valid":
        return max(1, (length - span) // stride + 1)
    return -(-length // stride)  # 'same' and 'causal'


@_spatial
def _pooling(name, cfg, lead, spatial, channels):
    n = len(spatial) or 1
    pool = _wholes(cfg, "pool_size", n, 2)
    strides = pool if cfg.get("strides") is None else _wholes(cfg, "strides", n)
    sizes = [_conv_length(d, p, s, 1, 0, cfg.get("padding"), False) for d, p, s in zip(spatial, pool, strides)]
    return 0, [*lead, *sizes, channels]


@_spatial
def _resampling(name, cfg, lead, spatial, channels):
    n = len(spatial) or 1
    if name.startswith("UpSampling"):
        sizes = [d * s for d, s in zip(spatial, _wholes(cfg, "size", n, 2))]
    elif name.startswith("ZeroPadding"):
        pads = _paddings(cfg.get("padding", 1), n)
        sizes = [d + p for d, p in zip(spatial, pads)]
    elif name.startswith("Global"):
        sizes = [1] * n if cfg.get("keepdims") else []
    elif name.startswith("Adaptive"):
        sizes = _wholes(cfg, "output_size", n)
    else:  # Resizing, CenterCrop, RandomCrop
        sizes = [_whole(cfg, "height"), _whole(cfg, "width")]
    return 0, [*lead, *sizes, channels]


def _paddings(value, n: int) -> list[int]:
    """The padding each spatial dimension gains, from ``1``, ``(1, 2)`` or ``((1, 1), (2, 2))``."""
    if _is_whole(value):
        return [2 * value] * n
    if not isinstance(value, list):
        raise _Unsized(f"padding as {reprlib.repr(value)}, which is not a whole number or a list of them")
    pairs = [value] if n == 1 else value
    return [2 * p if _is_whole(p) else sum(_wholes({"padding": p}, "padding", 2)) for p in pairs]


def _dense(name, cfg, inputs):
    x, units = _widest(inputs), _whole(cfg, "units")
    return (x[-1] + _bias(cfg)) * units, [*x[:-1], units]


def _einsum_dense(name, cfg, inputs):
    x = _widest(inputs)
    value = cfg.get("output_shape")
    out = _shape(value if isinstance(value, list) else [value], _prod(x))
    return (_prod(x) + 1) * _prod(out), out


def _recurrent(name, cfg, inputs):
    x, units = _widest(inputs), _whole(cfg, "units")
    gates = 4 if "LSTM" in name else 3 if "GRU" in name else 1
    out = x[:-1] if cfg.get("return_sequences") or name.endswith("Cell") else x[:-2]
    return gates * (x[-1] + units + 2) * units, [*out, units]


def _embedding(name, cfg, inputs):
    width = _whole(cfg, "output_dim")
    copies = 2 if name.startswith("Reversible") else 1
    return copies * _whole(cfg, "input_dim") * width, [*_widest(inputs), width]


def _attention(name, cfg, inputs):
    x = _widest(inputs)  # one bound for query, value and key
    if name == "GroupQueryAttention":
        width, heads = _whole(cfg, "head_dim"), _whole(cfg, "num_query_heads")
        kv_heads = _whole(cfg, "num_key_value_heads")
        return (x[-1] + 1) * width * (heads + 2 * kv_heads) + (heads * width + 1) * x[-1], x
    heads, key = _whole(cfg, "num_heads"), _whole(cfg, "key_dim")
    value = _whole(cfg, "value_dim", key)
    shape = cfg.get("output_shape")
    out = x[-1:] if shape is None else _shape(shape if isinstance(shape, list) else [shape], 1)
    return (x[-1] + 1) * heads * (2 * key + 2 * value) + (heads * value + 1) * _prod(out), [*x[:-1], *out]


def _normalization(name, cfg, inputs):
    x = _widest(inputs)
    axes = cfg.get("axis", -1)
    axes = axes if isinstance(axes, list) else [axes]
    spots = [a if a < 0 else a - 1 for a in axes if isinstance(a, int)]  # Keras counts the batch axis
    width = _prod(x[i] if -len(x) <= i < len(x) else _prod(x) for i in spots) if spots else _prod(x)
    return {"BatchNormalization": 4, "Normalization": 3, "RMSNormalization": 1}.get(name, 2) * width, x


def _reshaping(name, cfg, inputs):
    x = _widest(inputs)
    size = _prod(x)
    if name == "Flatten":
        return 0, [size]
    if name == "RepeatVector":
        return 0, [_whole(cfg, "n"), *x]
    if name == "Permute":
        order = cfg.get("dims")
        valid = isinstance(order, list) and sorted(map(str, order)) == sorted(map(str, range(1, len(x) + 1)))
        return 0, [x[int(d) - 1] for d in order] if valid else x
    target = _shape(cfg.get("target_shape"), 0)  # Reshape: an open dimension holds what the others leave
    known = _prod(d for d in target if d)
    return 0, [d or max(1, size // known) for d in target]


def _merging(name, cfg, inputs):
    if name == "Dot":
        side = max(_prod(x) for x in inputs)
        return 0, [side, side]
    rank = max(map(len, inputs))
    padded = [[1] * (rank - len(x)) + x for x in inputs]  # broadcasting aligns shapes on the right
    out = [max(dims) for dims in zip(*padded)]
    axis = cfg.get("axis", -1)
    if name == "Concatenate":
        spot = axis if isinstance(axis, int) and axis < 0 else (axis - 1 if isinstance(axis, int) else None)
        if spot is None or not -rank <= spot < rank or len({len(x) for x in inputs}) > 1:
            return 0, [sum(_prod(x) for x in inputs)]
        out[spot] = sum(x[spot] for x in padded)
    return 0, out


def _input_layer(name, cfg, inputs):
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if isinstance(shape, list):
        return 0, _shape(shape[1:], _MNIST_SIDE)
    return 0, _shape(cfg["shape"], _MNIST_SIDE) if "shape" in cfg else _widest(inputs)


def _one_weight_per_value(name, cfg, inputs):
    x = _widest(inputs)
    return _prod(x) if name == "PReLU" else x[-1], x  # Attention layers hold at most a scale per channel


def _other_layer(name: str, cfg: dict, inputs: list[list[int]]) -> tuple[int, list[int]]:
    """A layer without a rule: like a recurrent one if it has units or filters, else shape-keeping and small."""
    x = _widest(inputs)
    width = cfg.get("units", cfg.get("filters"))
    if width is not None:
        width = _whole(cfg, "units" if "units" in cfg else "filters")
        kernel = _prod(_wholes(cfg, "kernel_size", _rank(name))) if "kernel_size" in cfg else 1
        return 4 * (kernel * (x[-1] + width) + 2) * width, [*x[:-1], width]
    for key, value in cfg.items():
        values = value if isinstance(value, list) else [value]
        big = [v for v in values if _is_whole(v) and v > MAX_OTHER_SIZE]
        if big and key != "seed":
            raise _Unsized(f"{key} as {_number(big[0])}, over the {MAX_OTHER_SIZE:,} this app accepts in a layer "
                           f"it has no size rule for: far larger than an MNIST model needs")
    if cfg.get("output_mode") not in (None, "int"):  # encodings and lookups: a value per token of their vocabulary
        tokens = next((key for key in ("num_tokens", "max_tokens", "num_bins") if cfg.get(key) is not None), None)
        if tokens is None:
            raise _Unsized("no max_tokens, so its output is as wide as a vocabulary this app cannot size")
        return 0, [*x, _whole(cfg, tokens)]
    return 0, x


_RULES = (  # class-name patterns (aliases such as Convolution2D included) and how each sizes its layer
    (r"InputLayer", _input_layer),
    (r"Dense", _dense),
    (r"EinsumDense", _einsum_dense),
    (r"(Depthwise|Separable)?(Conv|Convolution)[123]D(Transpose)?|ConvLSTM[123]D", _conv),
    (r"(Max|Average|Avg)Pool(ing)?[123]D", _pooling),
    (r"(UpSampling|ZeroPadding|Global(Max|Average|Avg)Pool(ing)?|Adaptive(Max|Average)Pooling)[123]D"
     r"|Resizing|CenterCrop|RandomCrop", _resampling),
    (r"(SimpleRNN|GRU|LSTM)(Cell)?", _recurrent),
    (r"(Reversible)?Embedding", _embedding),
    (r"MultiHeadAttention|GroupQueryAttention", _attention),
    (r"(Batch|Layer|Group|RMS)?Normalization", _normalization),
    (r"Flatten|Reshape|Permute|RepeatVector", _reshaping),
    (r"Concatenate|Add|Subtract|Multiply|Average|Maximum|Minimum|Dot", _merging),
    (r"PReLU|Attention|AdditiveAttention", _one_weight_per_value),
)
