"""``python -m export.finetune``: the shot fine-tune end to end on a tiny real shot (Cycles renders, training,
export, onnxruntime evaluation), its resume after SIGTERM, its JSON progress, and its bad-input errors."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from addon.runtime.registry import DEFAULT_MODELS_DIR, Registry
from addon.runtime.tasks.denoise import TEMPORAL

REPO = Path(__file__).resolve().parents[2]

def finetune(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export.finetune", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, **kwargs)


@pytest.fixture(scope="module")
def shots(tmp_path_factory, make_shot) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shots")
    return {"good": make_shot(folder / "good.blend"),
            "eevee": make_shot(folder / "eevee.blend", engine="BLENDER_EEVEE"),
            "nocamera": make_shot(folder / "nocamera.blend", camera=False),
            "small": make_shot(folder / "small.blend", size=32)}


def one_error_line(result: subprocess.CompletedProcess, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("postpass finetune: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_bad_shots_and_arguments_exit_2_with_one_line_and_write_nothing(shots, tmp_path):
    out = tmp_path / "models"
    work = ["--work", tmp_path / "work"]
    cases = [
        ((tmp_path / "missing.blend", "-o", out), ("missing.blend", "no such file")),
        ((REPO / "README.md", "-o", out), ("README.md", "not a .blend")),
        ((shots["eevee"], "-o", out), ("eevee.blend", "not Cycles")),
        ((shots["nocamera"], "-o", out), ("nocamera.blend", "no camera")),
        ((shots["small"], "-o", out), ("small.blend", "32x32")),
        ((shots["good"], "-o", out, "--minutes", "0"), ("--minutes", "positive")),
    ]
    fake = tmp_path / "fake.blend"
    fake.write_bytes(b"not a blender file at all")
    cases.append(((fake, "-o", out), ("fake.blend", "not a Blender file")))
    broken = tmp_path / "broken.blend"
    broken.write_bytes(shots["good"].read_bytes()[:2000])  # a truncated real file: the header is right
    cases.append(((broken, "-o", out), ("broken.blend", "does not open")))
    for args, words in cases:
        one_error_line(finetune(*args, *work), *words)
    assert not out.exists()
    foreign = tmp_path / "studio_models"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("a studio's file")
    one_error_line(finetune(shots["good"], "-o", foreign, *work), "studio_models", "not a fine-tune")
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


def test_finetune_resumes_after_sigterm_and_writes_a_complete_models_folder(shots, tmp_path):
    out, work = tmp_path / "shot_models", tmp_path / "work"
    command = [sys.executable, "-m", "export.finetune", str(shots["good"]), "-o", str(out), "--minutes", "0.75",
               "--work", str(work), "--general", "none", "--json"]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    plan = work / "plan.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:  # stop it once a few views are rendered
        if plan.is_file() and json.loads(plan.read_text())["views"] >= 3:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    events = [json.loads(line) for line in stdout.splitlines()]  # every stdout line is JSON
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 130
    assert not out.exists()
    first_views = json.loads(plan.read_text())["views"]
    view0 = work / "views" / "0000" / "reference.exr"
    stamp = view0.stat().st_mtime_ns
    spent = json.loads((work / "state.json").read_text())["spent"]
    assert spent > 0

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["stage"] for e in progress} >= {"render", "train", "export", "evaluate"}
    assert all(0 <= e["fraction"] <= 1 and e["remaining_s"] >= 0 for e in progress)
    assert events[-1]["event"] == "done"
    report = events[-1]["report"]
    assert view0.stat().st_mtime_ns == stamp  # the interrupted run's renders were kept
    assert report["views"] >= first_views >= 3
    assert report["pairs"] == {"train": (report["views"] - 2) * 2, "held_out": 4}
    assert report["seconds"]["total"] >= spent  # the first run's time counts against the budget
    assert report["seconds"]["total"] <= 0.75 * 60 * 1.5  # tiny budgets overshoot by start-up; big ones by <10%
    assert json.loads((out / "finetune.json").read_text()) == report

    # a complete models folder: every shipped model of the other tasks, the denoiser the report names
    registry = Registry(out)
    shipped = set(Registry(DEFAULT_MODELS_DIR).entries)
    assert all(registry.verify(name) is None for name in registry.entries)
    held = work / "views" / "0000" / "noisy0_spp0004.exr"
    choice = registry.choice("denoise", {"color", "albedo", "normal"})
    assert choice.entry.name == report["model"]
    residual = {"denoise_oidn_residual_shot"} if report["residual_model"] else set()
    # with a kept correction, the shipped average of Blender's frames gives way to the same average of the
    # shot-corrected frames
    assert report["residual_temporal_model"] == ("denoise_oidn_residual_shot_temporal" if residual else None)
    oidn_temporal = {"denoise_oidn_residual_shot_temporal"} if residual else {"denoise_oidn_temporal"}
    shipped = shipped - {"denoise_oidn_temporal"} | oidn_temporal
    if report["kept"] == "finetuned":
        assert report["held_out"]["gain_db"] >= 0.05 and report["model"] == "denoise_kpn_shot"
        assert set(registry.entries) == shipped - {"denoise_kpn", "denoise_kpn_temporal"} | {
            "denoise_kpn_shot", "denoise_kpn_shot_temporal"} | residual
        # animations run the fine-tuned network inside the shipped pooling of frames f-1, f+1
        assert report["temporal_model"] == "denoise_kpn_shot_temporal"
        window = registry.choice("denoise", {"color", "albedo", "normal", "vector"}, files=True, exact=False,
                                 frame_source=TEMPORAL.window)
        assert window.entry.name == "denoise_kpn_shot_temporal"
        from ml_core.shipped import model_from_onnx

        shot_net, _ = model_from_onnx(registry.get("denoise_kpn_shot").path)
        pooled, _ = model_from_onnx(registry.get("denoise_kpn_shot_temporal").path)
        shipped_pooled, _ = model_from_onnx(Registry(DEFAULT_MODELS_DIR).get("denoise_kpn_temporal").path)
        for key, value in pooled.state_dict().items():
            source = shot_net.state_dict().get(key, shipped_pooled.state_dict()[key])
            assert torch.equal(value, source), key
        record = model_record(registry, "denoise_kpn_shot")
        assert record["shot_sha256"] == report["shot_sha256"] and record["base_model"] == "denoise_kpn"
        assert record["held_out"] == report["held_out"] and record["minutes"] == 0.75
    else:
        assert report["held_out"]["gain_db"] < 0.05 and report["model"] == "denoise_kpn"
        assert set(registry.entries) == shipped | residual and report["temporal_model"] == "denoise_kpn_temporal"
    # the correction of Blender's denoised render (the views are rendered as the artist's render is, with
    # Blender's result beside the raw render): kept when it beats Blender's result on the held-out views
    held_out = report["held_out"]
    assert {"blender_oidn_psnr", "residual_psnr", "residual_gain_db", "residual_over_denoiser_db"} <= set(held_out)
    assert report["seconds_trained"]["residual"] > 0
    otherwise = held_out["finetuned_psnr" if report["kept"] == "finetuned" else "base_psnr"]
    assert abs(held_out["residual_over_denoiser_db"] - (held_out["residual_psnr"] - otherwise)) < 0.002
    if residual:  # it beats Blender's result, or the denoiser such a render would get otherwise
        assert max(held_out["residual_gain_db"], held_out["residual_over_denoiser_db"]) >= 0.05
        record = model_record(registry, "denoise_oidn_residual_shot")
        assert record["base_model"] == "Blender OIDN (Accurate, High)" and record["held_out"] == held_out
        given = {"color", "albedo", "normal", "blender_denoised"}
        assert registry.choice("denoise", given, files=True, exact=False).entry.name == "denoise_oidn_residual_shot"
        # animations rendered so: the correction on frames f-1, f, f+1 inside the shipped average's gains
        window = registry.choice("denoise", given | {"vector", "prev_color", "prev_albedo", "prev_normal",
                                                     "prev_blender_denoised"}, files=True, exact=False,
                                 frame_source=TEMPORAL.window)
        assert window.entry.name == "denoise_oidn_residual_shot_temporal"
        from ml_core.checkpoint import load_checkpoint
        from ml_core.shipped import model_from_onnx

        # what was exported (its ONNX checked against it by the export's parity): the kept correction's weights
        # and the shipped average's gains
        correction, _ = load_checkpoint(work / "run_residual" / "last.pt")
        both, _ = load_checkpoint(work / "run_residual" / "residual_temporal.pt")
        pool, _ = model_from_onnx(Registry(DEFAULT_MODELS_DIR).get("denoise_oidn_temporal").path)
        assert all(torch.equal(v, correction.state_dict()[k]) for k, v in both.correction.state_dict().items())
        assert all(torch.equal(v, pool.state_dict()[k]) for k, v in both.pool.state_dict().items())
    else:
        assert max(held_out["residual_gain_db"], held_out["residual_over_denoiser_db"]) < 0.05
        assert report["residual_model"] is None

    # the farm command picks it from the folder
    result = subprocess.run([sys.executable, "-m", "addon.cli", "denoise", str(held), "-o", str(tmp_path / "d.exr"),
                             "--models-dir", str(out)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # (the held-out view is a render Blender denoised: the correction reads it where it was kept)
    assert f"denoise: {report['residual_model'] or report['model']}" in result.stdout + result.stderr


def model_record(registry: Registry, name: str) -> dict:
    """The fine-tune's record in model ``name``'s ONNX metadata."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(registry.get(name).path)).metadata_props}
    return json.loads(meta["finetune"])


def test_a_kept_fine_tune_also_runs_inside_the_shipped_temporal_pooling(tmp_path):
    """``export_temporal``: the fine-tuned per-frame weights go into the shipped temporal model's architecture
    (its pooling parameters kept) as ``denoise_kpn_shot_temporal``, a parity-checked model of windows of
    frames; a per-frame network of another size is refused (False, nothing written)."""
    from export.finetune import SHOT_TEMPORAL_MODEL, export_temporal
    from ml_core.checkpoint import save_checkpoint
    from ml_core.models import build
    from ml_core.shipped import model_from_onnx

    shipped = Registry(DEFAULT_MODELS_DIR)
    net, meta = model_from_onnx(shipped.get("denoise_kpn").path)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01)  # "fine-tuned"
    run = tmp_path / "run"
    training = {"command": "test", "seed": 0, "dataset_fingerprint": "none", "metrics": {}}
    save_checkpoint(run / "last.pt", net, name="denoise_kpn_shot", version="0.9.0-shot", training=training)
    shot = type("Shot", (), {"path": Path("/shots/sh010.blend"), "sha256": "ab" * 32})()
    staging = tmp_path / "staging"
    staging.mkdir()
    assert export_temporal(run / "last.pt", staging, shot)
    registry = Registry(staging)
    assert registry.verify(SHOT_TEMPORAL_MODEL) is None
    pooled, _ = model_from_onnx(registry.get(SHOT_TEMPORAL_MODEL).path)
    base, _ = model_from_onnx(shipped.get("denoise_kpn_temporal").path)
    for key, value in pooled.state_dict().items():
        assert torch.equal(value, net.state_dict()[key] if key in net.state_dict() else base.state_dict()[key]), key
    assert registry.get(SHOT_TEMPORAL_MODEL).contract.input("prev_color").warp == ("vector", "prev")

    small = build("denoise_kpn", seed=0, **{**net.params, "widths": [8, 12, 16], "scales": 3})
    save_checkpoint(run / "last.pt", small, name="denoise_kpn_shot", version="0.0.1", training=training)
    other = tmp_path / "other"
    other.mkdir()
    assert not export_temporal(run / "last.pt", other, shot) and not any(other.iterdir())


def test_an_interrupt_that_lands_inside_a_module_init_still_exits_130(shots, tmp_path, monkeypatch, capsys):
    """The stop request is a KeyboardInterrupt raised wherever Python is; inside a C extension's module init (the
    training data loader's first ``import OpenEXR``) it comes out as ``ImportError: initialization failed`` with
    the interrupt as its cause. That is still a stop (130, resumable), not a failure (1); other errors stay 1."""
    import export.finetune as command

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        argv = [str(shots["good"]), "-o", str(tmp_path / "out"), "--minutes", "1"]  # no --json: it moves fd 1
        monkeypatch.setattr(command, "finetune", interrupted_import)
        assert command.main(argv) == 130
        assert capsys.readouterr().err == ("postpass finetune: error: interrupted; run the same command again to "
                                           "resume\n")

        def broken_import(*args, **kwargs):
            raise ImportError("initialization failed")
        monkeypatch.setattr(command, "finetune", broken_import)
        with pytest.raises(ImportError):
            command.main(argv)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
