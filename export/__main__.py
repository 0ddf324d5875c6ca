"""``python -m export CHECKPOINT [...] --out addon/models/ [--fp16] [--sample render.exr]``"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from addon.runtime.registry import DEFAULT_MODELS_DIR
from ml_core.checkpoint import CheckpointError

from . import OPSET, ExportError, export_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=(
        "Export ml_core checkpoints to ONNX: onnx.checker, torch-vs-onnxruntime parity, metadata, registry entry."))
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files (.pt) written by ml_core")
    parser.add_argument("--out", default=str(DEFAULT_MODELS_DIR), help="models folder with registry.json "
                        "(default: %(default)s)")
    parser.add_argument("--name", help="registry name (default: the checkpoint's; only with one checkpoint)")
    parser.add_argument("--fp16", action="store_true", help="also publish a parity-checked half-precision variant")
    parser.add_argument("--sample", action="append", default=[], metavar="FILE",
                        help="a source file of the task for parity on real data (repeat for inbetween's 2 frames)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (default: %(default)s)")
    parser.add_argument("--metrics", metavar="JSON", default=None,
                        help="a JSON file of benchmark figures to record in the metadata (metrics.benchmark)")
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        try:
            metrics = json.loads(Path(args.metrics).read_text())
        except (OSError, ValueError) as exc:
            print(f"export: {args.metrics}: not a readable JSON file ({exc})", file=sys.stderr)
            return 2
        if not isinstance(metrics, dict):
            print(f"export: {args.metrics}: metrics must be a JSON object", file=sys.stderr)
            return 2
    if args.name and len(args.checkpoints) > 1:
        parser.error("--name needs exactly one checkpoint")
    for checkpoint in args.checkpoints:
        try:
            reports = export_checkpoint(checkpoint, args.out, name=args.name, fp16=args.fp16,
                                        samples=args.sample or None, opset=args.opset, metrics=metrics)
        except (ExportError, CheckpointError) as exc:
            print(f"export: {exc}", file=sys.stderr)
            return 1
        for r in reports:
            print(f"published {r.name} ({r.precision}) -> {r.path}  sha256 {r.sha256[:12]}  "
                  f"parity {r.parity_error:.1e} <= {r.tolerance:.0e}  {r.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
