"""The ML core beyond one machine (issue 29): scenes per minute of ``python -m ml_core.data build`` in one process
and on a Dask cluster, and training steps per second in one process and in two under torchrun, measured on this
machine in one run.

    python -m bench scale --preset v2 --scenes 3 --out out/bench_scale
    python -m bench scale --what training --steps 50         # or --what scenes

Scenes: the same seeds (``--split``, ``--start``, ``--scenes``; the default mesh folder, so the scenes of a real
dataset of ``--preset``) built by the whole command, each configuration into a fresh temporary ``--out``:

- ``local``: ``python -m ml_core.data build ... --threads 2``, one process;
- ``dask 1 worker``: a Dask cluster started as a farm starts one, ``dask scheduler --scheduler-file F --host
  127.0.0.1 --port 0 --dashboard-address 127.0.0.1:0`` and ``dask worker --scheduler-file F --nworkers 1
  --nthreads 1``, then ``build ... --scheduler F --threads 2``;
- ``dask 2 workers``: the same with ``--nworkers 2`` and ``--threads 1`` (each worker its share of the cores).

The cluster is up, its workers joined, before the build command starts (as on a farm); the workers import
Blender on their first task, inside the timed command. Reported per configuration: the command's wall time
(start-up, the render phase, the contact sheet), the render phase's (the build summary's ``seconds``, from the
first scene submitted to the last one back), the difference (start-up: imports, bpy, ``dataset.json``, the
sheet), scenes per minute of the command and of the render phase, and which workers rendered.

Training: ``bench/train_steps.py`` (``python -m bench.train_steps STEPS``; see its docstring) with the shipped
denoiser's config (model, loss, global batch 16, crop 64) on a synthetic batch: one process with 2 threads, and
``python -m torch.distributed.run --standalone --nproc_per_node 2 -m bench.train_steps`` with 1 thread each
(``OMP_NUM_THREADS``), ``--train-rounds`` rounds taking turns; the median milliseconds per step of ``--steps``
steps, steps/s and samples/s (the global batch per second), and with 2 processes one all-reduce of the model's
gradients (its parameter count in float32). Reported with the load average before and after each command.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ml_core import paths

from . import core
from .core import BENCHMARKS, Benchmark

#: (name, Dask worker processes (0: no cluster, the build in one process), Cycles threads per scene)
SCENE_RUNS = (("local", 0, 2), ("dask 1 worker", 1, 2), ("dask 2 workers", 2, 1))
#: (name, processes, threads per process)
TRAIN_RUNS = (("1 process", 1, 2), ("torchrun 2 processes", 2, 1))
#: seconds to wait for the scheduler file and for the workers to join
CLUSTER_TIMEOUT = 120


def _env(**changes: str) -> dict:
    """The environment of a child: this one, the repository importable (workers import ml_core by name)."""
    python_path = os.pathsep.join(p for p in (str(paths.REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": python_path, **changes}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ----------------------------------------------------------------------------------------------------------
# Scenes per minute
# ----------------------------------------------------------------------------------------------------------
@contextmanager
def dask_cluster(folder: Path, workers: int, log=print):
    """A Dask scheduler and ``workers`` worker processes of one thread on loopback, started as the CLI starts
    them on a farm; yields the scheduler file once the workers have joined; stopped on exit (each command's
    process group: the worker command's nannies and their workers)."""
    dask = [sys.executable, "-m", "dask"]
    scheduler_file = folder / "scheduler.json"
    started: list[tuple[subprocess.Popen, object]] = []

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        output = open(folder / f"{name}.log", "w")
        proc = subprocess.Popen(argv, cwd=paths.REPO_ROOT, env=_env(), stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        started.append((proc, output))
        return proc

    try:
        scheduler = start("scheduler", dask + ["scheduler", "--scheduler-file", str(scheduler_file), "--host",
                                               "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0"])
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        while not _scheduler_ready(scheduler_file):
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {_tail(folder / 'scheduler.log')}")
            time.sleep(0.2)
        start("worker", dask + ["worker", "--scheduler-file", str(scheduler_file), "--nworkers", str(workers),
                                "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                                "--local-directory", str(folder / "dask-worker")])
        from dask.distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout=CLUSTER_TIMEOUT, set_as_default=False) as client:
            try:
                client.wait_for_workers(workers, timeout=CLUSTER_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(f"{workers} dask workers did not join: {_tail(folder / 'worker.log')}") from None
        log(f"dask cluster up: {workers} worker process(es) of 1 thread")
        yield scheduler_file
    finally:
        for proc, output in reversed(started):  # the workers first, then the scheduler
            _stop(proc)
            output.close()


def _scheduler_ready(path: Path) -> bool:
    try:
        return "address" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to ``proc``'s process group (its own session), SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # the group may outlive its leader (a nanny's worker): take it down too
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(path: Path, chars: int = 800) -> str:
    try:
        return path.read_text(errors="replace").strip()[-chars:]
    except OSError:
        return "(no log)"


def build_argv(out: Path, preset: str, split: str, start: int, scenes: int, threads: int,
               scheduler: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "ml_core.data", "build", "--preset", preset, "--split", split, "--start",
            str(start), "--count", str(scenes), "--out", str(out), "--threads", str(threads), "--quiet"]
    return argv + (["--scheduler", str(scheduler)] if scheduler else [])


def render_run(name: str, workers: int, threads: int, preset: str, split: str, start: int, scenes: int,
               log=print) -> dict:
    """One configuration of :data:`SCENE_RUNS`: the whole build command timed, into a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="postpass-scale-") as tmp:
        folder, out = Path(tmp), Path(tmp) / "data"
        with dask_cluster(folder, workers, log) if workers else _nothing() as scheduler:
            argv = build_argv(out, preset, split, start, scenes, threads, scheduler)
            load_before = _load()
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=paths.REPO_ROOT, env=_env(), capture_output=True, text=True,
                                  timeout=3600 + 600 * scenes)
            wall = time.perf_counter() - started
            load_after = _load()
        if done.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(argv[1:])} exited {done.returncode}: {done.stderr.strip()[-800:]}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        if summary["rendered"] != scenes:
            raise RuntimeError(f"{name}: rendered {summary['rendered']} of {scenes} scenes: {summary}")
        manifests = [json.loads((f / "manifest.json").read_text()) for f in sorted((out / split).iterdir())
                     if not f.name.startswith(".") and (f / "manifest.json").is_file()]
    render_seconds = summary["seconds"]
    result = {"workers": workers, "threads": threads, "processes": max(workers, 1),
              "command": " ".join(["python"] + build_argv(Path("OUT"), preset, split, start, scenes, threads,
                                                          Path("SCHEDULER_FILE") if workers else None)[1:]),
              "wall_seconds": round(wall, 1), "render_seconds": render_seconds,
              "startup_seconds": round(wall - render_seconds, 1),
              "scenes_per_minute": round(60 * scenes / wall, 3),
              "render_scenes_per_minute": round(60 * scenes / render_seconds, 3) if render_seconds else None,
              "scene_seconds": {str(m["seed"]): m.get("wall_seconds") for m in manifests},
              "families": {str(m["seed"]): m.get("family") for m in manifests},
              "rendered_by": summary["workers"], "load_before": load_before, "load_after": load_after}
    log(f"scenes {name}: {wall:.1f} s ({result['scenes_per_minute']:.3f} scenes/min; render phase "
        f"{render_seconds} s), load {load_before[0]} -> {load_after[0]}")
    return result


@contextmanager
def _nothing():
    yield None


# ----------------------------------------------------------------------------------------------------------
# Training steps per second
# ----------------------------------------------------------------------------------------------------------
def train_argv(processes: int, steps: int, warmup: int = 3) -> list[str]:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
                if processes > 1 else [sys.executable])
    return launcher + ["-m", "bench.train_steps", str(steps), "--warmup", str(warmup)]


def train_run(name: str, processes: int, threads: int, steps: int, warmup: int = 3, log=print) -> dict:
    """One round of one configuration of :data:`TRAIN_RUNS`: ``bench.train_steps`` in a child command."""
    argv = train_argv(processes, steps, warmup)
    env = _env(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    load_before = _load()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(argv[1:])} exited {done.returncode}: {done.stderr.strip()[-800:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{name}: no result from {' '.join(argv[1:])}: {done.stdout[-400:]} {done.stderr[-400:]}")
    result = json.loads(lines[-1])
    if result["world_size"] != processes or result["threads"] != threads:
        raise RuntimeError(f"{name}: ran as {result['world_size']} x {result['threads']} threads, "
                           f"not {processes} x {threads}")
    result.update(wall_seconds=round(wall, 1), load_before=load_before, load_after=_load(),
                  command=f"OMP_NUM_THREADS={threads} " + " ".join(["python"] + argv[1:]))
    log(f"training {name}: {result['steps_per_second']:.2f} steps/s ({result['ms_per_step']:.0f} ms/step), "
        f"load {load_before[0]} -> {result['load_after'][0]}")
    return result


def train_summary(rounds: list[dict]) -> dict:
    """The rounds of one configuration: the median round's figures (by ms/step) and every round's steps/s."""
    ms = statistics.median(r["ms_per_step"] for r in rounds)
    first = rounds[0]
    return {"processes": first["world_size"], "threads": first["threads"], "batch_size": first["batch_size"],
            "crop": first["crop"], "parameters": first["parameters"], "config": first["config"],
            "steps": first["steps"], "ms_per_step": round(ms, 2), "steps_per_second": round(1000 / ms, 3),
            "samples_per_second": round(first["batch_size"] * 1000 / ms, 2),
            "round_steps_per_second": [r["steps_per_second"] for r in rounds],
            "allreduce_ms": statistics.median(r["allreduce_ms"] for r in rounds) if first["allreduce_ms"] else None,
            "command": first["command"], "rounds": rounds}


# ----------------------------------------------------------------------------------------------------------
def run(what: str = "both", preset: str = "v2", scenes: int = 3, split: str = "val", start: int = 100,
        steps: int = 20, train_rounds: int = 2, warmup: int = 3, log=print) -> dict:
    result: dict = {"cores": os.cpu_count(), "load_start": _load(), "preset": preset, "split": split,
                    "start": start, "scenes": scenes, "steps": steps, "warmup": warmup, "train_rounds": train_rounds}
    if what in ("training", "both"):
        rounds: dict[str, list[dict]] = {name: [] for name, _, _ in TRAIN_RUNS}
        for _ in range(train_rounds):  # the configurations take turns
            for name, processes, threads in TRAIN_RUNS:
                rounds[name].append(train_run(name, processes, threads, steps, warmup, log))
        result["training"] = {name: train_summary(r) for name, r in rounds.items()}
    if what in ("scenes", "both"):
        mesh_dir = paths.default_mesh_dir()
        result["mesh_dir"] = str(mesh_dir) if mesh_dir else None
        result["renders"] = {name: render_run(name, workers, threads, preset, split, start, scenes, log)
                             for name, workers, threads in SCENE_RUNS}
    result["load_end"] = _load()
    return result


def markdown_table(result: dict) -> str:
    text = [f"{result['cores']} cores; load average (1, 5, 15 min) {result['load_start']} at the start, "
            f"{result['load_end']} at the end.\n"]
    if "renders" in result:
        runs = result["renders"]
        base = next(iter(runs.values()))
        families = next(iter(runs.values()))["families"]
        rows = [[name, f"{r['processes']} x {r['threads']}", f"{r['wall_seconds']:.1f}", f"{r['render_seconds']:.1f}",
                 f"{r['startup_seconds']:.1f}", f"{r['scenes_per_minute']:.3f}",
                 f"{r['render_scenes_per_minute']:.3f}" if r["render_scenes_per_minute"] else "-",
                 f"{r['scenes_per_minute'] / base['scenes_per_minute']:.2f}x",
                 f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}"] for name, r in runs.items()]
        text.append(f"Scenes: `python -m ml_core.data build --preset {result['preset']} --split {result['split']} "
                    f"--start {result['start']} --count {result['scenes']}` (seeds "
                    + ", ".join(f"{seed} {family}" for seed, family in families.items())
                    + "), the whole command timed, each configuration into a fresh folder.\n\n"
                    + core.markdown_table(["configuration", "processes x threads", "command s", "render s",
                                           "start-up s", "scenes/min", "scenes/min (render phase)", "speed-up",
                                           "load (1 min)"], rows))
    if "training" in result:
        runs = result["training"]
        base = next(iter(runs.values()))
        rows = [[name, f"{r['processes']} x {r['threads']}", f"{r['ms_per_step']:.0f}", f"{r['steps_per_second']:.2f}",
                 f"{r['samples_per_second']:.1f}", f"{r['steps_per_second'] / base['steps_per_second']:.2f}x",
                 ", ".join(f"{v:.2f}" for v in r["round_steps_per_second"]),
                 f"{r['allreduce_ms']:.2f}" if r["allreduce_ms"] else "-"] for name, r in runs.items()]
        text.append(f"Training: `python -m bench.train_steps {result['steps']}` ({base['config']}: global batch "
                    f"{base['batch_size']}, crop {base['crop']}, {base['parameters']} parameters, synthetic batch), "
                    f"median of {result['steps']} steps after {result['warmup']}, {result['train_rounds']} round(s) "
                    "taking turns.\n\n"
                    + core.markdown_table(["configuration", "processes x threads", "ms/step", "steps/s", "samples/s",
                                           "speed-up", "steps/s per round", "all-reduce ms"], rows))
    return "\n".join(text)


def options(p) -> None:
    p.add_argument("--what", choices=("scenes", "training", "both"), default="both", help="(default: %(default)s)")
    p.add_argument("--preset", default="v2", help="render preset of the scenes (default: %(default)s)")
    p.add_argument("--scenes", type=int, default=3, help="scenes per configuration (default: %(default)s)")
    p.add_argument("--split", default="val", help="split of the seeds (default: %(default)s)")
    p.add_argument("--start", type=int, default=100, help="seed offset in the split (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps first (default: %(default)s)")
    p.add_argument("--train-rounds", type=int, default=2,
                   help="training rounds, the configurations taking turns (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("out/bench_scale"), help="(default: %(default)s)")


def main(args) -> str:
    if args.scenes < 1 or args.steps < 1 or args.train_rounds < 1 or args.warmup < 0:
        raise ValueError("--scenes, --steps and --train-rounds must be >= 1, --warmup >= 0")
    if args.what != "training":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("the scenes part needs Dask distributed: pip install 'postpass[farm]'") from None
    result = run(args.what, args.preset, args.scenes, args.split, args.start, args.steps, args.train_rounds,
                 args.warmup)
    table = markdown_table(result)
    core.write_reports(args.out, "scale", result, table)
    return table


BENCHMARKS.add("scale", Benchmark("scenes/min of the dataset build locally and on Dask, training steps/s with "
                                  "1 and 2 processes (torchrun)", main, options, __doc__))
