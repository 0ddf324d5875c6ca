"""Checkpoint -> verified ONNX model in a models folder, listed in its registry with sha256 and metadata.

Nothing is published unless it passes: ``onnx.checker`` (full check), then parity against the torch model on
real-shaped inputs at two sizes and batch sizes (``parity.py``), then the file is written atomically and its
registry entry updated. The optional fp16 variant keeps float32 inputs and outputs (the runtime feeds it like
any model), computes in half precision inside, and is refused if it produces NaN/Inf or drifts beyond
:data:`~export.parity.FP16_TOLERANCE`.
"""
from __future__ import annotations

import copy
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from addon.runtime.contract import ModelContract
from addon.runtime.files import atomic_output
from addon.runtime.registry import Registry, sha256_of
from ml_core.checkpoint import load_checkpoint, training_config

from .parity import FP16_TOLERANCE, FP32_TOLERANCE, parity_batches, parity_error

OPSET = 18
HALF_MAX = 65504.0


class ExportError(ValueError):
    """A model failed a check and was not published; ``str()`` is one line naming the checkpoint."""


@dataclass(frozen=True)
class ExportReport:
    name: str
    path: Path
    sha256: str
    precision: str
    parity_error: float  # worst over every parity input
    tolerance: float
    seconds: float


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, *, name: str | None = None,
                      fp16: bool = False, samples: list[str] | None = None, opset: int = OPSET,
                      metrics: dict | None = None, note: str | None = None,
                      parity_extra: dict | None = None) -> list[ExportReport]:
    """Export ``checkpoint`` to ``out_dir`` (fp32, and ``<name>-fp16`` if asked); returns what was published.

    ``samples``: the task's source files (e.g. a multilayer Cycles EXR; two frames for inbetween) whose
    passes join the parity inputs. ``metrics``: benchmark figures to record beside the training's own
    validation metrics (under ``metrics.benchmark`` in the metadata). ``note``: appended to the metadata's
    ``exporter`` (e.g. why a shipped model's graph was re-exported); ``parity_extra``: more entries for its
    ``parity`` record (e.g. the comparison with the graph it replaces).
    """
    model, config = load_checkpoint(checkpoint)
    if metrics:
        config = {**config, "training": {**config["training"],
                                         "metrics": {**config["training"]["metrics"], "benchmark": metrics}}}
    contract = model.contract()
    name = name or config["name"]
    label = str(checkpoint)
    try:
        batches = parity_batches(contract, samples)
    except ValueError as exc:
        raise ExportError(f"{label}: {exc}") from None
    with torch.no_grad():
        references = [_torch_outputs(model, contract, batch) for _, batch in batches]
    extra = {"note": note, "parity_extra": parity_extra}
    reports = [_publish(model, contract, config, name, "fp32", FP32_TOLERANCE, batches, references, out_dir, opset,
                        label, **extra)]
    if fp16:
        reports.append(_publish(_Float16(model), contract, config, f"{name}-fp16", "fp16", FP16_TOLERANCE, batches,
                                references, out_dir, opset, label, **extra))
    return reports


class _Float16(nn.Module):
    """``model`` in half precision behind float32 inputs and outputs (inputs saturate at half's range)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*(x.clamp(-HALF_MAX, HALF_MAX).half() for x in inputs)).float()


def _torch_outputs(module: nn.Module, contract: ModelContract, batch: dict) -> list[np.ndarray]:
    out = module(*(torch.from_numpy(batch[i.name]) for i in contract.inputs))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _publish(module: nn.Module, contract: ModelContract, config: dict, name: str, precision: str, tolerance: float,
             batches: list, references: list, out_dir, opset: int, label: str, note: str | None = None,
             parity_extra: dict | None = None) -> ExportReport:
    import onnx
    import onnxruntime as ort

    start = time.perf_counter()
    graph = _to_onnx(module.eval(), contract, batches[-1][1], opset)
    proto = onnx.load_from_string(graph)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{label}: onnx.checker rejects the {precision} graph ({str(exc).splitlines()[0]})") from None
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    worst = 0.0
    for (description, batch), reference in zip(batches, references):
        error = parity_error(reference, session.run(None, batch))
        if not math.isfinite(error):
            raise ExportError(f"{label}: the {precision} model produces NaN/Inf on {description}; not published")
        if error > tolerance:
            raise ExportError(f"{label}: {precision} onnxruntime differs from torch by {error:.2e} "
                              f"(> {tolerance:.0e}) on {description}; not published")
        worst = max(worst, error)

    training = config["training"]
    parity = {"max_error": worst, "tolerance": tolerance, "measure": "max |onnx - torch| / max(1, |torch|)",
              "inputs": [d for d, _ in batches], **(parity_extra or {})}
    metadata = {**contract.to_metadata(), "name": name, "version": config["version"], "precision": precision,
                "architecture": json.dumps({"name": config["architecture"], "params": config["params"]}),
                "config": training_config(training),
                "training_command": str(training["command"]), "seed": str(training["seed"]),
                "dataset_fingerprint": str(training["dataset_fingerprint"]),
                "metrics": json.dumps(training["metrics"]), "parity": json.dumps(parity),
                "exporter": f"torch {torch.__version__}, onnx opset {opset}" + (f"; {note}" if note else "")}
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "postpass export", config["version"]
    proto.doc_string = f"Postpass {contract.task} model {name} {config['version']} ({precision})"
    data = proto.SerializeToString()

    registry = Registry(out_dir, create=True)
    path = registry.folder / f"{name}.onnx"
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)
    digest = sha256_of(data)
    registry.publish(name, path.name, digest, metadata)
    return ExportReport(name, path, digest, precision, worst, tolerance, time.perf_counter() - start)


def _to_onnx(module: nn.Module, contract: ModelContract, example: dict, opset: int) -> bytes:
    """The traced graph with named inputs/outputs and dynamic batch, height and width."""
    out_h, out_w = ("height", "width") if contract.scale == 1 else ("out_height", "out_width")
    axes = {}
    for spec in contract.inputs:
        if spec.kind == "scalar":
            axes[spec.name] = {0: "batch"}
        else:
            axes[spec.name] = {0: "batch", 2: out_h, 3: out_w} if spec.grid == "output" else \
                {0: "batch", 2: "height", 3: "width"}
    for out in contract.outputs:
        axes[out.name] = {0: "batch", 2: out_h, 3: out_w}
    args = tuple(torch.from_numpy(example[i.name]) for i in contract.inputs)
    buffer = io.BytesIO()
    # The TorchScript exporter (dynamo=False): the torch.export-based one needs onnxscript, which is not a
    # dependency, and these convolutional graphs trace exactly with dynamic axes. torch is pinned, so its
    # deprecation warning is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, do_constant_folding=True,
                          input_names=[i.name for i in contract.inputs],
                          output_names=[o.name for o in contract.outputs], dynamic_axes=axes)
    return buffer.getvalue()
