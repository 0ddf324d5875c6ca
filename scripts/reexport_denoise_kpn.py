"""Re-export a shipped model's weights through the current architecture code: same weights, new graph.

    .venv/bin/python scripts/reexport_denoise_kpn.py                 # denoise_kpn in addon/models, published
    .venv/bin/python scripts/reexport_denoise_kpn.py --out /tmp/m    # into another models folder
    .venv/bin/python scripts/reexport_denoise_kpn.py --check         # compare only, publish nothing

Why: the ONNX graph is traced from ``ml_core/models/<architecture>.py``; when that code computes the same
function with fewer, larger ops (issue 30: ``denoise_kpn`` applies its predicted kernels with one convolution,
one multiply and one sum instead of a slice, multiply and add per kernel tap), the shipped file keeps the old
graph until it is exported again. No training checkpoint is needed: the ONNX file holds every weight as an
initializer named like the torch parameter, and its metadata holds the architecture and its parameters.

Steps, each checked (the script stops with exit 1 and one line otherwise):

1. rebuild the torch model from the metadata's ``architecture`` (``ml_core.models.build``) and load the
   initializers into its ``state_dict``: every parameter matched by name exactly once, same shape, no
   initializer left over;
2. the rebuilt torch model reproduces the shipped ONNX output within 1e-4 (the export's parity measure,
   max |a - b| / max(1, |b|)) on every crop in ``tests/data/<task>/`` and on the export's synthetic inputs;
3. export it with the export package (``onnx.checker``, torch-vs-onnxruntime parity on a crop and synthetic
   inputs, atomic write, registry entry with the new sha256), with the same metadata: name, version, training
   command, seed, dataset fingerprint, metrics and config; the ``exporter`` field says it was re-exported and
   why, and ``parity`` records the comparison with the replaced graph (its sha256 and the largest difference);
4. the new ONNX against the old one, through onnxruntime, on the same inputs: within 1e-4 again.

Output: the largest differences and the old and new sha256. Deterministic: the same weights and code give
the same graph bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOLERANCE = 1e-4
NOTE = ("re-exported by scripts/reexport_denoise_kpn.py from the {version} ONNX's own weights: the kernel "
        "taps applied by one convolution, one multiply and one sum instead of a slice, multiply and add per tap "
        "(issue 30); weights, metadata and metrics unchanged")


class Failed(Exception):
    pass


def inputs_for(contract, task: str) -> list[tuple[str, dict]]:
    """(description, feed) on every regression crop of the task, then the export's synthetic inputs."""
    from export.parity import parity_batches

    crops = sorted((REPO / "tests" / "data" / task).glob("*.exr"))
    if not crops:
        raise Failed(f"no crops in tests/data/{task}")
    batches = [parity_batches(contract, [str(c)])[0] for c in crops]
    return batches + parity_batches(contract)[1:]


def worst_error(reference_runs, candidate_runs) -> float:
    from export.parity import parity_error

    return max(parity_error(a, b) for a, b in zip(reference_runs, candidate_runs))


def session(data: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="denoise_kpn", help="registry name (default: %(default)s)")
    p.add_argument("--models", type=Path, default=REPO / "addon" / "models", help="where it ships (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="models folder to publish into (default: --models)")
    p.add_argument("--check", action="store_true", help="run steps 1-4 into a temporary folder, publish nothing")
    args = p.parse_args(argv)
    os.chdir(REPO)  # the sample file is named relative to the repository in the metadata
    try:
        return run(args)
    except Failed as exc:
        print(f"reexport: {exc}", file=sys.stderr)
        return 1


def run(args) -> int:
    import onnx
    import torch

    from addon.runtime.registry import Registry
    from export import export_checkpoint
    from ml_core.checkpoint import save_checkpoint
    from ml_core.shipped import ShippedModelError, model_from_onnx

    registry = Registry(args.models)
    entry = registry.get(args.name)
    old_bytes = registry.read_verified(args.name)
    old_sha = hashlib.sha256(old_bytes).hexdigest()
    proto = onnx.load_from_string(old_bytes)
    try:
        model, meta = model_from_onnx(old_bytes)
    except ShippedModelError as error:
        raise Failed(str(error)) from None
    architecture = json.loads(meta["architecture"])
    contract = model.contract()
    if contract != entry.contract:
        raise Failed("the rebuilt model's contract differs from the shipped one's")
    print(f"{args.name} {meta['version']}: {len(proto.graph.initializer)} initializers loaded into "
          f"{architecture['name']} {architecture['params']}")

    batches = inputs_for(contract, contract.task)
    old = session(old_bytes)
    old_runs = [old.run(None, feed) for _, feed in batches]
    with torch.no_grad():
        torch_runs = [[model(*(torch.from_numpy(feed[i.name]) for i in contract.inputs)).numpy()]
                      for _, feed in batches]
    torch_error = worst_error(old_runs, torch_runs)
    print(f"rebuilt torch model vs the shipped ONNX: {torch_error:.2e} on {len(batches)} inputs")
    if not torch_error <= TOLERANCE:
        raise Failed(f"the rebuilt torch model differs from the shipped ONNX by {torch_error:.2e} (> {TOLERANCE:.0e})")

    training = {"command": meta["training_command"], "seed": int(meta["seed"]),
                "dataset_fingerprint": meta["dataset_fingerprint"], "metrics": json.loads(meta["metrics"]),
                "config": meta["config"]}
    out = args.out or args.models
    sample = str(sorted((REPO / "tests" / "data" / contract.task).glob("*.exr"))[0].relative_to(REPO))
    previous = {"previous_graph": {"sha256": old_sha, "max_error": None,
                                   "measure": "max |new - previous| / max(1, |previous|), onnxruntime, "
                                              f"on tests/data/{contract.task}/*.exr and the synthetic inputs"}}
    with tempfile.TemporaryDirectory() as work:
        checkpoint = save_checkpoint(Path(work) / f"{args.name}.pt", model, name=meta["name"],
                                     version=meta["version"], training=training)
        # a first export into a scratch folder, to measure the new graph against the old one before publishing
        new_graph = _export(export_checkpoint, checkpoint, Path(work) / "scratch", args.name, sample, meta, previous)
        new_runs = [session(new_graph).run(None, feed) for _, feed in batches]
        graph_error = worst_error(old_runs, new_runs)
        print(f"new ONNX vs the shipped ONNX: {graph_error:.2e}")
        if not graph_error <= TOLERANCE:
            raise Failed(f"the new graph differs from the shipped one by {graph_error:.2e} (> {TOLERANCE:.0e})")
        previous["previous_graph"]["max_error"] = float(f"{graph_error:.3g}")
        if args.check:
            out = Path(work) / "check"
        new_graph = _export(export_checkpoint, checkpoint, out, args.name, sample, meta, previous)
    new_meta = {p.key: p.value for p in onnx.load_from_string(new_graph).metadata_props}
    changed = sorted(k for k in set(meta) | set(new_meta) if meta.get(k) != new_meta.get(k))
    if set(changed) - {"exporter", "parity"}:
        raise Failed(f"metadata changed beyond exporter/parity: {changed}")
    ops_old = len(proto.graph.node)
    ops_new = len(onnx.load_from_string(new_graph).graph.node)
    print(f"{'checked (not published)' if args.check else 'published'} {args.name} -> {out / (args.name + '.onnx')}: sha256 {old_sha[:12]} -> "
          f"{hashlib.sha256(new_graph).hexdigest()[:12]}, {ops_old} -> {ops_new} graph nodes; metadata changed: "
          f"{', '.join(changed)}")
    return 0


def _export(export_checkpoint, checkpoint, out: Path, name: str, sample: str, meta: dict, previous: dict) -> bytes:
    [report] = export_checkpoint(checkpoint, out, name=name, samples=[sample],
                                 note=NOTE.format(version=meta["version"]), parity_extra=previous)
    if not math.isfinite(report.parity_error):
        raise Failed("export reported a non-finite parity error")
    return report.path.read_bytes()


if __name__ == "__main__":
    sys.exit(main())
