"""``python -m bench crops --task TASK``: the fixed regression crops the shipped-model quality tests read
(``tests/data/TASK``; see the README there), made from a task's test split by that task's benchmark module;
``--score``: every method's mean score on the crops already there (the figures ``expected.json`` records; the
tasks whose module measures them).
"""
from __future__ import annotations

import json
from pathlib import Path

from . import core
from .core import BENCHMARKS, Benchmark


def options(p) -> None:
    tasks = [name for name, benchmark in BENCHMARKS.items() if benchmark.crops]
    p.add_argument("--task", dest="crops_task", choices=tasks, default="denoise", help="(default: %(default)s)")
    core.add_options(p, methods=False, hd=False, count=8, out=None, out_help="crops folder (default: tests/data/TASK)")
    p.add_argument("--score", action="store_true", help="print every method's mean score on the crops in --out")


def main(args) -> str:
    benchmark = BENCHMARKS.get(args.crops_task)
    out = args.out or Path("tests/data") / args.crops_task
    if args.score:
        if benchmark.score_crops is None:
            raise ValueError(f"no crop scores for {args.crops_task}; have "
                             f"{', '.join(n for n, b in BENCHMARKS.items() if b.score_crops)}")
        return json.dumps(benchmark.score_crops(out, args.models), indent=1)
    return "\n".join(str(path) for path in benchmark.crops(args.data, out, args.split, args.count))


BENCHMARKS.add("crops", Benchmark("write the fixed crops the shipped-model quality tests use", main, options,
                                  __doc__))
