"""The inbetween benchmark's real-video set (issue 28): triplets of 8-bit frames from a ``triplets.csv``, every
method that needs no Vector pass, 8-bit RGB PSNR of the made middle frame; a missing listed file is a one-line
error naming it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.inbetween import frames_only, inbetween_methods, markdown_table_real, run_real_video


def write_triplets(folder, shift: int = 6, count: int = 2):
    """``count`` triplets of a smooth random texture moving ``shift`` px right per frame, as JPEG files."""
    rng = np.random.default_rng(0)
    lines = ["frame0,gt_middle,frame1"]
    for k in range(count):
        big = cv2.GaussianBlur(rng.random((160, 256, 3)).astype(np.float32), (0, 0), 4.0)
        big = (big - big.min()) / (big.max() - big.min())
        seq = folder / f"seq{k}"
        seq.mkdir(parents=True)
        names = []
        for i in range(3):
            frame = big[16:144, 40 - i * shift:40 - i * shift + 160]
            name = f"seq{k}/{i:05d}.jpg"
            cv2.imwrite(str(folder / name), np.round(frame[..., ::-1] * 255).astype(np.uint8),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            names.append(name)
        lines.append(",".join(names))
    (folder / "triplets.csv").write_text("\n".join(lines) + "\n")


def test_motion_methods_beat_the_blend_on_moving_frames_and_vector_methods_are_left_out(tmp_path, models_dir):
    write_triplets(tmp_path)
    runs = inbetween_methods(models_dir)
    names = frames_only(runs, models_dir)
    assert "vector-pass warp" not in names and "postpass inbetween_vectors" not in names
    assert {"frame blend", "DIS optical flow", "postpass inbetween"} <= set(names)  # the image-only test model
    result = run_real_video(tmp_path, {n: runs[n] for n in ("frame blend", "DIS optical flow")}, models_dir,
                            log=lambda *_: None)
    psnr = {n: m["psnr"] for n, m in result["metrics"].items()}
    assert result["triplets"] == 2 and result["sequences"] == ["seq0", "seq1"]
    assert psnr["DIS optical flow"] > psnr["frame blend"] + 10.0, psnr
    assert "Ours - DIS" not in markdown_table_real(result)  # no model in this run


def test_a_listed_file_that_is_missing_or_unreadable_is_named(tmp_path):
    write_triplets(tmp_path, count=1)
    (tmp_path / "seq0" / "00001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="seq0/00001.jpg: listed in"):
        run_real_video(tmp_path, inbetween_methods(names=["frame blend"]), log=lambda *_: None)
    (tmp_path / "seq0" / "00001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="seq0/00001.jpg: not an image"):
        run_real_video(tmp_path, inbetween_methods(names=["frame blend"]), log=lambda *_: None)
