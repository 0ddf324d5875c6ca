"""Fine-tune benchmark (issue 27): the shipped denoiser fine-tuned on an artist's own shot, scored on frames of
the shot that training never saw, against Blender's OIDN and the shipped model, at several time budgets.

    python -m bench finetune [--shots NAME ...] [--minutes 15 5] [--authored DIR] [--out DIR] [--spp 4]
                             [--score-spp 1 4 16] [--plot docs/finetune_gain.png] [--score-only]

For each shot (default: the authored stills complete in ``--authored``, each with its ``reference.exr``):

1. **The shot**: the authored scene saved as the ``.blend`` an artist hands over (``python -m ml_core.authored
   shots``, in a child process: ``OUT/shots/<name>.blend``) at the size the set rendered it (its
   ``scene.json``) with ``--spp`` samples.
2. **The fine-tunes**, one per budget of ``--minutes``: ``python -m export.finetune SHOT -o OUT/<name>_<M>m
   --minutes M --work OUT/work/<name>_<M>m --json``, one at a time, nothing else running in this process
   meanwhile (they are timed: wall seconds, start-up included). A run whose ``OUT/<name>_<M>m/finetune.json``
   exists is not run again (a rerun resumes; its wall seconds come from ``OUT/runs/<name>_<M>m.json``); one
   without starts from empty folders, so every timed run renders and trains from scratch. Its stderr goes to
   ``OUT/runs/<name>_<M>m.log``; a failed one (exit 1 or 2) is reported and left out of the scores, an
   interrupted one (exit 130) stops the benchmark.
3. **The scores**, after every fine-tune: the authored cache's still frame of the scene (``noisy_spp0001/4/16
   .exr`` against ``reference.exr``), which the fine-tune never saw (the shot's renders use other Cycles seeds
   and its views are jittered), at each ``--score-spp``: the noisy input, Blender's OIDN (Accurate, High),
   pyoidn (High) when installed, the shipped ``denoise_kpn`` and each budget's fine-tuned model (loaded from its
   models folder through ``addon.runtime``, by the name its report gives), all given colour + albedo + normal;
   tone-mapped PSNR / SSIM, relMSE and HDR-FLIP (``bench.denoise.score``).

4. **The animation**, for an animated scene (``anim_room_lamp`` ...: frames 1..F at ``--spp`` with a reference
   each): every frame through Blender's OIDN, the shipped per-frame and temporal models and each budget's two
   fine-tuned models (per frame, and the temporal one its report names), mean PSNR and the temporal error
   relative to OIDN's (``bench.temporal``; :func:`score_animation`).

The report: a table per spp (rows: the shots, then the mean; columns: every method's PSNR, then per budget the
fine-tuned model minus Blender's OIDN and minus the shipped model, the fine-tune's wall minutes and its own
held-out gain), the issue's targets at ``--spp`` (the mean over the shots at the largest budget: Blender's OIDN
+ 0.5 dB, the shipped model + 1.0 dB), ``OUT/finetune.json`` and ``OUT/finetune.md``, and a plot of the gain
against minutes at ``--spp`` (``--plot``, default ``OUT/finetune_gain.png``: a run on other shots never overwrites
the docs' figure, ``--plot docs/finetune_gain.png``; 0 minutes is the shipped model).
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ml_core import paths
from ml_core.figures import save_figure

from . import core, peers
from .core import BENCHMARKS, Benchmark
from .denoise import PEER, PYOIDN, _Reference, denoise_methods, score

NOISY, SHIPPED = "noisy", "postpass denoise_kpn"
#: the shipped average of Blender's denoised frames (issue 26), scored on an animated shot beside the fine-tunes
SHIPPED_OIDN_TEMPORAL = "postpass denoise_oidn_temporal"
#: the issue's targets: the mean gain of the fine-tuned model at the largest budget, at the shot's spp
TARGETS = {"blender": 0.5, "shipped": 1.0}
#: short names of the two peers each fine-tuned model is measured against, as the tables say them
VERSUS = {"blender": (PEER, "Blender OIDN"), "shipped": (SHIPPED, "shipped")}
SETTINGS_FILE = "bench_settings.json"
#: the fine-tune command before its arguments (``export.finetune``'s command line; tests put a stand-in here)
FINETUNE = (sys.executable, "-m", "export.finetune")
KEYS = ("psnr", "ssim", "relmse", "flip")


def tuned(minutes: float) -> str:
    """The method name of the model fine-tuned for ``minutes``."""
    return f"fine-tuned {minutes:g} min"


def run_name(shot: str, minutes: float) -> str:
    """``<shot>_<M>m``: the fine-tune's models folder under OUT (and its work folder, log and record)."""
    return f"{shot}_{minutes:g}m"


# ----------------------------------------------------------------------------------------------------------
# Shots and fine-tunes
# ----------------------------------------------------------------------------------------------------------
def default_shots(authored: Path, spp: tuple[int, ...] = (1, 4, 16)) -> list[str]:
    """The authored stills complete under ``authored`` with a reference and the noisy files of ``spp``, in the
    set's order."""
    from ml_core.authored import SCENES
    from ml_core.authored.base import ordered

    found = {scene.name for scene in core.authored_set(authored, noisy_files(spp)).scenes}
    return [e.name for e in ordered() if e.name in found and not SCENES.get(e.name).animated]


def noisy_files(spp: tuple[int, ...]) -> list[str]:
    return [f"noisy_spp{s:04d}.exr" for s in spp]


def scene_size(folder: Path) -> int:
    """The size the authored set rendered the scene in ``folder`` at (``scene.json``'s ``size``)."""
    try:
        size = json.loads((Path(folder) / "scene.json").read_text())["size"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{folder}: no readable scene.json with a size ({exc})") from None
    if size[0] != size[1]:
        raise ValueError(f"{folder}: a {size[0]}x{size[1]} scene; shots are square")
    return int(size[0])


def make_shot(name: str, folder: Path, shots: Path, spp: int, log=print) -> Path:
    """``shots/<name>.blend``, saved by ``python -m ml_core.authored shots`` in a child process (bpy stays out
    of this one until the scores) at the size of the scene's set folder ``folder``; kept when already there."""
    path = Path(shots) / f"{name}.blend"
    if path.is_file():
        return path
    size = scene_size(folder)
    command = [sys.executable, "-m", "ml_core.authored", "shots", "--out", str(shots), "--only", name,
               "--spp", str(spp), "--size", str(size), "--anim-size", str(size), "--quiet"]
    done = subprocess.run(command, cwd=paths.REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not path.is_file():
        raise ValueError(f"saving the shot {name} failed (exit {done.returncode}): "
                         f"{(done.stderr.strip().splitlines() or ['no message'])[-1]}")
    log(f"shot {name}: {path} ({size} px, {spp} spp)")
    return path


def run_finetune(shot: Path, out: Path, minutes: float, log=print, target: str = "denoised") -> dict:
    """One fine-tune of ``shot`` for ``minutes`` into ``out/<shot>_<M>m`` (:func:`run_name`), or the one already
    there. Returns {"models_dir", "model", "wall_seconds", "report", "resumed"} or, when it failed,
    {"failed": why, "log": its stderr log}. Exit 130 (interrupted) raises KeyboardInterrupt."""
    name = run_name(shot.stem, minutes)
    models, work = out / name, out / "work" / name
    runs = out / "runs"
    record_path, log_path = runs / f"{name}.json", runs / f"{name}.log"
    if (models / "finetune.json").is_file():
        report = json.loads((models / "finetune.json").read_text())
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        wall = record.get("wall_seconds", (report.get("seconds") or {}).get("total"))
        log(f"fine-tune {name}: done before ({_minutes(wall)} min), kept")
        return {"models_dir": str(models), "model": report["model"], "wall_seconds": wall, "report": report,
                "resumed": True}
    for stale in (models, work):  # a timed run starts from nothing: no renders or weights of an earlier try
        if stale.exists():
            shutil.rmtree(stale)
    runs.mkdir(parents=True, exist_ok=True)
    command = [*FINETUNE, str(shot), "-o", str(models), "--minutes", f"{minutes:g}", "--work", str(work), "--json",
               "--target", target]
    log(f"fine-tune {name}: running for {minutes:g} min (log: {log_path})")
    with open(log_path, "w") as stderr:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        wall = time.perf_counter() - start
    if done.returncode == 130:
        raise KeyboardInterrupt(f"fine-tune {name} interrupted")
    if done.returncode != 0 or not (models / "finetune.json").is_file():
        why = f"exit {done.returncode}: {_failure(done.stdout, log_path)}"
        log(f"fine-tune {name}: FAILED ({why})")
        return {"failed": why, "log": str(log_path), "wall_seconds": round(wall, 3)}
    report = json.loads((models / "finetune.json").read_text())
    record = {"command": command, "wall_seconds": round(wall, 3), "exit": 0, "stdout": done.stdout[-4000:]}
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    log(f"fine-tune {name}: {_minutes(wall)} min, kept {report.get('kept')}, held-out gain "
        f"{_num((report.get('held_out') or {}).get('gain_db'), signed=True)} dB")
    return {"models_dir": str(models), "model": report["model"], "wall_seconds": round(wall, 3), "report": report,
            "resumed": False}


def _failure(stdout: str, log_path: Path) -> str:
    """Why a fine-tune failed: the message of its last ``{"event": "error"}`` line (``--json``), else the last
    line of its stderr."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "error" and event.get("message"):
            return str(event["message"])
    return (log_path.read_text(errors="replace").strip().splitlines() or ["no message"])[-1]


def _check_settings(out: Path, settings: dict) -> None:
    """``out`` holds fine-tunes of one --spp and one authored set: a rerun with others is refused."""
    path = out / SETTINGS_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings:
            raise ValueError(f"{out}: holds fine-tunes made with other settings ({old}); use another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1) + "\n")


# ----------------------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------------------
def base_methods(names: list[str] | None = None) -> dict:
    """The methods every shot is scored with besides its fine-tuned models: the noisy input, Blender's OIDN
    (Accurate, High), pyoidn (High) when installed and the shipped ``denoise_kpn`` (``names``: only those)."""
    wanted = [NOISY, PEER] + ([PYOIDN] if peers.pyoidn_available() else []) + [SHIPPED]
    return denoise_methods(None, [n for n in wanted if names is None or n in names])


def tuned_method(models_dir: Path, model: str, blender_oidn=None):
    """A fine-tuned model as a method (colour, albedo, normal) -> colour, through ``addon.runtime``. A model
    that corrects Blender's denoised render (``denoise_oidn_residual_shot``) also gets Blender's result on the
    same inputs, ``blender_oidn`` (a method): what a render with Cycles' Denoise and Denoising Data holds
    (Combined is bit for bit the compositor Denoise node's result at Accurate, High)."""
    from addon.runtime import api

    if blender_oidn is None:
        return lambda c, a, n: api.denoise(c, albedo=a, normal=n, model=model, models_dir=models_dir)
    return lambda c, a, n: api.denoise(c, albedo=a, normal=n, blender_denoised=blender_oidn(c, a, n)[..., :3],
                                       model=model, models_dir=models_dir)


def finetuned_methods(minutes: float, done: dict, base: dict) -> dict:
    """The methods of one fine-tune (``run_finetune``'s record): ``fine-tuned M min``, what its models folder gives
    a render with Blender's own denoised result beside the raw render (Blender's default Denoise with Denoising
    Data): the correction of Blender's result when the fine-tune kept one, else the denoiser its report names;
    and, when both were kept, ``kpn fine-tuned M min``, the fine-tuned denoise_kpn alone (renders without
    Blender's result, and the temporal model's per-frame network)."""
    if "model" not in done:
        return {}
    models, residual = Path(done["models_dir"]), (done.get("report") or {}).get("residual_model")
    if not residual:
        return {tuned(minutes): tuned_method(models, done["model"])}
    return {tuned(minutes): tuned_method(models, residual, base[PEER]),
            f"kpn {tuned(minutes)}": tuned_method(models, done["model"])}


def score_shot(folder: Path, methods: dict, spp: tuple[int, ...] = (1, 4, 16)) -> dict:
    """Every method of ``methods`` (name -> callable(colour, albedo, normal)) on the authored scene ``folder``'s
    still frame at each ``spp`` (``noisy_sppNNNN.exr``, all given colour + albedo + normal), scored against its
    ``reference.exr``: {method: {str(spp): {psnr, ssim, relmse, flip, seconds}}}."""
    from addon.runtime.exr import read_exr

    folder = Path(folder)
    reference = read_exr(folder / "reference.exr").get("Combined")[..., :3]
    view = _Reference(reference)
    result: dict[str, dict[str, dict]] = {name: {} for name in methods}
    for s in spp:
        noisy = read_exr(folder / f"noisy_spp{s:04d}.exr")
        given = (noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"), noisy.get("Denoising Normal"))
        for name, method in methods.items():
            start = time.perf_counter()
            out = method(*given)
            seconds = time.perf_counter() - start
            metrics = score(out[..., :3], view.linear, view.scale, view.tonemapped, view.corners)
            result[name][str(s)] = {**{k: float(metrics[k]) for k in KEYS}, "seconds": round(seconds, 3)}
    return result


def score_animation(folder: Path, methods: dict, finetunes: dict, minutes, spp: int) -> dict | None:
    """The shot's animation, when the authored scene ``folder`` is animated (frames 1..F at ``spp`` with a
    reference each: ``bench.temporal``'s authored layout), every frame against its reference. Per frame: of the
    still's ``methods`` (name -> callable(colour, albedo, normal)), Blender's OIDN, the shipped model and the
    fine-tuned ones; beside them the shipped temporal model and, per budget, the fine-tuned temporal model its
    report names (the fine-tuned network inside the shipped pooling of frames f-1, f+1).
    The shipped average of Blender's frames (``denoise_oidn_temporal``) and, where a budget kept the correction,
    the average of the shot-corrected frames its report names, both given Blender's per-frame result.
    {method: {psnr, ssim, flip, temporal (the temporal error), temporal_vs_oidn}, "frames": F}; None for a still."""
    from . import temporal as bench_temporal

    layout = bench_temporal.AUTHORED_LAYOUT
    frames = layout.frames(Path(folder), (spp,))
    if frames < 2:
        return None
    sequence = bench_temporal.read_sequence(Path(folder), layout, frames, spp)
    references, vectors, _ = bench_temporal.read_references(Path(folder), layout, frames)
    runs = {name: bench_temporal.per_frame_method(methods[name]) for name in (PEER, SHIPPED) if name in methods}
    makers, _ = bench_temporal.method_makers(None)
    for name in (bench_temporal.TEMPORAL_DEFAULT, SHIPPED_OIDN_TEMPORAL):
        if name in makers:
            runs[name] = makers[name]()
    for m in minutes:
        done = finetunes.get(f"{m:g}", {})
        if tuned(m) in methods:
            runs[tuned(m)] = bench_temporal.per_frame_method(methods[tuned(m)])
        report = done.get("report") or {}
        if "model" in done and report.get("temporal_model"):
            runs[f"{tuned(m)}, temporal"] = bench_temporal.TemporalMethod(report["temporal_model"],
                                                                          Path(done["models_dir"]))
        if "model" in done and report.get("residual_temporal_model"):  # the corrected frames' average
            runs[f"{tuned(m)}, temporal (Blender's frames)"] = bench_temporal.TemporalMethod(
                report["residual_temporal_model"], Path(done["models_dir"]))
    result: dict = {"frames": frames}
    outputs: dict = {}  # Blender's per-frame result, which the models of Blender's frames read, made once
    for name, method in runs.items():
        outputs[name] = method(sequence, outputs)
        if name == PEER:
            outputs[bench_temporal.PEER] = outputs[name]
        scores = bench_temporal.score(outputs[name], references, vectors)
        result[name] = {k: scores[k] for k in ("psnr", "ssim", "flip", "temporal")}
    peer = result.get(PEER, {}).get("temporal")
    for name in runs:
        result[name]["temporal_vs_oidn"] = result[name]["temporal"] / peer if peer else math.nan
    return result


def summarize(metrics: dict, finetunes: dict, minutes: list[float], spp: list[int]) -> dict:
    """Per budget and spp, the fine-tuned model minus each peer per shot and their mean over the shots that
    have both; the methods' mean metrics over the shots scored with them.

    ``metrics``: {shot: {method: {str(spp): {psnr, ...}}}}; ``finetunes``: {shot: {str(minutes): run}}.
    Returns {"mean": {method: {str(spp): {key: mean, "shots": n}}}, "gain": {str(minutes): {str(spp):
    {"blender"|"shipped": {"shots": {shot: dB}, "mean": dB}}}}, "finetune_means": {str(minutes): {"wall_minutes",
    "held_out_gain_db"}}}."""
    methods = list(dict.fromkeys(m for by_method in metrics.values() for m in by_method))
    mean = {}
    for method in methods:
        mean[method] = {}
        for s in spp:
            found = [metrics[shot][method][str(s)] for shot in metrics if str(s) in metrics[shot].get(method, {})]
            mean[method][str(s)] = {**{k: _mean([m[k] for m in found]) for k in KEYS}, "shots": len(found)}
    gain = {}
    for m in minutes:
        label, gain[f"{m:g}"] = tuned(m), {}
        for s in spp:
            row = {}
            for key, (peer, _) in VERSUS.items():
                shots = {shot: by[label][str(s)]["psnr"] - by[peer][str(s)]["psnr"]
                         for shot, by in metrics.items() if label in by and peer in by}
                row[key] = {"shots": shots, "mean": _mean(list(shots.values()))}
            gain[f"{m:g}"][str(s)] = row
    runs = {}
    for m in minutes:
        done = [r[f"{m:g}"] for r in finetunes.values() if "report" in r.get(f"{m:g}", {})]
        runs[f"{m:g}"] = {"wall_minutes": _mean([(r["wall_seconds"] or math.nan) / 60 for r in done]),
                          "held_out_gain_db": _mean([_held_out(r) for r in done]), "runs": len(done),
                          "kept_shipped": sum(r["report"].get("kept") == "shipped" for r in done)}
    return {"mean": mean, "gain": gain, "finetune_means": runs}


def _held_out(run: dict) -> float:
    """The fine-tune's own gain on its held-out views: its correction's over Blender's result when it kept one,
    else its denoise_kpn's over the shipped one."""
    report = run.get("report") or {}
    held_out = report.get("held_out") or {}
    gain = held_out.get("residual_gain_db" if report.get("residual_model") else "gain_db")
    return math.nan if gain is None else float(gain)


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def _minutes(seconds) -> str:
    return "-" if seconds is None or not np.isfinite(seconds) else f"{seconds / 60:.1f}"


def _num(value, fmt: str = ".2f", signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return format(value, ("+" if signed else "") + fmt)


# ----------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------
def run(shots: list[str] | None = None, minutes: tuple[float, ...] = (15, 5), authored: Path | None = None,
        out: Path | None = None, spp: int = 4, score_spp: tuple[int, ...] = (1, 4, 16), plot: Path | None = None,
        score_only: bool = False, log=print, target: str = "denoised") -> dict:
    """The benchmark (see the module's text): shots, then every fine-tune one at a time, then the scores.
    Returns the result; writes ``out``/finetune.json, finetune.md and the ``plot``."""
    from ml_core.authored import SCENES

    authored = Path(authored or core.authored_dir()).expanduser()
    out = Path(out or paths.cache_dir() / "bench_finetune").expanduser().absolute()
    minutes = tuple(dict.fromkeys(float(m) for m in minutes))
    if not minutes or min(minutes) <= 0:
        raise ValueError(f"--minutes must be > 0, got {list(minutes)}")
    if spp < 1 or not score_spp or min(score_spp) < 1:
        raise ValueError("--spp and --score-spp must be >= 1")
    if not authored.is_dir():
        raise ValueError(f"{authored}: no authored set there (build it: python -m ml_core.authored build "
                         f"--out {authored})")
    names = list(dict.fromkeys(shots)) if shots else default_shots(authored, score_spp)
    if not names:
        raise ValueError(f"{authored}: no complete authored still with {', '.join(noisy_files(score_spp))} and "
                         "reference.exr")
    need = ["reference.exr", "scene.json"] + noisy_files(score_spp)
    for name in names:
        SCENES.get(name)  # an unknown name raises, naming the scenes
        missing = [f for f in need if not (authored / name / f).is_file()]
        if missing:
            raise ValueError(f"{authored / name}: no {', '.join(missing)} (render it: python -m ml_core.authored "
                             f"build --out {authored} --only {name})")
    _check_settings(out, {"spp": spp, "authored": str(authored.absolute()), "target": target})

    finetunes: dict[str, dict[str, dict]] = {name: {} for name in names}
    for name in names:  # one at a time; nothing else runs here meanwhile
        if score_only:
            for m in minutes:
                models = out / run_name(name, m)
                if (models / "finetune.json").is_file():
                    finetunes[name][f"{m:g}"] = run_finetune(out / "shots" / f"{name}.blend", out, m, log, target)
            continue
        shot = make_shot(name, authored / name, out / "shots", spp, log)
        for m in minutes:
            finetunes[name][f"{m:g}"] = run_finetune(shot, out, m, log, target)

    base = base_methods()
    metrics, animations = {}, {}
    for name in names:
        methods = dict(base)
        for m in minutes:
            methods.update(finetuned_methods(m, finetunes[name].get(f"{m:g}", {}), base))
        metrics[name] = score_shot(authored / name, methods, score_spp)
        log(f"scored {name} ({len(methods)} methods at {', '.join(map(str, score_spp))} spp)")
        animation = score_animation(authored / name, methods, finetunes[name], minutes, spp)
        if animation:
            animations[name] = animation
            log(f"scored {name}'s animation ({animation['frames']} frames at {spp} spp)")
    result = assemble(names, minutes, spp, score_spp, metrics, finetunes, authored, out)
    result["animations"] = animations
    text = markdown(result)
    core.write_reports(out, "finetune", result, text, log=log)
    if plot is not None:
        written = plot_gain(result, plot)
        if written:
            log(f"wrote {written}")
    return result


def assemble(names: list[str], minutes, spp: int, score_spp, metrics: dict, finetunes: dict,
             authored: Path | str = "", out: Path | str = "") -> dict:
    """The result dict the report, the JSON and the plot read (:func:`summarize` added)."""
    methods = list(dict.fromkeys(m for by_method in metrics.values() for m in by_method))
    base = [m for m in methods if not m.startswith("fine-tuned ")]
    methods = base + [tuned(m) for m in minutes if tuned(m) in methods]
    return {"task": "finetune", "authored": str(authored), "out": str(out), "spp": spp,
            "score_spp": list(score_spp), "minutes": [float(m) for m in minutes], "shots": list(names),
            "methods": methods, "targets": {**TARGETS, "spp": spp, "minutes": max(minutes)},
            "finetunes": finetunes, "metrics": metrics,
            **summarize(metrics, finetunes, list(minutes), list(score_spp))}


# ----------------------------------------------------------------------------------------------------------
# Report and plot
# ----------------------------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    """A table per spp (shots, then the mean), the targets' verdict and the fine-tunes' failures and notes."""
    names, methods, minutes = result["shots"], result["methods"], result["minutes"]
    text = [f"Fine-tuned on the shot (`python -m export.finetune`, {', '.join(f'{m:g}' for m in minutes)} min "
            f"budgets, shots at {result['spp']} spp) against the shipped model and the peers, on the authored "
            f"still frames the fine-tunes never saw; tone-mapped PSNR (dB), all given colour + albedo + normal. "
            f"Fine-tuned: what the fine-tune's models folder gives a render that holds Blender's own denoised "
            f"result (Cycles' Denoise with Denoising Data): its correction of Blender's result when it kept one, "
            f"else its denoise_kpn; kpn fine-tuned: that denoise_kpn alone. Wall: the fine-tune's minutes, "
            f"start-up included; held-out: its own gain on its held-out views (its report: the correction's over "
            f"Blender's result, else denoise_kpn's over the shipped one).", ""]
    for s in result["score_spp"]:
        header = ["shot"] + [_short(m) for m in methods]
        for m in minutes:
            header += [f"{m:g} min - Blender OIDN", f"{m:g} min - shipped", f"{m:g} min wall (min)",
                       f"{m:g} min held-out gain"]
        rows = []
        for shot in names:
            by = result["metrics"].get(shot, {})
            row = [shot] + [_num(by.get(m, {}).get(str(s), {}).get("psnr")) for m in methods]
            for m in minutes:
                g = result["gain"][f"{m:g}"][str(s)]
                run = result["finetunes"].get(shot, {}).get(f"{m:g}", {})
                row += [_num(g["blender"]["shots"].get(shot), signed=True),
                        _num(g["shipped"]["shots"].get(shot), signed=True),
                        _minutes(run.get("wall_seconds")) if "report" in run else "-",
                        _num(_held_out(run), signed=True) if "report" in run else "-"]
            rows.append(row)
        mean = ["**mean**"] + [_num(result["mean"][m][str(s)]["psnr"]) + _count(result["mean"][m][str(s)]["shots"],
                                                                                len(names)) for m in methods]
        for m in minutes:
            g, f = result["gain"][f"{m:g}"][str(s)], result["finetune_means"][f"{m:g}"]
            mean += [_num(g["blender"]["mean"], signed=True) + _count(len(g["blender"]["shots"]), len(names)),
                     _num(g["shipped"]["mean"], signed=True) + _count(len(g["shipped"]["shots"]), len(names)),
                     _num(f["wall_minutes"], ".1f"), _num(f["held_out_gain_db"], signed=True)]
        rows.append(mean)
        text += [f"### {s} spp", "", core.markdown_table(header, rows)]
    text += _verdict(result) + animation_table(result)
    failed = [(shot, m, run["failed"]) for shot, by in result["finetunes"].items() for m, run in by.items()
              if "failed" in run]
    kept = [(shot, m) for shot, by in result["finetunes"].items() for m, run in by.items()
            if (run.get("report") or {}).get("kept") == "shipped"]
    if kept:
        text += ["Fine-tunes that did not help on their held-out views (the shipped model was kept, so the "
                 "fine-tuned column is the shipped model): " + ", ".join(f"{s} {m} min" for s, m in kept) + ".", ""]
    if failed:
        text += ["Failed fine-tunes (left out): " + "; ".join(f"{s} {m} min ({why})" for s, m, why in failed), ""]
    return "\n".join(text)


def animation_table(result: dict) -> list[str]:
    """The animated shots' frames (:func:`score_animation`): per method mean PSNR and temporal error against
    Blender OIDN's, and the fine-tuned temporal model minus Blender OIDN."""
    animations = result.get("animations") or {}
    if not animations:
        return []
    methods = list(dict.fromkeys(m for a in animations.values() for m in a if m != "frames"))
    header = ["animated shot"] + [f"{_short(m)}: PSNR / temporal x OIDN" for m in methods]
    rows = [[f"{shot} ({a['frames']} frames)"] + [
        f"{_num(a[m]['psnr'])} / {_num(a[m]['temporal_vs_oidn'])}x" if m in a else "-" for m in methods]
        for shot, a in animations.items()]
    lines = ["### The animated shots, every frame", "",
             f"Frames 1..F of each animated shot at {result['spp']} spp (other seeds than any view the fine-tune "
             "rendered), each against its reference: mean tone-mapped PSNR (dB) and the temporal error "
             "(`bench.temporal`) relative to Blender OIDN's per-frame output.", "", core.markdown_table(header, rows)]
    for m in methods:
        if m.endswith(", temporal") and m.startswith("fine-tuned "):
            gaps = [a[m]["psnr"] - a[PEER]["psnr"] for a in animations.values() if m in a and PEER in a]
            lines.append(f"- {m} - Blender OIDN: {_num(_mean(gaps), signed=True)} dB, mean over {len(gaps)} "
                         f"animated shot{'s' if len(gaps) != 1 else ''}.")
    return lines + [""]


def _verdict(result: dict) -> list[str]:
    """The issue's targets at the shot's spp and the largest budget, against the means over the shots."""
    t = result["targets"]
    budget, s = f"{t['minutes']:g}", str(t["spp"])
    if budget not in result["gain"] or s not in result["gain"][budget]:
        return [f"(targets: not measured at {t['spp']} spp)", ""]
    g = result["gain"][budget][s]
    parts = []
    for key, (_, label) in VERSUS.items():
        value = g[key]["mean"]
        met = "met" if np.isfinite(value) and value >= t[key] else "not met"
        parts.append(f"{label} {_num(value, signed=True)} dB (target +{t[key]:.1f}: {met})")
    return [f"Targets, {budget} min, {s} spp, mean over {len(g['shipped']['shots'])} shots: fine-tuned - "
            + "; - ".join(parts) + ".", ""]


def _short(method: str) -> str:
    return {PEER: "Blender OIDN (Accurate, High)", PYOIDN: "pyoidn (High)", SHIPPED: "shipped denoise_kpn"}.get(
        method, method)


def _count(n: int, total: int) -> str:
    return "" if n == total else f" ({n}/{total})"


def plot_gain(result: dict, path: Path) -> Path | None:
    """The gain of the fine-tuned model over the shipped one and over Blender's OIDN at the shot's spp against
    the minutes of fine-tuning: a thin line per shot, the mean thick, the issue's targets dashed; 0 minutes is
    the shipped model (no fine-tune). None (nothing written) when no fine-tune was scored at that spp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = str(result["spp"])
    minutes = sorted(result["minutes"])
    if not any(result["gain"][f"{m:g}"].get(s, {}).get("shipped", {}).get("shots") for m in minutes):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, key in zip(axes, ("shipped", "blender")):
        peer, label = VERSUS[key]

        def at_zero(shot):  # no fine-tune: the shipped model itself
            by = result["metrics"].get(shot, {})
            if key == "shipped" or SHIPPED not in by or peer not in by:
                return 0.0 if key == "shipped" else math.nan
            return by[SHIPPED][s]["psnr"] - by[peer][s]["psnr"]

        for shot in result["shots"]:
            ys = [at_zero(shot)] + [result["gain"][f"{m:g}"][s][key]["shots"].get(shot, math.nan) for m in minutes]
            ax.plot([0] + minutes, ys, "o-", lw=1, ms=3, alpha=0.6, label=shot)
        zero = _mean([at_zero(shot) for shot in result["shots"]])
        means = [zero] + [result["gain"][f"{m:g}"][s][key]["mean"] for m in minutes]
        ax.plot([0] + minutes, means, "o-", color="black", lw=2.5, ms=5, label="mean")
        ax.axhline(TARGETS[key], color="tab:red", ls="--", lw=1, label="issue 27's target")
        ax.annotate(f"target +{TARGETS[key]:.1f} dB", (0, TARGETS[key]), xytext=(2, 3),
                    textcoords="offset points", color="tab:red", fontsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"fine-tuned - {label}, {s} spp")
        ax.set_xlabel("fine-tune minutes (--minutes; 0: the shipped model)")
        ax.set_ylabel("PSNR gain (dB)")
        ax.set_xticks([0] + minutes)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("Fine-tuning denoise_kpn on the shot: authored stills, frames the fine-tune never saw")
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
def options(p) -> None:
    p.add_argument("--shots", nargs="+", metavar="NAME", default=None,
                   help="authored scenes to save as shots and fine-tune on (default: the authored stills "
                        "complete in --authored)")
    p.add_argument("--minutes", type=float, nargs="+", default=[15, 5],
                   help="fine-tune budgets, one fine-tune per shot each (default: 15 5)")
    p.add_argument("--authored", type=Path, default=core.authored_dir(), metavar="DIR",
                   help="the authored set's cache (default: %(default)s)")
    p.add_argument("--out", type=Path, default=paths.cache_dir() / "bench_finetune",
                   help="shots, fine-tuned models, logs and the report (default: %(default)s)")
    p.add_argument("--spp", type=int, default=4, help="the shot's samples per pixel (default: %(default)s)")
    p.add_argument("--score-spp", type=int, nargs="+", default=[1, 4, 16],
                   help="the authored still's noisy levels scored (default: 1 4 16)")
    p.add_argument("--plot", type=Path, default=None,
                   help="the gain-against-minutes plot (default: OUT/finetune_gain.png; the docs' figure is "
                        "docs/finetune_gain.png, written only when named)")
    p.add_argument("--target", choices=("denoised", "raw"), default="denoised",
                   help="the fine-tune's training targets (export.finetune --target; default: %(default)s)")
    p.add_argument("--score-only", action="store_true",
                   help="run no fine-tune: score those already in --out")


def main(args) -> str:
    return markdown(run(args.shots, tuple(args.minutes), args.authored, args.out, args.spp, tuple(args.score_spp),
                        args.plot or args.out / "finetune_gain.png", args.score_only, target=args.target))


BENCHMARKS.add("finetune", Benchmark("the denoiser fine-tuned on a shot (issue 27) vs Blender OIDN and the "
                                     "shipped model, at several budgets", main, options, __doc__))
