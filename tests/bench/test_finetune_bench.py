"""The fine-tune benchmark (``python -m bench finetune``, issue 27) without a real fine-tune: the scores on a real
render (a fixed crop of tests/data as an authored-like scene; a models folder where the shipped ``denoise_kpn``
is also published as ``denoise_kpn_shot``, the name a fine-tune's report gives), the run's resume and failure
handling with a stand-in fine-tune command, and the report's tables, verdict and plot."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import finetune as bf
from bench import main as bench_main

REPO = Path(__file__).resolve().parents[2]
CROP = REPO / "tests" / "data" / "denoise" / "2000003_spp0004.exr"
SHOT = "studio_product"  # a registered authored scene: the benchmark checks shot names against the set
SPP = (1, 4, 16)
PEER = bf.PEER


def authored_like(root: Path, name: str = SHOT) -> Path:
    """An authored cache of one complete still: the crop's noisy render as every noisy level, its reference as
    reference.exr, scene.json (its size) and the manifest."""
    from addon.runtime.exr import read_exr, write_exr

    crop = read_exr(CROP)
    folder = root / name
    folder.mkdir(parents=True)
    passes = {p: crop.get(p) for p in ("Combined", "Denoising Albedo", "Denoising Normal")}
    for s in SPP:
        write_exr(folder / f"noisy_spp{s:04d}.exr", passes)
    write_exr(folder / "reference.exr", {"Combined": crop.get("Reference")})
    (folder / "scene.json").write_text(json.dumps({"name": name, "family": "studio", "size": [64, 64]}))
    (folder / "manifest.json").write_text("{}")
    return root


def shot_models(folder: Path) -> Path:
    """A complete models folder as a fine-tune writes it: the shipped models, and ``denoise_kpn``'s weights
    published again as ``denoise_kpn_shot``."""
    from addon.runtime.registry import DEFAULT_MODELS_DIR, Registry

    shutil.copytree(DEFAULT_MODELS_DIR, folder)
    registry = Registry(folder)
    raw = json.loads(registry.path.read_text())["models"]["denoise_kpn"]
    shutil.copy(folder / raw["file"], folder / "denoise_kpn_shot.onnx")
    registry.publish("denoise_kpn_shot", "denoise_kpn_shot.onnx", raw["sha256"],
                     {**raw["contract"], "version": raw["version"], "precision": raw["precision"]})
    return folder


def report(models: Path, minutes: float, gain: float = 0.7, kept: str = "finetuned") -> dict:
    return {"shot": f"{SHOT}.blend", "base_model": "denoise_kpn", "minutes": minutes,
            "seconds": {"render": 60.0, "train": 180.0, "export": 5.0, "evaluate": 10.0, "total": 255.0},
            "spp": 4, "reference_spp": 256, "pairs": {"train": 12, "held_out": 2},
            "held_out": {"base_psnr": 30.0, "finetuned_psnr": 30.0 + gain, "gain_db": gain}, "kept": kept,
            "model": "denoise_kpn_shot" if kept == "finetuned" else "denoise_kpn", "models_dir": str(models)}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The benchmark's scoring, once, on the real crop: every base method and the published fine-tune."""
    root = tmp_path_factory.mktemp("finetune_bench")
    authored = authored_like(root / "authored")
    models = shot_models(root / "models")
    methods = dict(bf.base_methods())
    methods[bf.tuned(15)] = bf.tuned_method(models, "denoise_kpn_shot")
    return root, authored, models, bf.score_shot(authored / SHOT, methods, SPP)


def test_the_scores_of_every_method_on_a_real_render(scored):
    _, _, _, metrics = scored
    expected = [bf.NOISY, PEER] + ([bf.PYOIDN] if bf.peers.pyoidn_available() else []) + [bf.SHIPPED, bf.tuned(15)]
    assert list(metrics) == expected
    for method, by_spp in metrics.items():
        assert list(by_spp) == ["1", "4", "16"]
        for m in by_spp.values():
            assert set(bf.KEYS) <= set(m) and np.isfinite([m[k] for k in bf.KEYS]).all() and m["seconds"] >= 0
    for denoiser in (PEER, bf.SHIPPED, bf.tuned(15)):
        assert metrics[denoiser]["4"]["psnr"] > metrics[bf.NOISY]["4"]["psnr"] + 3, denoiser
    # the same weights under another name, loaded from the fine-tune's folder: the same result
    for s in ("1", "4", "16"):
        assert math.isclose(metrics[bf.tuned(15)][s]["psnr"], metrics[bf.SHIPPED][s]["psnr"], abs_tol=1e-6)


def test_a_scored_run_resumes_finished_fine_tunes_and_reports_them(scored, tmp_path):
    _, authored, models, _ = scored
    out = tmp_path / "out"
    shutil.copytree(models, out / bf.run_name(SHOT, 15))  # a fine-tune that finished in an earlier run
    (out / bf.run_name(SHOT, 15) / "finetune.json").write_text(json.dumps(report(models, 15)))
    (out / "runs").mkdir(parents=True)
    (out / "runs" / f"{bf.run_name(SHOT, 15)}.json").write_text(json.dumps({"wall_seconds": 900.0}))
    plot = tmp_path / "gain.png"
    lines = []
    result = bf.run([SHOT], (15, 5), authored, out, 4, SPP, plot, score_only=True, log=lines.append)
    run = result["finetunes"][SHOT]
    assert run["15"]["resumed"] and run["15"]["model"] == "denoise_kpn_shot" and run["15"]["wall_seconds"] == 900.0
    assert "5" not in run  # never run: --score-only runs no fine-tune
    assert result["methods"][-1] == bf.tuned(15) and bf.tuned(5) not in result["methods"]
    gain = result["gain"]["15"]["4"]
    assert gain["shipped"]["shots"][SHOT] == pytest.approx(0.0, abs=1e-6)
    assert gain["blender"]["mean"] == pytest.approx(
        result["metrics"][SHOT][bf.SHIPPED]["4"]["psnr"] - result["metrics"][SHOT][PEER]["4"]["psnr"])
    never = result["gain"]["5"]["4"]["shipped"]
    assert never["shots"] == {} and math.isnan(never["mean"])
    saved = json.loads((out / "finetune.json").read_text())  # NaN saved as null
    assert saved["gain"]["5"]["4"]["shipped"]["mean"] is None and saved["shots"] == [SHOT]
    text = (out / "finetune.md").read_text()
    assert "### 4 spp" in text and f"| {SHOT} |" in text and "| **mean** |" in text
    assert "15 min - Blender OIDN" in text and "| 15.0 | +0.70 |" in text  # wall minutes, held-out gain
    assert "Targets, 15 min, 4 spp" in text and "(target +1.0: not met)" in text
    assert plot.stat().st_size > 10000
    # other settings into the same folder are refused
    with pytest.raises(ValueError, match="other settings"):
        bf.run([SHOT], (15,), authored, out, 8, SPP, None, score_only=True, log=lines.append)


def test_an_animated_shot_is_scored_on_every_frame_with_the_fine_tuned_temporal_model(temporal_sequences, tmp_path):
    """Issue 27 with 26: an animated shot's frames (a real 3-frame Cycles sequence in the authored layout) through
    Blender's OIDN, the shipped per-frame and temporal models and a fine-tune's two models (here the shipped
    weights published again under the fine-tune's names: the same scores); a still has no animation."""
    from addon.runtime.registry import DEFAULT_MODELS_DIR, Registry
    from ml_core import data, render

    source = data.complete_scenes(temporal_sequences, "train")[0]
    folder = tmp_path / "authored" / "anim_room_lamp"
    folder.mkdir(parents=True)
    for f in (1, 2, 3):
        shutil.copy(source / render.sequence_name(f, 4), folder / f"frame_{f:04d}_spp0004.exr")
        shutil.copy(source / render.sequence_name(f), folder / f"frame_{f:04d}_reference.exr")
    models = shot_models(tmp_path / "models")
    registry = Registry(models)
    raw = json.loads(registry.path.read_text())["models"]["denoise_kpn_temporal"]
    shutil.copy(models / raw["file"], models / "denoise_kpn_shot_temporal.onnx")
    registry.publish("denoise_kpn_shot_temporal", "denoise_kpn_shot_temporal.onnx", raw["sha256"],
                     {**raw["contract"], "version": raw["version"], "precision": raw["precision"]})
    # and the kept correction's average of Blender's frames (here the shipped average under its name)
    shipped = json.loads((DEFAULT_MODELS_DIR / "registry.json").read_text())["models"]["denoise_oidn_temporal"]
    shutil.copy(DEFAULT_MODELS_DIR / shipped["file"], models / "denoise_oidn_residual_shot_temporal.onnx")
    registry.publish("denoise_oidn_residual_shot_temporal", "denoise_oidn_residual_shot_temporal.onnx",
                     shipped["sha256"], {**shipped["contract"], "version": shipped["version"],
                                         "precision": shipped["precision"]})
    run = {"15": {"models_dir": str(models), "model": "denoise_kpn_shot",
                  "report": {"temporal_model": "denoise_kpn_shot_temporal",
                             "residual_temporal_model": "denoise_oidn_residual_shot_temporal"}}}
    methods = {**bf.base_methods([PEER, bf.SHIPPED]), bf.tuned(15): bf.tuned_method(models, "denoise_kpn_shot")}
    result = bf.score_animation(folder, methods, run, (15,), 4)
    temporal, tuned = "postpass denoise_kpn_temporal", bf.tuned(15)
    average, tuned_average = "postpass denoise_oidn_temporal", f"{tuned}, temporal (Blender's frames)"
    assert result["frames"] == 3
    assert [m for m in result if m != "frames"] == [PEER, bf.SHIPPED, temporal, average, tuned,
                                                     f"{tuned}, temporal", tuned_average]
    for m in (PEER, bf.SHIPPED, temporal, average):
        assert np.isfinite([result[m][k] for k in ("psnr", "ssim", "flip", "temporal")]).all(), m
    assert result[PEER]["temporal_vs_oidn"] == 1.0
    assert math.isclose(result[tuned]["psnr"], result[bf.SHIPPED]["psnr"], abs_tol=1e-6)
    assert math.isclose(result[f"{tuned}, temporal"]["psnr"], result[temporal]["psnr"], abs_tol=1e-6)
    assert result[temporal]["psnr"] != result[bf.SHIPPED]["psnr"]  # the neighbours were used
    # the averages of Blender's frames get the peer's frames: the same model under two names, the same scores,
    # and not Blender's frames themselves
    assert math.isclose(result[tuned_average]["psnr"], result[average]["psnr"], abs_tol=1e-6)
    assert result[average]["psnr"] != result[PEER]["psnr"]
    assert bf.score_animation(authored_like(tmp_path / "stills") / SHOT, methods, run, (15,), 4) is None
    text = "\n".join(bf.animation_table({"spp": 4, "animations": {"anim_room_lamp": result}}))
    assert "| anim_room_lamp (3 frames) |" in text and f"- {tuned}, temporal - Blender OIDN:" in text


#: a stand-in for ``python -m export.finetune`` (its command line): 15 minutes writes a models folder and its
#: report, 5 minutes fails as a fine-tune does (exit 1, one error line on stderr), 1 minute with an error event
STAND_IN = """
import json, shutil, sys
from pathlib import Path
args = sys.argv[1:]
shot, out, work = Path(args[0]), Path(args[args.index("-o") + 1]), Path(args[args.index("--work") + 1])
minutes = float(args[args.index("--minutes") + 1])
assert shot.is_file() and "--json" in args and not out.exists() and not work.exists()
if minutes == 5:
    print("postpass-finetune: error: nothing to learn", file=sys.stderr)
    sys.exit(1)
if minutes == 1:  # --json: the reason as an error event on stdout
    print(json.dumps({"event": "progress", "stage": "render", "fraction": 0.1}))
    print(json.dumps({"event": "error", "message": "the shot has no camera", "exit_code": 2}))
    sys.exit(2)
shutil.copytree(MODELS, out)
report = REPORT
report["minutes"] = minutes
(out / "finetune.json").write_text(json.dumps(report))
print(json.dumps(report))
"""


def test_fine_tunes_run_one_at_a_time_are_timed_and_a_failed_one_is_left_out(scored, tmp_path, monkeypatch):
    _, authored, models, _ = scored
    out = tmp_path / "out"
    # the shot itself, as a real child process saves it (at the set folder's size, 64 px)
    shot = bf.make_shot(SHOT, authored / SHOT, out / "shots", 4, log=lambda line: None)
    assert shot == out / "shots" / f"{SHOT}.blend" and shot.stat().st_size > 10000
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN.replace("MODELS", repr(str(models))).replace("REPORT", repr(report(models, 0))))
    monkeypatch.setattr(bf, "FINETUNE", (sys.executable, str(script)))
    stale = out / bf.run_name(SHOT, 15)
    (stale / "leftover").mkdir(parents=True)  # an interrupted earlier try: cleared before the timed run
    lines = []
    done = bf.run_finetune(shot, out, 15, log=lines.append)
    assert not done["resumed"] and done["model"] == "denoise_kpn_shot" and done["wall_seconds"] > 0
    assert not (stale / "leftover").exists() and (stale / "finetune.json").is_file()
    record = json.loads((out / "runs" / f"{bf.run_name(SHOT, 15)}.json").read_text())
    assert record["wall_seconds"] == done["wall_seconds"] and "--json" in record["command"]
    failed = bf.run_finetune(shot, out, 5, log=lines.append)
    assert "exit 1: postpass-finetune: error: nothing to learn" == failed["failed"]
    assert bf.run_finetune(shot, out, 1, log=lines.append)["failed"] == "exit 2: the shot has no camera"
    again = bf.run_finetune(shot, out, 15, log=lines.append)  # done: not run again
    assert again["resumed"] and again["wall_seconds"] == done["wall_seconds"]
    result = bf.assemble([SHOT], (15, 5), 4, (4,), {SHOT: {bf.SHIPPED: {"4": _m(30.0)}, PEER: {"4": _m(30.5)},
                                                           bf.tuned(15): {"4": _m(31.2)}}},
                         {SHOT: {"15": done, "5": failed}})
    text = bf.markdown(result)
    assert "Failed fine-tunes (left out): studio_product 5 min (exit 1" in text
    assert "| +0.70 | +1.20 |" in text and "(target +0.5: met)" in text and "(target +1.0: met)" in text


def _m(psnr: float) -> dict:
    return {"psnr": psnr, "ssim": 0.9, "relmse": 0.01, "flip": 0.1, "seconds": 0.1}


def test_the_report_and_plot_of_several_shots_and_budgets(tmp_path):
    shots = ["a", "b"]
    metrics = {shot: {bf.NOISY: {"4": _m(20.0)}, PEER: {"4": _m(30.0 + i)}, bf.SHIPPED: {"4": _m(29.5 + i)},
                      bf.tuned(5): {"4": _m(30.0 + i)}, bf.tuned(15): {"4": _m(31.0 + i)}}
               for i, shot in enumerate(shots)}
    runs = {shot: {"15": {"report": {"held_out": {"gain_db": 1.5}, "kept": "finetuned"}, "wall_seconds": 930.0},
                   "5": {"report": {"held_out": {"gain_db": 0.4}, "kept": "shipped"}, "wall_seconds": 330.0}}
            for shot in shots}
    metrics["b"].pop(bf.tuned(5))  # one shot without its 5-minute model: means over the shots that have it
    result = bf.assemble(shots, (15, 5), 4, (4,), metrics, runs)
    assert result["methods"] == [bf.NOISY, PEER, bf.SHIPPED, bf.tuned(15), bf.tuned(5)]
    assert result["gain"]["15"]["4"]["shipped"]["mean"] == pytest.approx(1.5)
    assert result["gain"]["15"]["4"]["blender"]["mean"] == pytest.approx(1.0)
    assert result["gain"]["5"]["4"]["shipped"] == {"shots": {"a": pytest.approx(0.5)}, "mean": pytest.approx(0.5)}
    assert result["finetune_means"]["15"]["wall_minutes"] == pytest.approx(15.5)
    assert result["finetune_means"]["5"]["kept_shipped"] == 2
    text = bf.markdown(result)
    header = text.split("### 4 spp")[1].strip().splitlines()[0]
    assert header.startswith("| shot | noisy | Blender OIDN (Accurate, High) | shipped denoise_kpn | fine-tuned 15 min")
    assert "| 15 min - Blender OIDN | 15 min - shipped | 15 min wall (min) | 15 min held-out gain |" in header
    mean_row = next(line for line in text.splitlines() if line.startswith("| **mean** |"))
    assert "30.00 (1/2)" in mean_row and "+1.00 | +1.50 | 15.5 | +1.50" in mean_row
    assert "shipped model was kept" in text and "a 5 min, b 5 min" in text
    assert "+1.00 dB (target +0.5: met)" in text and "+1.50 dB (target +1.0: met)" in text
    assert bf.plot_gain(result, tmp_path / "gain.png").stat().st_size > 10000
    assert bf.plot_gain({**result, "spp": 16}, tmp_path / "none.png") is None  # nothing scored at 16 spp


def test_the_command_refuses_bad_input_with_exit_2(tmp_path, capsys):
    authored = authored_like(tmp_path / "authored")
    assert bench_main(["finetune", "--authored", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "no authored set" in capsys.readouterr().err
    assert bench_main(["finetune", "--authored", str(authored), "--shots", "no_such_scene",
                       "--out", str(tmp_path / "o")]) == 2
    assert "no_such_scene" in capsys.readouterr().err
    assert bench_main(["finetune", "--authored", str(authored), "--shots", "dof_row",
                       "--out", str(tmp_path / "o")]) == 2
    assert "no reference.exr" in capsys.readouterr().err
    assert bench_main(["finetune", "--authored", str(authored), "--minutes", "0", "--out", str(tmp_path / "o")]) == 2
    assert bf.default_shots(authored) == [SHOT]
