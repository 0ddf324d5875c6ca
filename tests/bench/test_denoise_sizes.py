"""``python -m bench denoise_sizes`` end to end at toy sizes: real Cycles renders in its child process, the shipped
denoiser and Blender's OIDN scored per size, the render cache reused by a second run, bad options refused before
anything renders."""
from __future__ import annotations

import argparse
import json
import math

import pytest

from bench import denoise_sizes


def _args(tmp_path, **overrides) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    denoise_sizes.options(p)
    args = p.parse_args(["--sizes", "32", "48", "--seeds", "2000000", "--spp", "2", "--reference-spp", "16",
                         "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
                         "--methods", denoise_sizes.BLENDER, "postpass denoise_kpn", "postpass denoise_kpn_color",
                         "postpass denoise_kpn_ldr", "--threads", "1"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_scores_each_size_and_reuses_its_renders(tmp_path):
    args = _args(tmp_path)
    text = denoise_sizes.main(args)
    result = json.loads((tmp_path / "out" / "denoise_sizes.json").read_text())
    assert result["sizes"] == [32, 48] and [s["size"] for s in result["scenes"]] == [32, 48]
    for size in ("32", "48"):
        means = result["mean_psnr"][size]
        assert set(means) == {"noisy", "noisy, 8-bit image", denoise_sizes.BLENDER, "postpass denoise_kpn",
                              "postpass denoise_kpn_color", "postpass denoise_kpn_ldr"}
        assert all(math.isfinite(v) for v in means.values())
        assert means[denoise_sizes.BLENDER] > means["noisy"]  # Blender's OIDN result really is in the file
    assert result["inputs"]["postpass denoise_kpn_color"] == ["color"]  # given the colour alone
    assert result["inputs"]["postpass denoise_kpn"] == ["color", "albedo", "normal"]
    assert result["inputs"]["postpass denoise_kpn_ldr"] == ["image8"]  # the render saved as an 8-bit image
    assert "| postpass denoise_kpn_ldr | 8-bit sRGB image (display PSNR) |" in text
    assert "postpass denoise_kpn - blender-oidn (accurate, high)" in text and "| 48 px |" in text
    # Blender's OIDN read every pass: a colour-only model is compared with pyoidn given the colour alone only
    assert "postpass denoise_kpn_color - blender-oidn" not in text
    renders = sorted((tmp_path / "cache").rglob("*.exr"))
    assert [p.name for p in renders] == ["noisy_spp0002.exr", "reference_spp0016.exr"] * 2
    stamps = [p.stat().st_mtime_ns for p in renders]
    denoise_sizes.main(args)  # everything cached: nothing rendered again
    assert [p.stat().st_mtime_ns for p in renders] == stamps


@pytest.mark.parametrize("overrides, message", [({"sizes": [12]}, "--sizes"), ({"sizes": [128, 0]}, "--sizes"),
                                                ({"reference_spp": 2}, "--reference-spp")])
def test_bad_options_are_refused_before_rendering(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        denoise_sizes.main(_args(tmp_path, **overrides))
    assert not (tmp_path / "cache").exists()


def test_an_unknown_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown or unavailable methods"):
        denoise_sizes.main(_args(tmp_path, methods=["postpass nothing"]))
