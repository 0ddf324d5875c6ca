"""Issue 25, every image a user has: the model is picked by the passes present and by the source's range
(display-referred 8/16-bit sRGB, or a linear HDR render), the choice is said in one line (the result's
``choice``, an INFO log), and an 8-bit texture comes back 8-bit with its alpha."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import onnx
import pytest
from conftest import copy_models
from onnx import TensorProto, helper

from addon.runtime import ModelError, Registry, denoise, denoise_file, read_image, run, write_exr
from addon.runtime.contract import ImageInput, ImageOutput, ModelContract
from addon.runtime.registry import sha256_of

H, W = 24, 32
NO_PASSES = "the input has no albedo/normal passes; render with Denoising Data for better results"


def render_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """A noisy HDR colour (RGBA), its albedo and normal, by Blender pass name."""
    rng = np.random.default_rng(seed)
    colour = np.exp(rng.uniform(-3, 1.5, (H, W, 3)))
    return {"Combined": np.concatenate([colour, np.ones((H, W, 1))], -1).astype(np.float32),
            "Denoising Albedo": rng.random((H, W, 3)).astype(np.float32),
            "Denoising Normal": rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)}


@pytest.mark.parametrize("passes, model, reason", [
    (("Combined", "Denoising Albedo", "Denoising Normal"), "denoise_kpn", "uses albedo/normal"),
    (("Combined",), "denoise_kpn_color", NO_PASSES),
    (("Combined", "Denoising Albedo"), "denoise_kpn_albedo",
     "uses albedo; the input has no normal pass; render with Denoising Data for better results"),
])
def test_an_exr_gets_the_model_for_its_passes_and_the_reason(denoise_models, tmp_path, caplog, passes, model, reason):
    arrays = render_arrays()
    write_exr(tmp_path / "beauty.exr", {p: arrays[p] for p in passes})
    with caplog.at_level(logging.INFO, logger="postpass.runtime"):
        result = denoise_file(tmp_path / "beauty.exr", tmp_path / "clean.exr", models_dir=denoise_models)
    assert result.model == model and result.choice == f"denoise: {model} ({reason})"
    assert result.choice in caplog.text  # logged once, at INFO
    assert result.better_with == tuple(p for p in ("Denoising Albedo", "Denoising Normal") if p not in passes)
    out = read_image(tmp_path / "clean.exr").get("Combined")
    assert out.shape == (H, W, 4) and np.array_equal(out[..., 3], arrays["Combined"][..., 3])
    assert out[..., :3].max() > 1.0  # a render stays HDR: nothing clipped
    # the same inputs as arrays: the same model; a caller's arrays are "given", not passes
    given = {"albedo": arrays["Denoising Albedo"] if "Denoising Albedo" in passes else None,
             "normal": arrays["Denoising Normal"] if "Denoising Normal" in passes else None}
    direct = run("denoise", {"color": arrays["Combined"], **given}, models_dir=denoise_models)
    assert direct.model == model and np.array_equal(direct.image, result.image)


@pytest.mark.parametrize("name, dtype", [("texture.png", np.uint8), ("texture16.png", np.uint16),
                                         ("photo.jpg", np.uint8), ("scan.tif", np.uint16)])
def test_an_ldr_image_runs_the_srgb_model_clipped_and_keeps_bit_depth_and_alpha(denoise_models, tmp_path, name,
                                                                                   dtype):
    rng = np.random.default_rng(1)
    channels = 3 if name.endswith(".jpg") else 4
    top = np.iinfo(dtype).max
    pixels = (rng.random((H, W, channels)) * top).astype(dtype)
    pixels[:4] = top  # a white band: the HDR model's output there goes above 1 and must come back clipped
    cv2.imwrite(str(tmp_path / name), pixels)
    result = denoise_file(tmp_path / name, tmp_path / f"out_{name}", models_dir=denoise_models)
    assert result.model == "denoise_kpn_ldr" and result.better_with == ()  # an 8-bit image has no passes
    assert result.choice == "denoise: denoise_kpn_ldr (an 8/16-bit sRGB source)"
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    out = cv2.imread(str(tmp_path / f"out_{name}"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == dtype and out.shape == pixels.shape
    if channels == 4:
        assert np.array_equal(out[..., 3], pixels[..., 3])  # alpha unchanged, bit for bit
    # the array API says the same when told the range; unknown, it clips nothing
    linear = read_image(tmp_path / name).get("Combined")
    assert np.array_equal(run("denoise", {"color": linear}, models_dir=denoise_models, source_range="ldr").image,
                          result.image)


def test_a_missing_model_is_still_one_line(denoise_models, tmp_path):
    only_full = copy_models(denoise_models, ["denoise_kpn"], tmp_path / "models")
    write_exr(tmp_path / "beauty.exr", {"Combined": render_arrays()["Combined"]})
    with pytest.raises(ModelError, match=r"^no denoise fp32 model in .* fits inputs color \(its denoise models: "
                                         r"denoise_kpn \(x1 fp32: needs color, albedo, normal") as info:
        denoise_file(tmp_path / "beauty.exr", tmp_path / "clean.exr", models_dir=only_full)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="^source_range must be one of ldr, hdr or None, not 'sdr'$"):
        denoise(np.ones((8, 8, 3), np.float32), models_dir=denoise_models, source_range="sdr")


# ----------------------------------------------------------------------------------------------------------
# The range preference itself, on a registry holding both kinds (none ships an sRGB denoiser yet)
# ----------------------------------------------------------------------------------------------------------
def passthrough_model(folder, name: str, color_space: str) -> None:
    """Publish ``name``: a denoise model whose output is its ``color`` input, read in ``color_space``."""
    contract = ModelContract(task="denoise", inputs=(ImageInput("color", ("R", "G", "B"), color_space,
                                                                hdr=color_space == "linear", pass_name="Combined"),),
                             outputs=(ImageOutput("denoised", ("R", "G", "B"), color_space, pass_name="Combined"),))
    tensor = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", "W"])  # noqa: E731
    graph = helper.make_graph([helper.make_node("Identity", ["color"], ["denoised"])], name, [tensor("color")],
                              [tensor("denoised")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    metadata = {**contract.to_metadata(), "name": name, "version": "0.0.1", "precision": "fp32"}
    onnx.helper.set_model_props(model, metadata)
    data = model.SerializeToString()
    (folder / f"{name}.onnx").write_bytes(data)
    Registry(folder, create=True).publish(name, f"{name}.onnx", sha256_of(data), metadata)


def test_the_source_range_picks_an_srgb_model_for_8bit_and_a_linear_one_for_renders(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    passthrough_model(folder, "denoise_linear", "linear")
    passthrough_model(folder, "denoise_srgb", "srgb")
    registry = Registry(folder)
    assert registry.choice("denoise", {"color"}, source_range="ldr").entry.name == "denoise_srgb"
    assert registry.choice("denoise", {"color"}, source_range="hdr").entry.name == "denoise_linear"
    assert registry.choice("denoise", {"color"}).entry.name == "denoise_linear"  # no range: the earliest, as before
    assert registry.choice("denoise", {"color"}, source_range="ldr").reason == "an 8/16-bit sRGB source"
    assert registry.choice("denoise", {"color"}, source_range="hdr").reason == "color only"

    rgba = np.random.default_rng(2).random((H, W, 4)).astype(np.float32)
    cv2.imwrite(str(tmp_path / "t.png"), (rgba * 255).astype(np.uint8))
    assert denoise_file(tmp_path / "t.png", tmp_path / "o.png", models_dir=folder).model == "denoise_srgb"
    write_exr(tmp_path / "t.exr", {"Combined": rgba * 4})
    hdr = denoise_file(tmp_path / "t.exr", tmp_path / "o.exr", models_dir=folder)
    assert hdr.model == "denoise_linear" and hdr.image.max() > 1  # no clip for a render
    # a named model of the other range runs, and the reason says what that costs
    named = run("denoise", {"color": rgba * 4}, model="denoise_srgb", models_dir=folder, source_range="hdr")
    assert named.choice == ("denoise: denoise_srgb (chosen by name; an HDR source on this sRGB model: values above "
                            "1.0 clip)")


def test_an_array_with_values_above_one_gets_a_linear_model(tmp_path):
    # the README's `upres(clean, scale=2)` on a denoised render: an array of unknown range whose highlights
    # an sRGB model would clip; before, the registry's earliest model (here the sRGB one) ran on it
    folder = tmp_path / "models"
    folder.mkdir()
    passthrough_model(folder, "denoise_srgb", "srgb")
    passthrough_model(folder, "denoise_linear", "linear")
    rgb = np.random.default_rng(3).random((H, W, 3)).astype(np.float32)
    assert run("denoise", {"color": rgb}, models_dir=folder).model == "denoise_srgb"  # [0, 1]: no preference
    render = run("denoise", {"color": rgb * 4}, models_dir=folder)
    assert render.model == "denoise_linear" and render.image.max() > 1
    assert denoise(rgb * 4, models_dir=folder).max() > 1
    assert run("denoise", {"color": rgb * 4}, models_dir=folder, source_range="ldr").model == "denoise_srgb"
