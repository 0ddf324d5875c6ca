"""Benchmarks: every method measured in one run on the same inputs, one table, JSON + Markdown + a crops grid.

    python -m bench denoise --split test --spp 1 4 16 --out out/bench   # bench/denoise.py
    python -m bench upres --scales 2 4 --out out/bench                  # bench/upres.py (renders + Set5)
    python -m bench colorize --hints 0 1 10 100 --out out/bench         # bench/colorize.py
    python -m bench inbetween --out out/bench                           # bench/inbetween.py (--anim: per t)
    python -m bench denoise_sizes --out out/bench_denoise_sizes         # bench/denoise_sizes.py (128-512 px renders)
    python -m bench temporal --spp 4 16 --out out/bench_temporal        # bench/temporal.py (animations, flicker)
    python -m bench inbetween_guided --out out/bench_guided             # bench/guided_inbetween.py (guide passes)
    python -m bench farm --frames 8 --out out/bench_farm                # bench/farm.py (frames/s, Dask)
    python -m bench throughput --baseline DIR                           # bench/throughput.py (vs OIDN, processes)
    python -m bench scale --preset v2 --scenes 3                        # bench/scale.py (Dask renders, torchrun)
    python -m bench crops --task TASK                                   # tests/data/TASK regression crops
    python -m bench.demo --out out/demo                                 # the README's demo (bench/demo.py)

``bench.core`` holds what every benchmark shares (methods made only when chosen, scores, the 1920x1080 timing
as the best of 3 passes with the methods taking turns, reports, options, exit codes); each module registers its
benchmark by name in ``bench.core.BENCHMARKS``, and :func:`main` imports every module of the package, so a new
benchmark is a new file. Peer methods live in ``bench.peers``. bench may import ml_core, export and addon;
nothing in ml_core imports bench or export (the pipeline's one-way flow: ml_core -> bench -> export -> addon).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """``python -m bench TASK [options]``: run one registered benchmark, print its table; the exit code."""
    from ml_core.registry import import_submodules

    from .core import BENCHMARKS, ERROR, OK

    import_submodules(__name__)
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, benchmark in BENCHMARKS.items():
        benchmark.options(sub.add_parser(name, help=benchmark.help, description=benchmark.description,
                                         formatter_class=argparse.RawDescriptionHelpFormatter))
    args = p.parse_args(argv)
    try:
        text = BENCHMARKS.get(args.task).main(args)
    except (ValueError, OSError) as exc:
        print(f"python -m bench {args.task}: error: {exc}", file=sys.stderr)
        return ERROR
    print(text)
    return OK
