"""Bad and unusual input, as a user found it: outputs the command cannot write refused before anything runs,
negative thread and tile counts, grey and 16-bit textures, damaged and foreign EXR files, failed writes, a
resume that meets a damaged output, a tampered model in the listing, float64 values float32 cannot hold.
Each message is one line naming the file."""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon.cli import main
from addon.runtime import ImageError, ModelError, denoise, denoise_file, read_image, run, update_exr, upres, \
    upres_file, write_exr, write_image
from addon.runtime import color, files
from addon.runtime.batch import BatchError, BatchOptions, plan, run_frame
from addon.runtime.imageio import file_problem
from addon.runtime.session import default_threads

REPO = Path(__file__).resolve().parents[2]


def postpass(*args, models_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSTPASS_MODELS": str(models_dir)}
    return subprocess.run([sys.executable, "-m", "addon.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def shot(tmp_path) -> Path:
    """render/beauty.1001.exr, 1002: small multilayer EXRs (Combined RGBA)."""
    folder = tmp_path / "render"
    rng = np.random.default_rng(0)
    for frame in (1001, 1002):
        write_exr(folder / f"beauty.{frame}.exr", {"Combined": rng.random((24, 32, 4)).astype(np.float32)})
    return folder


def error_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


# ----------------------------------------------------------------------------------------------------------
# 1. Outputs the command cannot write: refused while planning, exit 2, one line
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("output, extra, problem", [
    ("out/b.####.bmp", [], "out/b.####.bmp: unsupported image type '.bmp'; use one of .exr, .png"),
    ("out/b.####", [], "out/b.####: no image type suffix; end the name with one of .exr"),
    ("out/b.####.jpg", ["--bit-depth", "16"], "out/b.####.jpg: cannot write 16-bit .jpg; choose 8"),
    ("out/b.####.exr", ["--bit-depth", "8"], "out/b.####.exr: EXR results are written as 32-bit float, not 8-bit"),
    ("out/", ["--bit-depth", "16"], "/out/beauty.1001.exr: EXR results are written as 32-bit float, not 16-bit"),
])
def test_unwritable_outputs_are_refused_before_anything_runs(shot, models_dir, monkeypatch, capsys, output, extra,
                                                             problem):
    monkeypatch.chdir(shot.parent)
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    assert main(["denoise", "render/beauty.####.exr", "-o", output, *extra]) == 2
    out, err = capsys.readouterr()
    assert out == "" and error_line(err).startswith("postpass denoise: error: ") and problem in err
    assert not (shot.parent / "out").exists()  # no frame ran
    with pytest.raises(BatchError) as info:
        plan("denoise", ["render/beauty.####.exr"], output, bit_depth=int(extra[1]) if extra else None)
    assert problem in str(info.value)


def test_api_refuses_an_unwritable_output_before_inference(models_dir, tmp_path, monkeypatch):
    write_image(tmp_path / "in.png", np.full((8, 8, 3), 0.5, np.float32))
    ran = []
    monkeypatch.setattr("addon.runtime.api.read_image", lambda *a, **k: ran.append(a))
    with pytest.raises(ImageError, match=r"out\.bmp: unsupported image type '\.bmp'") as info:
        denoise_file(tmp_path / "in.png", tmp_path / "out.bmp", models_dir=models_dir)
    with pytest.raises(ImageError, match=r"out\.jpg: cannot write 16-bit \.jpg"):
        denoise_file(tmp_path / "in.png", tmp_path / "out.jpg", bit_depth=16, models_dir=models_dir)
    assert ran == [] and "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------------------
# 2. Negative --threads / --tile-size
# ----------------------------------------------------------------------------------------------------------
def test_negative_threads_and_tile_size_are_refused(shot, models_dir, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    pattern = str(shot / "beauty.####.exr")
    for option in (["--threads", "-1"], ["--tile-size", "-16"], ["--threads", "two"]):
        assert main(["denoise", pattern, "-o", str(tmp_path / "o.####.exr"), *option]) == 2
        line = error_line(capsys.readouterr().err)
        assert line.startswith(f"postpass denoise: error: argument {option[0]}: ")
    assert not (tmp_path / "o.1001.exr").exists()
    assert main(["denoise", pattern, "-o", str(tmp_path / "o.####.exr"), "--tile-size", "0", "--threads", "1",
                 "-q"]) == 0  # 0: whole frames
    rgb = np.ones((8, 8, 3), np.float32)
    for options, name in (({"threads": -1}, "threads"), ({"tile_size": -16}, "tile_size"),
                          ({"tile_size": 2.5}, "tile_size")):
        with pytest.raises(ModelError, match=rf"^{name} must be a whole number >= 0 .*not -?[0-9.]+$") as info:
            denoise(rgb, models_dir=models_dir, **options)
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
    monkeypatch.setenv("POSTPASS_THREADS", "-3")
    with pytest.raises(ModelError, match=r"POSTPASS_THREADS='-3': threads must be a whole number"):
        default_threads()



def test_an_inbetween_sequence_with_one_key_says_which_frame_it_found(shot, models_dir, monkeypatch, capsys):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    (shot / "beauty.1002.exr").unlink()
    assert main(["inbetween", str(shot / "beauty.####.exr"), "-o", str(shot / "made.####.exr")]) == 2
    assert error_line(capsys.readouterr().err).endswith("needs at least two key frames, found only frame 1001")


def test_a_wrong_layer_is_refused_while_planning_naming_the_layers_there(shot, models_dir, monkeypatch, capsys,
                                                                         tmp_path):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    for frame in (1001, 1002):  # a second view layer beside ViewLayer
        path = shot / f"beauty.{frame}.exr"
        update_exr(path, path, {"Combined": np.zeros((24, 32, 4), np.float32)}, layer="Background")
    pattern, out = str(shot / "beauty.####.exr"), str(tmp_path / "o.####.exr")
    problem = f"{shot / 'beauty.1001.exr'}: no channels for view layer 'Foo'; it has ViewLayer, Background"
    assert main(["denoise", pattern, "-o", out, "--layer", "Foo", "--json"]) == 2  # before: exit 1, frame by frame
    stdout, err = capsys.readouterr()
    assert error_line(err) == f"postpass denoise: error: {problem}"
    assert json.loads(stdout) == {"error": problem, "exit_code": 2}
    assert not (tmp_path / "o.1001.exr").exists()
    with pytest.raises(ImageError) as info:  # the API (and a frame after the first) says the same
        read_image(shot / "beauty.1001.exr", layer="Foo")
    assert str(info.value) == problem
    assert main(["denoise", pattern, "-o", out, "--layer", "Background", "-q"]) == 0

# ----------------------------------------------------------------------------------------------------------
# 3. Grey and 16-bit textures: the same channels and bit depth out
# ----------------------------------------------------------------------------------------------------------
def test_grey_images_come_back_grey_with_alpha_carried(models_dir, tmp_path):
    rng = np.random.default_rng(1)
    grey = rng.random((16, 20, 1)).astype(np.float32)
    alpha = rng.random((16, 20, 1)).astype(np.float32)
    as_rgb = upres(np.repeat(grey, 3, axis=2), scale=2, models_dir=models_dir)
    big = upres(grey, scale=2, models_dir=models_dir)
    assert big.shape == (32, 40, 1)
    assert np.allclose(big[..., 0], color.luminance(as_rgb), atol=1e-6)  # the colour model on grey as RGB
    assert upres(grey[..., 0], scale=4, models_dir=models_dir).shape == (64, 80, 1)
    with_alpha = upres(np.concatenate([grey, alpha], -1), scale=2, models_dir=models_dir)
    assert with_alpha.shape == (32, 40, 2) and np.allclose(with_alpha[..., 0], big[..., 0], atol=1e-6)
    resized = np.clip(cv2.resize(alpha[..., 0], (40, 32), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert np.allclose(with_alpha[..., 1], resized)
    assert denoise(grey, models_dir=models_dir).shape == (16, 20, 1)
    assert denoise(np.concatenate([grey, alpha], -1), models_dir=models_dir)[..., 1].tolist() == alpha[..., 0].tolist()
    write_image(tmp_path / "grey_alpha.exr", with_alpha)  # a plain EXR stores grey as Y, then A
    assert np.array_equal(read_image(tmp_path / "grey_alpha.exr").get("Combined"), with_alpha)


@pytest.mark.parametrize("name, stored, depth", [
    ("rough.png", np.uint16, None), ("rough8.png", np.uint8, None), ("height.tif", np.uint16, None),
    ("rgb.png", np.uint16, None), ("rgb8.tif", np.uint8, None), ("rough.png", np.uint16, 8)])
def test_texture_files_keep_channels_and_bit_depth(models_dir, tmp_path, name, stored, depth):
    rng = np.random.default_rng(2)
    channels = 3 if name.startswith("rgb") else 1
    pixels = (rng.random((12, 16, channels)) * np.iinfo(stored).max).astype(stored)
    cv2.imwrite(str(tmp_path / name), pixels if channels == 3 else pixels[..., 0])
    upres_file(tmp_path / name, tmp_path / f"up_{name}", scale=2, bit_depth=depth, models_dir=models_dir)
    denoise_file(tmp_path / name, tmp_path / f"dn_{name}", bit_depth=depth, models_dir=models_dir)
    for out, size in ((f"up_{name}", (24, 32)), (f"dn_{name}", (12, 16))):
        raw = cv2.imread(str(tmp_path / out), cv2.IMREAD_UNCHANGED)
        assert raw.shape == size + ((3,) if channels == 3 else ()), out
        assert raw.dtype == (np.uint8 if depth == 8 else stored), out
    result = upres_file(tmp_path / name, tmp_path / "up.exr", scale=2, models_dir=models_dir)
    assert read_image(tmp_path / "up.exr").get("Combined").shape == (24, 32, channels)
    assert np.array_equal(read_image(tmp_path / "up.exr").get("Combined"), result.image)


def test_float_tiffs_come_back_float_and_unclipped_and_32_bit_integers_are_refused(models_dir, tmp_path):
    hdr = np.random.default_rng(5).random((12, 16, 3)) * 8.0 - 1.0  # float64, linear, beyond [0, 1]
    cv2.imwrite(str(tmp_path / "f64.tif"), hdr)
    assert read_image(tmp_path / "f64.tif").bit_depth == 32  # as a float32 TIFF: linear, an HDR model runs
    for run_file, name in ((denoise_file, "dn.tif"), (upres_file, "up.tif")):
        result = run_file(tmp_path / "f64.tif", tmp_path / name, models_dir=models_dir,
                          **({"scale": 2} if run_file is upres_file else {}))
        written = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.float32, name  # before: a 16-bit integer TIFF, clipped to [0, 1]
        assert np.array_equal(written[..., ::-1], result.image) and result.image.max() > 1.0, name
    cv2.imwrite(str(tmp_path / "i32.tif"), np.full((12, 16, 3), 999, np.int32))
    with pytest.raises(ImageError) as info:  # before: sRGB over 0..2^31, so black
        denoise_file(tmp_path / "i32.tif", tmp_path / "i32_out.tif", models_dir=models_dir)
    assert str(info.value) == (f"{tmp_path / 'i32.tif'}: 32-bit signed integer samples have no defined colour "
                               "range; save it as 8- or 16-bit or as float")
    assert not (tmp_path / "i32_out.tif").exists()


# ----------------------------------------------------------------------------------------------------------
# 4. Damaged, empty and foreign EXR files: one line, and stdout only the JSON
# ----------------------------------------------------------------------------------------------------------
def test_damaged_exr_files_give_one_line_and_json_stays_json(shot, models_dir, tmp_path):
    whole = (shot / "beauty.1001.exr").read_bytes()
    cases = {
        "empty.exr": (b"", "empty file (0 bytes)"),
        "text.exr": (b"hello, not an image\n", "not an OpenEXR file (starts with 68 65 6c 6c"),
        "png.exr": (_png_bytes(tmp_path), "not an OpenEXR file (starts with 89 50 4e 47, a PNG file"),
        "head.exr": (whole[:100], "truncated or damaged OpenEXR file (header cut off"),
        "cut.exr": (whole[:len(whole) // 2], "truncated or damaged OpenEXR file (cannot read ViewLayer.Combined)"),
    }
    for name, (data, problem) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for extra in ([], ["--json"]):
            run = postpass("info", path, *extra, models_dir=models_dir)
            assert run.returncode == 2
            assert error_line(run.stderr).startswith(f"postpass info: error: {path}: {problem}"), run.stderr
            if extra:  # stdout: the JSON and nothing else (OpenEXR prints warnings through Python's stdout)
                assert json.loads(run.stdout)["error"].startswith(f"{path}: {problem}")
        with pytest.raises(ImageError) as info:
            read_image(path)
        assert str(info.value).startswith(f"{path}: {problem}") and "\n" not in str(info.value)
    good = postpass("info", shot / "beauty.1001.exr", "--json", models_dir=models_dir)
    assert good.returncode == 0 and json.loads(good.stdout)["width"] == 32 and good.stderr == ""


def _png_bytes(tmp_path: Path) -> bytes:
    write_image(tmp_path / "real.png", np.zeros((2, 2, 3), np.float32))
    return (tmp_path / "real.png").read_bytes()


# ----------------------------------------------------------------------------------------------------------
# 5. Write failures name the output and the reason
# ----------------------------------------------------------------------------------------------------------
def test_write_failures_name_the_output_and_why(shot, models_dir, tmp_path, monkeypatch):
    source = str(shot / "beauty.1001.exr")
    (tmp_path / "afile").write_text("a file where a folder should be")
    options = BatchOptions("denoise", models_dir=str(models_dir), tile_size=None)

    def failure(output) -> str:
        result = run_frame(plan("denoise", [source], str(output))[0], options)
        assert result.status == "failed" and "\n" not in result.reason
        assert ".tmp" not in result.reason and "RuntimeError" not in result.reason and source not in result.reason
        return result.reason

    for output in (tmp_path / "afile" / "c.exr", tmp_path / "afile" / "sub" / "c.png"):
        assert failure(output) == f"{output}: cannot write: {tmp_path / 'afile'} is not a directory"

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:  # root writes anywhere: there, the OS's refusal is simulated at the rename
        locked.chmod(0o555)
    else:
        real = os.replace
        monkeypatch.setattr(files.os, "replace", lambda a, b: (_ for _ in ()).throw(
            PermissionError(errno.EACCES, "Permission denied", a)) if "locked" in str(b) else real(a, b))
    for name in ("c.exr", "c.png"):
        assert failure(locked / name) == f"{locked / name}: cannot write: permission denied"
    monkeypatch.undo()
    locked.chmod(0o755)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)
    for name in ("full.exr", "full.tif"):
        assert failure(tmp_path / name) == f"{tmp_path / name}: cannot write: disk full (ENOSPC)"
    monkeypatch.undo()
    assert not [p for p in tmp_path.rglob(".*") if ".tmp" in p.name]  # no temporary file left behind

    long_name = tmp_path / ("x" * 250 + ".exr")  # fits the filesystem; its temporary name must fit too
    assert run_frame(plan("denoise", [source], str(long_name))[0], options).status == "done"


# ----------------------------------------------------------------------------------------------------------
# 6. fsync before the rename; --skip-existing trusts only complete images
# ----------------------------------------------------------------------------------------------------------
def test_writes_are_flushed_to_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(files.os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
    write_image(tmp_path / "frame.png", np.ones((4, 4, 3), np.float32))
    monkeypatch.undo()
    kinds = [e[0] for e in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert ".tmp" in events[0][1] and events[1][1] == str(tmp_path / "frame.png") and events[2][1] == str(tmp_path)


def test_skip_existing_redoes_empty_and_truncated_outputs(shot, models_dir, tmp_path):
    out = tmp_path / "out"
    first = postpass("denoise", shot / "beauty.####.exr", "-o", out / "c.####.exr", "-q", models_dir=models_dir)
    assert first.returncode == 0, first.stderr
    good = (out / "c.1002.exr").read_bytes()
    (out / "c.1002.exr").write_bytes(good[:len(good) - 50])  # cut off (a copy that died, a full disk)
    assert file_problem(out / "c.1001.exr") is None
    assert file_problem(out / "c.1002.exr").startswith("truncated or damaged OpenEXR file (last chunk cut off")
    rerun = postpass("denoise", shot / "beauty.####.exr", "-o", out / "c.####.exr", "--skip-existing", "--json",
                     models_dir=models_dir)
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and summary["skipped"] == [1001] and summary["done"] == [1002]
    assert summary["redone"] == [{"frame": 1002, "output": str(out / "c.1002.exr"),
                                  "reason": "existing output unusable (truncated or damaged OpenEXR file "
                                            f"(last chunk cut off: it needs {len(good)} bytes, the file has "
                                            f"{len(good) - 50}))"}]
    assert f"-> {out / 'c.1002.exr'} (redone: {out / 'c.1002.exr'}: existing output unusable" in rerun.stderr
    assert (out / "c.1002.exr").read_bytes() == good  # made again, whole

    (out / "c.1001.exr").write_bytes(b"")  # a power cut after an un-synced rename
    again = postpass("denoise", shot / "beauty.####.exr", "-o", out / "c.####.exr", "--skip-existing", "--json",
                     models_dir=models_dir)
    assert json.loads(again.stdout)["redone"][0]["reason"] == "existing output unusable (empty file (0 bytes))"
    assert file_problem(out / "c.1001.exr") is None


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_file_problem_catches_cut_off_images_cheaply(tmp_path, suffix):
    y, x = np.mgrid[0:40, 0:50] / 50.0
    write_image(tmp_path / f"a{suffix}", np.stack([x, y, x * y], -1).astype(np.float32))
    data = (tmp_path / f"a{suffix}").read_bytes()
    assert file_problem(tmp_path / f"a{suffix}") is None
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        (tmp_path / f"cut{suffix}").write_bytes(data[:cut])
        assert file_problem(tmp_path / f"cut{suffix}") is not None, cut
    assert file_problem(tmp_path / f"missing{suffix}") == "file does not exist"


# ----------------------------------------------------------------------------------------------------------
# 7. The models listing verifies every file
# ----------------------------------------------------------------------------------------------------------
def test_models_listing_flags_a_tampered_model(models_dir, tmp_path, capsys):
    folder = Path(shutil.copytree(models_dir, tmp_path / "models"))
    data = bytearray((folder / "colorize.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "colorize.onnx").write_bytes(bytes(data))
    assert main(["models", "--models-dir", str(folder), "--json"]) == 0
    out, err = capsys.readouterr()
    listed = {m["name"]: m for m in json.loads(out)}
    assert listed["colorize"]["verified"] is False and listed["colorize"]["problem"].startswith("TAMPERED: sha256")
    assert all(m["verified"] for name, m in listed.items() if name != "colorize")
    assert "postpass models: warning: colorize: TAMPERED: sha256 differs from the registry" in err
    assert main(["models", "--models-dir", str(folder)]) == 0
    text = capsys.readouterr().out
    assert [line for line in text.splitlines() if "TAMPERED" in line] == \
        [line for line in text.splitlines() if line.startswith("colorize ")]
    assert main(["models", "colorize", "--models-dir", str(folder)]) == 2  # using it is still refused


# ----------------------------------------------------------------------------------------------------------
# 8. float64 beyond float32's range is non-finite input
# ----------------------------------------------------------------------------------------------------------
def test_float64_beyond_float32_range_is_treated_like_nan(models_dir, caplog):
    rng = np.random.default_rng(3)
    rgb = rng.random((16, 20, 3))  # float64
    rgb[2, 3, 0], rgb[4, 5, 1] = 1e300, -1e40
    with pytest.raises(ImageError, match=r"^input 'color': 2 NaN/Inf values \(2 of them beyond float32's range"):
        denoise(rgb, models_dir=models_dir, nonfinite="error")
    with caplog.at_level(logging.WARNING, logger="postpass.runtime"):
        result = run("denoise", {"color": rgb}, models_dir=models_dir)
    assert result.nonfinite == {"color": 2} and np.all(np.isfinite(result.image))
    assert "input 'color': replaced 2 NaN/Inf values (2 of them beyond float32's range" in caplog.text
    with np.errstate(over="ignore"):
        zeroed = rgb.astype(np.float32)
    zeroed[2, 3, 0] = zeroed[4, 5, 1] = 0.0
    assert np.array_equal(result.image, run("denoise", {"color": zeroed}, models_dir=models_dir).image)
    assert np.all(np.isfinite(upres(rgb, scale=2, models_dir=models_dir)))
