"""The runtime on every exported model kind through one code path: tiling, colour, alpha, NaN handling,
model choice, hash verification, providers and errors."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import TEST_MODELS

from addon.runtime import (ImageError, ModelError, Registry, colorize, denoise, inbetween, load_model, run,
                           upres)
from addon.runtime import color
from addon.runtime.registry import DEFAULT_MODELS_DIR
from addon.runtime.session import default_threads

ALL_MODELS = [*TEST_MODELS, "denoise_aux-fp16"]


def inputs_for(contract, height: int, width: int, seed: int = 0, alpha: bool = True) -> dict:
    """Random inputs of the right kinds for a contract; RGB inputs carry an alpha channel."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in contract.image_inputs:
        g = contract.scale if spec.grid == "output" else 1
        shape = (height * g, width * g, len(spec.channels))
        if spec.displacement_gain:
            arr = rng.uniform(-3, 3, shape)
        elif spec.hdr:
            arr = np.exp(rng.uniform(-4, 3, shape))
        else:
            arr = rng.random(shape)
        if alpha and spec.channels == ("R", "G", "B") and not spec.optional:
            arr = np.concatenate([arr, rng.random((*shape[:2], 1))], axis=-1)
        inputs[spec.name] = arr.astype(np.float32)
    return inputs


def worst_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_tiled_equals_untiled(models_dir, name):
    model = load_model(name, models_dir)
    inputs = inputs_for(model.contract, 93, 130)  # not multiples of any pad multiple
    whole = model.run(inputs, tile_size=None)
    tiled = model.run(inputs, tile_size=24, exact_tiles=True)  # many small tiles: every seam case at once
    assert whole.tiles == 1 and tiled.tiles >= 12
    for key, out in whole.outputs.items():
        assert out.shape[:2] == (93 * model.contract.scale, 130 * model.contract.scale)
        assert np.all(np.isfinite(out))
        # Tiles see all the context they need, so only float rounding remains: ~1e-6, except where grid_sample
        # warps (its normalised coordinates round differently for each tile size; up to ~2e-4 on pixel noise,
        # the worst case), for which the 1e-3 holds.
        tolerance = 1e-3 if model.contract.task == "inbetween" else 1e-5
        assert worst_difference(out, tiled.outputs[key]) <= tolerance


def test_too_little_overlap_shows_seams(models_dir):
    """What the equality test guards against: without the receptive-field overlap the tiles disagree (an
    untrained network's far context matters little, yet it is off by far more than the 1e-5 allowed)."""
    model = load_model("denoise_aux", models_dir)
    inputs = inputs_for(model.contract, 93, 130)
    whole = model.run(inputs, tile_size=None).image
    honest = model.contract
    try:
        model.contract = dataclasses.replace(honest, tile_overlap=0)
        seamed = model.run(inputs, tile_size=24, exact_tiles=True).image
    finally:
        model.contract = honest
    assert worst_difference(whole, seamed) > 1e-4


def test_runtime_feeds_exactly_what_the_metadata_says(models_dir):
    """sRGB models see sRGB-encoded values and return decoded ones; HDR models get one exposure per image."""
    srgb = load_model("upres_x4_srgb", models_dir)
    image = inputs_for(srgb.contract, 20, 28, alpha=False)["image"]
    session = ort.InferenceSession(str(srgb.entry.path), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"image": color.srgb_encode(image).transpose(2, 0, 1)[None]})[0]
    expected = color.srgb_decode(raw[0].transpose(1, 2, 0))
    assert np.abs(srgb.run({"image": image}, tile_size=None).image - expected).max() < 1e-6

    hdr = load_model("denoise_rgb", models_dir)
    rgb = inputs_for(hdr.contract, 24, 32, alpha=False)["color"]
    result = hdr.run({"color": rgb}, tile_size=8)
    assert result.scalars["exposure"] == pytest.approx(color.exposure_scale(rgb))
    session = ort.InferenceSession(str(hdr.entry.path), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"color": rgb.transpose(2, 0, 1)[None],
                             "exposure": np.array([[result.scalars["exposure"]]], np.float32)})[0]
    assert worst_difference(raw[0].transpose(1, 2, 0), result.image) < 1e-5
    assert hdr.run({"color": rgb, "exposure": 2.0}).scalars["exposure"] == 2.0


def test_alpha_never_enters_the_network_and_comes_back(models_dir):
    rng = np.random.default_rng(1)
    rgba = np.concatenate([np.exp(rng.uniform(-3, 2, (40, 56, 3))), rng.random((40, 56, 1))], -1).astype(np.float32)
    other_alpha = rgba.copy()
    other_alpha[..., 3] = 1.0 - rgba[..., 3]
    opts = {"models_dir": models_dir}
    out = denoise(rgba, **opts)
    assert out.shape == (40, 56, 4) and np.array_equal(out[..., 3], rgba[..., 3])
    assert np.array_equal(out[..., :3], denoise(other_alpha, **opts)[..., :3])
    assert np.array_equal(denoise(rgba[..., :3], **opts), out[..., :3])

    big = upres(rgba, scale=2, **opts)
    resized = np.clip(cv2.resize(rgba[..., 3], (112, 80), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert big.shape == (80, 112, 4) and np.allclose(big[..., 3], resized)

    mid = inbetween(rgba, other_alpha, t=0.25, **opts)
    assert np.allclose(mid[..., 3], 0.75 * rgba[..., 3] + 0.25 * other_alpha[..., 3])
    half_opaque = inbetween(rgba, other_alpha[..., :3], t=0.5, **opts)
    assert np.allclose(half_opaque[..., 3], 0.5 * rgba[..., 3] + 0.5)

    colour = colorize(rgba, **opts)  # RGB(A) in: its luminance is coloured, alpha carried
    assert colour.shape == (40, 56, 4) and np.array_equal(colour[..., 3], rgba[..., 3])


def test_nan_and_inf_are_zeroed_and_counted(models_dir, caplog):
    rng = np.random.default_rng(2)
    rgb = rng.random((32, 40, 3)).astype(np.float32)
    rgb[3, 4, 0], rgb[5, 6, 1], rgb[7, 8, 2] = np.nan, np.inf, -np.inf
    with caplog.at_level(logging.WARNING, logger="postpass.runtime"):
        result = run("denoise", {"color": rgb}, models_dir=models_dir, tile_size=16)
    assert result.nonfinite == {"color": 3} and np.all(np.isfinite(result.image))
    assert "input 'color': replaced 3 NaN/Inf values with 0" in caplog.text
    clean = rgb.copy()
    clean[~np.isfinite(clean)] = 0.0
    assert np.array_equal(result.image, run("denoise", {"color": clean}, models_dir=models_dir, tile_size=16).image)
    with pytest.raises(ImageError, match=r"^input 'color': 3 NaN/Inf values \(nonfinite='zero' replaces them"):
        denoise(rgb, models_dir=models_dir, nonfinite="error")


def test_model_is_chosen_by_task_scale_and_given_inputs(models_dir):
    rgb = np.ones((16, 16, 3), np.float32)
    assert run("denoise", {"color": rgb}, models_dir=models_dir).model == "denoise_rgb"
    assert run("denoise", {"color": rgb, "albedo": rgb, "normal": rgb}, models_dir=models_dir).model == "denoise_aux"
    assert run("upres", {"image": rgb}, scale=4, models_dir=models_dir).model == "upres_x4_srgb"
    big = np.ones((32, 32, 3), np.float32)
    assert run("upres", {"image": rgb, "albedo": big, "normal": big}, scale=2,
               models_dir=models_dir).model == "upres_x2_guided"
    vectors = (np.zeros((16, 16, 4), np.float32),) * 2
    assert inbetween(rgb, rgb, vectors=vectors, models_dir=models_dir).shape == (16, 16, 3)
    assert run("denoise", {"color": rgb, "albedo": rgb, "normal": rgb}, precision="fp16",
               models_dir=models_dir).model == "denoise_aux-fp16"
    with pytest.raises(ModelError, match="no denoise fp16 model .* fits inputs color"):
        run("denoise", {"color": rgb}, precision="fp16", models_dir=models_dir)
    with pytest.raises(ModelError, match="no denoise fp32 model .* fits inputs albedo, color"):
        denoise(rgb, albedo=rgb, models_dir=models_dir)
    with pytest.raises(ModelError, match="no upres x3 fp32 model"):
        upres(rgb, scale=3, models_dir=models_dir)
    with pytest.raises(ModelError, match=r"\(its sharpen models: none; it has models of colorize, denoise, "):
        run("sharpen", {"color": rgb}, models_dir=models_dir)  # a task name mistyped or unknown


def test_bad_inputs_give_one_line_errors_naming_the_input(models_dir):
    rgb = np.ones((16, 24, 3), np.float32)
    opts = {"models_dir": models_dir, "model": "denoise_aux"}
    cases = [
        (lambda: denoise(rgb, albedo=rgb, normal=rgb[..., :2], **opts),
         ImageError, r"^input 'normal': has 2 channels; expected 3 \(X, Y, Z\)$"),
        (lambda: denoise(rgb, albedo=rgb[:8], normal=rgb, **opts),
         ImageError, r"^input 'albedo': is 24x8; expected 24x16 \(the size of input 'color'\)$"),
        (lambda: upres(rgb, albedo=rgb, normal=rgb, models_dir=models_dir, model="upres_x2_guided"),
         ImageError, r"^input 'albedo': is 24x16; expected 48x32 \(scale x the size of input 'image'\)$"),
        (lambda: denoise((rgb * 255).astype(np.uint8), albedo=rgb, normal=rgb, **opts),
         ImageError, r"^input 'color': is uint8; expected float linear values"),
        (lambda: denoise(rgb, **opts), ModelError, r"^model 'denoise_aux' needs input 'albedo'"),
        (lambda: run("denoise", {"color": rgb, "depth": rgb}, **opts),
         ModelError, r"^model 'denoise_aux' takes no input 'depth' \(it takes color, albedo, normal, exposure\)$"),
        (lambda: denoise(rgb, models_dir=models_dir, model="no_such_model"),
         ModelError, r"^unknown model 'no_such_model' in .*registry.json \(known: denoise_aux, "),
        (lambda: denoise(rgb, models_dir=models_dir, model="upres_x2"),
         ModelError, r"^model 'upres_x2' is a upres model, not denoise$"),
        (lambda: denoise(rgb, models_dir=models_dir, device="tpu"), ModelError, r"^unknown device 'tpu'"),
        (lambda: colorize(rgb, hints=rgb, models_dir=models_dir), ImageError, r"^input 'mask': needed with hints"),
    ]
    for call, error, pattern in cases:
        with pytest.raises(error, match=pattern) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.fixture
def models_copy(models_dir, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    return folder


def test_tampered_unknown_and_misregistered_models_are_refused(models_copy):
    path = models_copy / "colorize.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"colorize.onnx: sha256 [0-9a-f]{12}\.\.\. does not match the registry's "
                                         r"[0-9a-f]{12}\.\.\.; refusing a modified model file$"):
        load_model("colorize", models_copy)
    shutil.copy(models_copy / "upres_x2.onnx", models_copy / "stray.onnx")
    with pytest.raises(ModelError, match="unknown model 'stray'"):
        load_model("stray", models_copy)

    registry = json.loads((models_copy / "registry.json").read_text())
    registry["models"]["upres_x2"]["file"] = "../upres_x2.onnx"
    (models_copy / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelError, match="names a file outside its folder"):
        Registry(models_copy)
    registry["models"]["upres_x2"]["file"] = "upres_x2.onnx"
    registry["models"]["upres_x2"]["contract"]["tile_overlap"] = "1"  # registry no longer says what the file says
    (models_copy / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelError, match="the file's metadata disagrees with its registry entry"):
        load_model("upres_x2", models_copy)
    (models_copy / "registry.json").write_text("{not json")
    with pytest.raises(ModelError, match="registry.json: unreadable model registry"):
        Registry(models_copy)


def test_provider_reported_is_the_one_that_runs(models_dir, caplog):
    cpu = load_model("denoise_rgb", models_dir, device="cpu")
    assert cpu.provider == "CPUExecutionProvider" == cpu.session.ort.get_providers()[0]
    assert cpu.fallback is None and cpu.session.threads >= 1
    with caplog.at_level(logging.WARNING, logger="postpass.runtime"):
        cuda = load_model("denoise_rgb", models_dir, device="cuda")
    assert cuda.provider == cuda.session.ort.get_providers()[0]
    if "CUDAExecutionProvider" not in ort.get_available_providers():  # this machine: CPU onnxruntime only
        assert cuda.provider == "CPUExecutionProvider"
        assert cuda.fallback == "this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
        assert "running on the CPU, not CUDA" in caplog.text
    else:
        assert cuda.provider == "CUDAExecutionProvider" or cuda.fallback
    result = cuda.run({"color": np.ones((8, 8, 3), np.float32)})
    assert (result.provider, result.fallback) == (cuda.provider, cuda.fallback)
    auto = load_model("denoise_rgb", models_dir)
    assert auto.provider == auto.session.ort.get_providers()[0]
    assert load_model("denoise_rgb", models_dir) is auto  # sessions are cached
    assert auto is not cpu


def test_threads_follow_the_environment(models_dir, monkeypatch):
    monkeypatch.setenv("POSTPASS_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.delenv("POSTPASS_THREADS")
    assert default_threads() == len(os.sched_getaffinity(0))
    one = load_model("colorize", models_dir, device="cpu", threads=1)
    assert one.session.threads == one.session.ort.get_session_options().intra_op_num_threads == 1


def test_models_folder_defaults_to_the_addon_and_follows_the_environment(models_dir, monkeypatch):
    monkeypatch.delenv("POSTPASS_MODELS", raising=False)
    assert Registry().folder == DEFAULT_MODELS_DIR == Path(__file__).parents[2] / "addon" / "models"
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    assert "denoise_aux" in Registry().entries
    assert denoise(np.ones((8, 8, 3), np.float32)).shape == (8, 8, 3)


def test_addon_never_imports_torch_and_its_runtime_never_bpy(models_dir):
    addon = Path(__file__).parents[2] / "addon"
    for path in addon.rglob("*.py"):
        text = path.read_text()
        assert "import torch" not in text, path
        assert "import bpy" not in text or addon / "runtime" not in path.parents, path
    script = ("import sys, numpy as np; from addon.runtime import denoise\n"
              f"denoise(np.ones((8, 8, 3), np.float32), models_dir={str(models_dir)!r})\n"
              "print(sorted(m for m in ('torch', 'bpy', 'ml_core') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_progress_is_reported_per_tile_and_can_cancel(models_dir):
    rgb = np.ones((128, 192, 3), np.float32)  # 32 px tiles hold up to twice a square tile's pixels: 6 of them
    seen = []
    result = run("denoise", {"color": rgb}, models_dir=models_dir, tile_size=32,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, result.tiles) for i in range(1, result.tiles + 1)] and result.tiles == 6

    class Cancelled(Exception):
        pass

    def cancel_after_two(done, total):
        if done == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        denoise(rgb, models_dir=models_dir, tile_size=32, progress=cancel_after_two)


def test_an_srgb_model_warns_when_hdr_values_would_clip(models_dir, caplog):
    rng = np.random.default_rng(0)
    ldr = rng.random((24, 24, 3)).astype(np.float32) * 0.9
    with caplog.at_level(logging.WARNING, logger="postpass.runtime"):
        upres(ldr, 4, model="upres_x4_srgb", models_dir=models_dir)
    assert "clip" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="postpass.runtime"):
        upres(ldr * 4, 4, model="upres_x4_srgb", models_dir=models_dir)
    assert "values above 1.0 clip in model 'upres_x4_srgb'" in caplog.text
    assert "source_range='hdr'" in caplog.text  # how an array gets a linear model picked


def test_a_file_result_decodes_its_source_once_and_keeps_its_other_passes(models_dir, tmp_path, monkeypatch):
    """denoise_file reads the source EXR once (issue 30: the write used to decode it a second time) and still
    writes every other pass, channel and header attribute back as it was."""
    import OpenEXR

    from addon.runtime import denoise_file, read_exr, write_exr
    from addon.runtime import exr as exr_module

    rng = np.random.default_rng(3)
    h, w = 40, 56
    passes = {"Combined": rng.random((h, w, 4), np.float32) * 3, "Denoising Albedo": rng.random((h, w, 3), np.float32),
              "Denoising Normal": rng.random((h, w, 3), np.float32) * 2 - 1, "Vector": rng.random((h, w, 4), np.float32),
              "Depth": rng.random((h, w, 1), np.float32) * 10}
    source = tmp_path / "beauty.0001.exr"
    write_exr(source, passes, "ViewLayer", header={"Camera": "cam.001", "cycles.ViewLayer.samples": "4"})
    reads = []
    original = exr_module._read_parts
    monkeypatch.setattr(exr_module, "_read_parts", lambda path: reads.append(path) or original(path))
    result = denoise_file(source, tmp_path / "clean.0001.exr", models_dir=models_dir)
    assert reads == [str(source)]  # one decode: the write goes into the parts already read
    monkeypatch.undo()

    def raw(path):
        return [(p.name(), {k: repr(v) for k, v in p.header.items()}, {n: c.pixels for n, c in p.channels.items()})
                for p in OpenEXR.File(str(path), separate_channels=True).parts]

    before, after = raw(source), raw(tmp_path / "clean.0001.exr")
    assert [p[0] for p in after] == [p[0] for p in before]
    for (name, header_before, chans_before), (_, header_after, chans_after) in zip(before, after):
        assert header_after == header_before, name  # compression (ZIP), line order, Camera, ... as read
        for channel, pixels in chans_before.items():
            if channel[-2:] in (".R", ".G", ".B") and ".Combined." in channel:
                assert np.array_equal(chans_after[channel], result.image[..., "RGB".index(channel[-1])])
            else:
                assert np.array_equal(chans_after[channel], pixels), channel
    assert read_exr(tmp_path / "clean.0001.exr").header == read_exr(source).header


def test_a_render_blender_denoised_is_denoised_from_its_raw_render(models_dir, tmp_path, caplog):
    """Cycles' Denoise is on by default: with Denoising Data its EXR holds Blender's denoised image as Combined
    and the raw render as "Noisy Image". Denoising Combined again would blur a finished image without a word;
    the raw render is denoised instead (alpha as rendered), and the command says so."""
    from addon.runtime import denoise_file, read_exr, write_exr

    rng = np.random.default_rng(5)
    h, w = 40, 48
    noisy = rng.random((h, w, 3), np.float32) * 4
    alpha = np.where(rng.random((h, w, 1)) > 0.2, 1.0, 0.0).astype(np.float32)
    guides = {"Denoising Albedo": rng.random((h, w, 3), np.float32),
              "Denoising Normal": rng.random((h, w, 3), np.float32) * 2 - 1}
    blender_denoised = np.full((h, w, 3), 0.5, np.float32)
    write_exr(tmp_path / "denoised_on.exr", {"Combined": np.concatenate([blender_denoised, alpha], -1),
                                             "Noisy Image": noisy, **guides}, "ViewLayer")
    write_exr(tmp_path / "denoised_off.exr", {"Combined": np.concatenate([noisy, alpha], -1), **guides}, "ViewLayer")
    with caplog.at_level(logging.WARNING, logger="postpass"):
        on = denoise_file(tmp_path / "denoised_on.exr", tmp_path / "on_clean.exr", models_dir=models_dir)
    off = denoise_file(tmp_path / "denoised_off.exr", tmp_path / "off_clean.exr", models_dir=models_dir)
    assert np.array_equal(on.image, off.image)
    assert np.array_equal(read_exr(tmp_path / "on_clean.exr").get("Combined"), on.image)
    assert np.array_equal(on.image[..., 3:], alpha)
    # and that a per-frame model of the raw render alone is no improvement on Blender's result
    assert any("Blender's denoised render" in r.getMessage() and "denoised_on.exr" in r.getMessage()
               and "below Blender's result" in r.getMessage() for r in caplog.records)


def test_a_blender_denoised_render_reads_as_its_raw_render_without_changing_the_passes_given():
    """``contract.as_raw_render``, which the runtime, the datasets (whose decoded passes are cached and shared)
    and the fine-tune's evaluation read Blender-denoised renders through: a new dict, the given one untouched."""
    from addon.runtime.contract import as_raw_render

    rng = np.random.default_rng(3)
    blender, raw, albedo = (rng.random((4, 5, c), np.float32) for c in (4, 3, 3))
    passes = {"Combined": blender, "Noisy Image": raw, "Denoising Albedo": albedo}
    read = as_raw_render(passes)
    assert set(passes) == {"Combined", "Noisy Image", "Denoising Albedo"} and passes["Combined"] is blender
    assert set(read) == {"Combined", "Denoised Image", "Denoising Albedo"} and read["Denoising Albedo"] is albedo
    assert np.array_equal(read["Combined"], np.concatenate([raw, blender[..., 3:]], -1))
    assert np.array_equal(read["Denoised Image"], blender[..., :3])
    plain = {"Combined": blender}
    assert as_raw_render(plain) is plain


def test_a_correction_of_blenders_denoised_render_reads_the_raw_render_and_blenders_result(models_dir, tmp_path):
    """A shot fine-tune's correction of Blender's denoised render (``denoise_oidn_residual``) runs where a render
    holds Blender's result (Combined, with the raw render as "Noisy Image"): it reads the raw render as its colour
    and Blender's result as ``blender_denoised``, exactly as the torch model computes it. A render without
    Blender's result gets the other denoiser, and the choice names the setting that would give it; the API takes
    ``blender_denoised=`` and then runs only a model that reads it."""
    import torch
    from conftest import copy_models, export_residual_model

    from addon.runtime import denoise_file, write_exr
    from addon.runtime.color import exposure_scale

    folder = copy_models(models_dir, ["denoise_kpn"], tmp_path / "models")
    net = export_residual_model(folder, tmp_path)

    rng = np.random.default_rng(7)
    h, w = 40, 48
    raw = rng.random((h, w, 3), np.float32) * 4
    blender = (0.3 + 0.4 * rng.random((h, w, 3))).astype(np.float32)
    alpha = np.where(rng.random((h, w, 1)) > 0.2, 1.0, 0.0).astype(np.float32)
    albedo, normal = rng.random((h, w, 3), np.float32), rng.random((h, w, 3), np.float32) * 2 - 1
    guides = {"Denoising Albedo": albedo, "Denoising Normal": normal}
    write_exr(tmp_path / "on.exr", {"Combined": np.concatenate([blender, alpha], -1), "Noisy Image": raw, **guides},
              "ViewLayer")
    write_exr(tmp_path / "off.exr", {"Combined": np.concatenate([raw, alpha], -1), **guides}, "ViewLayer")

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]

    with torch.no_grad():
        expected = net(nchw(raw), nchw(albedo), nchw(normal), nchw(blender),
                       torch.tensor([[exposure_scale(blender)]]))[0].numpy().transpose(1, 2, 0)
    assert np.abs(expected - blender).max() > 0.01  # the correction changes Blender's result
    on = denoise_file(tmp_path / "on.exr", tmp_path / "on_clean.exr", models_dir=folder)
    assert on.model == "denoise_oidn_residual_shot"
    np.testing.assert_allclose(on.image[..., :3], expected, rtol=1e-4, atol=1e-4)
    assert np.array_equal(on.image[..., 3:], alpha)
    off = denoise_file(tmp_path / "off.exr", tmp_path / "off_clean.exr", models_dir=folder)
    assert off.model == "denoise_kpn"
    assert "no blender_denoised pass" in off.choice and "Cycles' Denoise" in off.choice
    assert off.better_with == ("Denoised Image",)

    given = denoise(raw, albedo, normal, blender_denoised=blender, models_dir=folder)
    np.testing.assert_allclose(given, expected, rtol=1e-4, atol=1e-4)
    # no model of the folder reads it (as in the shipped one): one line that says so and what to do
    with pytest.raises(ModelError, match="no per-frame model in .* reads blender_denoised") as refused:
        denoise(raw, albedo, normal, blender_denoised=blender, models_dir=copy_models(models_dir, ["denoise_kpn"],
                                                                                       tmp_path / "kpn_only"))
    assert "\n" not in str(refused.value) and "leave it out" in str(refused.value)


def test_exr_writes_are_byte_identical_for_any_number_of_io_threads(tmp_path):
    """OpenEXR's threads compress chunks in parallel; the file is the same bytes (frames stay reproducible)."""
    from addon.runtime.exr import set_io_threads, write_exr

    rng = np.random.default_rng(0)
    passes = {"Combined": rng.random((300, 200, 4), np.float32), "Depth": rng.random((300, 200, 1), np.float32)}
    written = []
    try:
        for threads in (1, 2, 3):
            set_io_threads(threads)
            write_exr(tmp_path / f"t{threads}.exr", passes, "ViewLayer")
            written.append((tmp_path / f"t{threads}.exr").read_bytes())
    finally:
        set_io_threads()
    assert written[0] == written[1] == written[2]


def test_writing_a_result_back_reencodes_only_the_changed_part(tmp_path, monkeypatch):
    """update_exr copies the untouched parts' compressed chunks and every header byte for byte and encodes only
    the part holding the result (issue 30: two thirds of a 1080p frame's ZIP write was recompressing passes no
    model touched); the file is byte-identical to OpenEXR's full write. Files it does not handle (a single-part
    EXR, a pass the file lacks) take the full write."""
    from addon.runtime import exr as exr_module
    from addon.runtime.exr import read_exr, update_exr, write_exr

    rng = np.random.default_rng(1)
    h, w = 70, 90
    passes = {"Combined": rng.random((h, w, 4), np.float32), "Vector": rng.random((h, w, 4), np.float32),
              "Depth": rng.random((h, w, 1), np.float32), "Denoising Albedo": rng.random((h, w, 3), np.float32)}
    source = tmp_path / "multi.exr"
    write_exr(source, passes, "ViewLayer", header={"Camera": "cam"})
    new = rng.random((h, w, 3), np.float32)
    calls = []
    original = exr_module._write_changed_parts
    monkeypatch.setattr(exr_module, "_write_changed_parts", lambda *a: calls.append(a[3]) or original(*a))
    update_exr(source, tmp_path / "fast.exr", {"Combined": new},
               parts=read_exr(source, keep_parts=True).parts)
    assert len(calls) == 1 and exr_module.exr_problem(tmp_path / "fast.exr") is None
    monkeypatch.setattr(exr_module, "_write_changed_parts", lambda *a: False)
    update_exr(source, tmp_path / "full.exr", {"Combined": new})
    assert (tmp_path / "fast.exr").read_bytes() == (tmp_path / "full.exr").read_bytes()
    assert np.array_equal(read_exr(tmp_path / "fast.exr").get("Combined")[..., :3], new)
    monkeypatch.undo()

    plain = tmp_path / "plain.exr"  # single-part: the full write
    write_exr(plain, {"Combined": passes["Combined"]}, layer=None)
    update_exr(plain, tmp_path / "plain_out.exr", {"Combined": new})
    assert np.array_equal(read_exr(tmp_path / "plain_out.exr").get("Combined")[..., :3], new)
    update_exr(source, tmp_path / "added.exr", {"Combined": new, "Extra": new[..., :1]})  # a new part: full write
    out = read_exr(tmp_path / "added.exr")
    assert np.array_equal(out.get("Extra")[..., 0], new[..., 0]) and np.array_equal(out.get("Vector"), passes["Vector"])
