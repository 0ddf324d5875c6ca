"""The denoise benchmark (``python -m bench denoise``) end to end on a real tiny Cycles render: the
shipped denoiser beside the noisy input, OpenCV and Blender's own OIDN (through its compositor), one table."""
from __future__ import annotations

import json

import numpy as np

from bench import main as bench_main


def test_denoise_benchmark_scores_every_method_per_scene_and_writes_its_reports(tiny_dataset, tmp_path, capsys):
    methods = ["noisy", "opencv-nlm", "blender-oidn (fast, fast)", "postpass denoise_kpn"]
    code = bench_main(["denoise", "--data", str(tiny_dataset), "--split", "test", "--spp", "1", "4", "--no-hd",
                       "--methods", *methods, "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "denoise.json").read_text())
    assert set(result["metrics"]) == set(methods) and result["scenes"] == 1
    for name in methods:
        for spp in ("1", "4"):
            m = result["metrics"][name][spp]
            assert np.isfinite([m["psnr"], m["ssim"], m["relmse"]]).all()
            # per scene, in scene order: the mean of one scene is that scene
            assert result["per_scene_psnr"][name][spp] == [m["psnr"]]
            assert result["per_scene_relmse"][name][spp] == [m["relmse"]]
    for denoiser in ("blender-oidn (fast, fast)", "postpass denoise_kpn"):
        assert result["metrics"][denoiser]["4"]["psnr"] > result["metrics"]["noisy"]["4"]["psnr"] + 3
    assert "| postpass denoise_kpn |" in (tmp_path / "denoise.md").read_text()
    assert "| noisy |" in capsys.readouterr().out
    assert (tmp_path / "denoise_crops.png").stat().st_size > 1000
