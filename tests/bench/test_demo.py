"""The README's demo runs end to end on a real Cycles render (small here, for speed)."""
from __future__ import annotations

import json
import shutil

import cv2

from bench import demo


def with_shipped_temporal(models_dir, folder):
    """``folder``: the models of ``models_dir`` and the shipped temporal denoisers (windows of frames 1-3 and 0-4)."""
    from addon.runtime.registry import DEFAULT_MODELS_DIR, REGISTRY_FILE

    folder.mkdir()
    merged = {}
    for source, names in ((models_dir, None), (DEFAULT_MODELS_DIR, ("denoise_kpn_temporal", "denoise_oidn_temporal"))):
        entries = json.loads((source / REGISTRY_FILE).read_text())["models"]
        for name, entry in entries.items():
            if names is None or name in names:
                shutil.copy(source / entry["file"], folder / entry["file"])
                merged[name] = entry
    (folder / REGISTRY_FILE).write_text(json.dumps({"format": 1, "models": merged}, indent=1))
    return folder


def test_demo_writes_results_and_comparison(tmp_path, models_dir, tmp_path_factory):
    """With a registry of (untrained) models and the shipped temporal ones the demo runs each denoiser through the
    file API beside Blender's, and each x2 up-res model on the half-size render beside bicubic."""
    models_dir = with_shipped_temporal(models_dir, tmp_path_factory.mktemp("demo") / "models")
    summary = demo.run(tmp_path, size=64, spp=2, reference_spp=32, models_dir=models_dir, finetune_minutes=0.5,
                       log=lambda *_: None)
    for name in ("noisy.exr", "blender_oidn.exr", "reference.exr", "lowres_x2.exr", "comparison.png", "summary.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "summary.json").read_text())["scene_seed"] == demo.DEMO_SEED
    metrics = summary["metrics"]
    assert metrics["Blender OIDN"]["psnr"] > metrics["noisy 2 spp"]["psnr"] + 3
    # the shipped denoiser fine-tuned on the demo scene saved as a shot, from its own models folder
    shot = [k for k in metrics if k.endswith("min on this shot)")]
    report = json.loads((tmp_path / "shot_models" / "finetune.json").read_text())
    assert report["spp"] == 2 and (tmp_path / "postpass_shot.exr").is_file()
    assert shot[0] == f"Postpass {report['model']} (0.5 min on this shot)"
    assert metrics[shot[0]]["psnr"] > metrics["noisy 2 spp"]["psnr"] + 3
    # its correction of Blender's result, when kept, on the render Blender denoised (beside Blender's result)
    residual = report["residual_model"]
    # and, with it, that correction on frames 0-4 inside the average of Blender's frames (the shot's animations)
    averaged = report["residual_temporal_model"]
    assert bool(averaged) == bool(residual)
    assert shot[1:] == ([f"Postpass {residual} (Blender OIDN + 0.5 min on this shot)",
                         f"Postpass {averaged} (frames 0-4, Blender OIDN + 0.5 min on this shot)"] if residual else [])
    assert (tmp_path / "postpass_shot_residual.exr").is_file() == bool(residual)
    assert (tmp_path / "postpass_shot_residual_temporal.exr").is_file() == bool(residual)
    if residual:
        assert metrics[shot[1]]["psnr"] > metrics["Blender OIDN"]["psnr"] - 1.0
    denoisers = [k for k in metrics if k.startswith("Postpass denoise") and k not in shot]
    upressers = [k for k in metrics if k.startswith("Postpass upres")]
    assert denoisers, "every denoiser in the registry shows in the demo"
    # each temporal one with the frames of its window around the still (frame 2)
    assert {"Postpass denoise_kpn_temporal (frames 1-3)", "Postpass denoise_oidn_temporal (frames 0-4)"} <= set(denoisers)
    assert {"Postpass upres_x2", "Postpass upres_x2_guided"} <= set(upressers), "every x2 up-res model shows"
    assert "bicubic x2" in metrics
    assert all((tmp_path / f"postpass_{k.split()[1]}.exr").is_file() for k in denoisers)
    assert (tmp_path / "postpass_upres_x2_guided.exr").is_file()  # the guided model ran through the file path
    assert (tmp_path / "postpass_upres_x2.exr").is_file()  # so did the linear (HDR) image-only one
    # the 8-bit image denoiser on the noisy render saved as an 8-bit PNG, 8-bit in and out
    assert "Postpass denoise_kpn_ldr (8-bit PNG)" in metrics
    assert cv2.imread(str(tmp_path / "postpass_denoise_kpn_ldr.png"), cv2.IMREAD_UNCHANGED).dtype == "uint8"
    # every colorizer from 10 hints beside the grey input; every inbetweener beside the frame blend
    assert {"grey input", "postpass colorize (10 hints)"} <= set(metrics)
    assert {"frame blend", "Postpass inbetween", "Postpass inbetween_vectors", "Postpass inbetween_guided"} <= set(metrics)
    assert all((tmp_path / f"frame_{f:04d}.exr").is_file() for f in (1, 2, 3))
    assert (tmp_path / "postpass_inbetween_vectors.exr").is_file()
    # frame 2's guide render, which the guided inbetweener read beside frames 1 and 3
    from addon.guide_render import is_guide_file
    assert is_guide_file(tmp_path / "guides.0002.exr") and (tmp_path / "postpass_inbetween_guided.exr").is_file()
    grid = cv2.imread(str(tmp_path / "comparison.png"))
    # the denoise row: noisy, Blender OIDN, every denoiser, the shot's models, the reference
    assert grid.shape[1] == 64 * max(3 + len(denoisers) + len(shot), 2 + len(upressers)) and grid.std() > 5
