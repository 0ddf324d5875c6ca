"""A shipped ONNX model back as a torch model: the weights every fine-tune of a shipped model starts from.

The ONNX files in ``addon/models`` hold every weight as an initializer named like the torch parameter, and
their metadata hold the architecture and its parameters (``export``), so no training checkpoint is needed to
fine-tune or re-export a shipped model; a fresh machine has the repository's models and nothing else.

    model, meta = model_from_onnx("addon/models/denoise_kpn.onnx")

Used by ``python -m ml_core.train`` (``"train": {"init": "addon/models/denoise_kpn.onnx"}``) and by
``scripts/reexport_denoise_kpn.py``.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from .models import PostpassModel, build


class ShippedModelError(ValueError):
    """A model file cannot be turned back into a torch model; ``str()`` is one line naming the problem."""


def load_weights(model: PostpassModel, proto) -> None:
    """Every torch parameter/persistent buffer from the ONNX initializer of the same name, each used once,
    loaded bit for bit."""
    from onnx import numpy_helper

    initializers = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = model.state_dict()
    joined, parts = split_convolution_weights(proto, initializers, [k for k in state if k not in initializers])
    initializers = {k: v for k, v in (initializers | joined).items() if k not in parts}
    missing = [k for k in state if k not in initializers]
    if missing:
        raise ShippedModelError(f"no initializer for {', '.join(missing)}")
    leftover = [k for k in initializers if k not in state]
    if leftover:
        raise ShippedModelError(f"initializers matching no parameter: {', '.join(leftover)}")
    loaded = {}
    for name, tensor in state.items():
        array = initializers[name]
        if tuple(array.shape) != tuple(tensor.shape):
            raise ShippedModelError(f"{name}: initializer {array.shape} vs parameter {tuple(tensor.shape)}")
        loaded[name] = torch.from_numpy(array.copy()).to(tensor.dtype)
    model.load_state_dict(loaded, strict=True)
    for name, tensor in model.state_dict().items():
        if not np.array_equal(tensor.numpy(), initializers[name]):
            raise ShippedModelError(f"{name}: loaded values differ from the initializer")


def split_convolution_weights(proto, initializers: dict[str, np.ndarray],
                              wanted: list[str]) -> tuple[dict[str, np.ndarray], set[str]]:
    """The weights of convolutions that the graph applies in parts (``UNet.decoder_features``: one convolution
    per input part, summed), joined again: the exporter folds each part's weight slice into an anonymous
    initializer, so ``<conv>.weight`` is missing by name while its bias names the part that carries it.

    For each wanted ``X.weight``: the Conv node whose bias is ``X.bias`` reads the skip part; the Conv whose
    output is added to it reads the upsampled part, which comes first along the input channels. Returns the
    joined weights and the names of the parts they consumed, so the caller's leftover check stays strict."""
    producers = {out: node for node in proto.graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    joined, consumed = {}, set()
    for name in wanted:
        if not name.endswith(".weight"):
            continue
        bias = name[:-len(".weight")] + ".bias"
        skip = [n for n in proto.graph.node if n.op_type == "Conv" and len(n.input) == 3 and n.input[2] == bias]
        if len(skip) != 1 or skip[0].input[1] not in initializers:
            continue
        adds = [n for n in consumers.get(skip[0].output[0], []) if n.op_type == "Add"]
        other = [producers.get(i) for a in adds for i in a.input if i != skip[0].output[0]]
        coarse = [n for n in other if n is not None and n.op_type == "Conv" and len(n.input) == 2
                  and n.input[1] in initializers]
        if len(coarse) != 1:
            continue
        parts = (coarse[0].input[1], skip[0].input[1])
        joined[name] = np.concatenate([initializers[p] for p in parts], axis=1)
        consumed.update(parts)
    return joined, consumed


def model_from_onnx(source: str | os.PathLike | bytes) -> tuple[PostpassModel, dict[str, str]]:
    """(torch model in eval mode, the ONNX metadata) from a model file's path or bytes."""
    import onnx

    where = "model bytes" if isinstance(source, bytes) else str(source)
    try:
        proto = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    except Exception as exc:  # protobuf decode errors come in several types; all mean "not an ONNX model"
        raise ShippedModelError(f"{where}: not an ONNX model ({type(exc).__name__})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if "architecture" not in meta:
        raise ShippedModelError(f"{where}: no architecture in its metadata (not exported by Postpass)")
    architecture = json.loads(meta["architecture"])
    model = build(architecture["name"], **architecture["params"]).eval()
    try:
        load_weights(model, proto)
    except ShippedModelError as error:
        raise ShippedModelError(f"{where}: {error}") from None
    return model, meta
