"""Image files: Cycles' multi-part EXRs read by pass name and written back whole, the OpenCV formats with sRGB
at the boundary, the file API on a real render, and a clear one-line error for each kind of bad file."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import OpenEXR
import pytest

from addon.runtime import (ImageError, colorize_file, denoise_file, inbetween_file, read_exr, read_image,
                           update_exr, upres_file, write_exr, write_image)
from addon.runtime.color import srgb_encode


def raw_parts(path):
    """[(part name, header repr by key, {channel: pixels})] straight from OpenEXR."""
    return [(p.name(), {k: repr(v) for k, v in p.header.items()}, {n: c.pixels for n, c in p.channels.items()})
            for p in OpenEXR.File(str(path), separate_channels=True).parts]


def test_cycles_exr_written_back_keeps_every_other_part_and_the_header(cycles_render, tmp_path):
    source = cycles_render / "noisy_spp0004.exr"
    render = read_exr(source)
    assert render.multilayer and {"Combined", "Denoising Albedo", "Denoising Normal", "Vector"} <= set(render.passes)
    assert render.header["cycles.ViewLayer.samples"] == "4"
    new_rgb = render.get("Combined")[..., :3] * 0.5 + 1.0
    update_exr(source, tmp_path / "out.exr", {"Combined": new_rgb})  # RGB into RGBA: alpha kept
    before, after = raw_parts(source), raw_parts(tmp_path / "out.exr")
    assert [p[0] for p in after] == [p[0] for p in before]
    for (name, header_before, chans_before), (_, header_after, chans_after) in zip(before, after):
        assert header_after == header_before, name
        for channel, pixels in chans_before.items():
            if channel in ("ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B"):
                assert np.array_equal(chans_after[channel], new_rgb[..., "RGB".index(channel[-1])])
            else:
                assert np.array_equal(chans_after[channel], pixels), channel


def test_denoise_file_on_a_cycles_render(cycles_render, models_dir, tmp_path):
    source = cycles_render / "noisy_spp0004.exr"
    result = denoise_file(source, tmp_path / "clean.exr", models_dir=models_dir, tile_size=16)
    assert result.model == "denoise_aux"  # the render holds albedo and normal, so the guided model runs
    original, clean = read_exr(source), read_exr(tmp_path / "clean.exr")
    assert set(clean.passes) == set(original.passes) and clean.header == original.header
    assert np.array_equal(clean.get("Combined")[..., :3], result.image[..., :3])
    assert np.array_equal(clean.get("Combined")[..., 3], original.get("Combined")[..., 3])
    assert np.array_equal(clean.get("Vector"), original.get("Vector"))

    denoise_file(source, tmp_path / "clean.png", models_dir=models_dir)
    png = read_image(tmp_path / "clean.png").get("Combined", 4)
    assert np.abs(srgb_encode(png[..., :3]) - srgb_encode(result.image[..., :3])).max() <= 1 / 65535 + 1e-6


def test_inbetween_and_upres_files_use_the_render_passes(cycles_render, models_dir, tmp_path):
    mid = inbetween_file(cycles_render / "frame_0001.exr", cycles_render / "frame_0003.exr", tmp_path / "f2.exr",
                         models_dir=models_dir)
    assert mid.model == "inbetween_vectors" and mid.scalars["t"] == 0.5
    frame = read_exr(tmp_path / "f2.exr")
    assert frame.multilayer and list(frame.passes) == ["Combined"] and frame.size == (48, 48)
    assert frame.header["Frame"] == read_exr(cycles_render / "frame_0001.exr").header["Frame"]

    low = cycles_render / "lowres_x2.exr"
    guided = upres_file(low, tmp_path / "up.exr", scale=2, guide=cycles_render / "target.exr", models_dir=models_dir)
    plain = upres_file(low, tmp_path / "up_plain.exr", scale=2, models_dir=models_dir)
    assert (guided.model, plain.model) == ("upres_x2_guided", "upres_x2")
    assert read_exr(tmp_path / "up.exr").size == (48, 48) and guided.image.shape == (48, 48, 4)


def test_an_upres_of_a_crop_keeps_its_place_in_the_scaled_frame(models_dir, tmp_path):
    # A comp's crop: 20x16 pixels at (5, 3) of a 40x24 frame. Up-ressed x2 it lies at (10, 6), 40x32, of an
    # 80x48 frame, as Nuke's Reformat scales it; before, it came out at the origin in a 40x32 frame.
    rgba = np.random.default_rng(4).random((16, 20, 4)).astype(np.float32)
    window = {"dataWindow": (np.array([5, 3], np.int32), np.array([24, 18], np.int32)),
              "displayWindow": (np.array([0, 0], np.int32), np.array([39, 23], np.int32))}
    for name, prefix in (("plain.exr", ""), ("layers.exr", "ViewLayer.Combined.")):
        part = OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **window},
                            {prefix + c: np.ascontiguousarray(rgba[..., i]) for i, c in enumerate("RGBA")})
        OpenEXR.File([part]).write(str(tmp_path / name))
        crop = read_exr(tmp_path / name)
        assert (crop.data_window, crop.display_window) == ((5, 3, 24, 18), (0, 0, 39, 23))
        upres_file(tmp_path / name, tmp_path / f"up_{name}", scale=2, models_dir=models_dir)
        up = read_exr(tmp_path / f"up_{name}")
        assert (up.data_window, up.display_window, up.size) == ((10, 6, 49, 37), (0, 0, 79, 47), (32, 40)), name
        denoise_file(tmp_path / name, tmp_path / f"dn_{name}", models_dir=models_dir)  # the same size: as it was
        clean = read_exr(tmp_path / f"dn_{name}")
        assert (clean.data_window, clean.display_window) == (crop.data_window, crop.display_window), name


def test_colorize_file_with_a_painted_hint_image(models_dir, tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "gray.png", rng.random((32, 40, 1)), bit_depth=8)
    hints = np.zeros((32, 40, 4), np.float32)
    hints[10:12, 10:12] = (1.0, 0.2, 0.1, 1.0)
    write_image(tmp_path / "hints.png", hints)
    result = colorize_file(tmp_path / "gray.png", tmp_path / "color.jpg", hints=tmp_path / "hints.png",
                           models_dir=models_dir)
    assert result.model == "colorize" and result.image.shape == (32, 40, 3)
    assert read_image(tmp_path / "color.jpg").get("Combined").shape == (32, 40, 3)
    no_hints = colorize_file(tmp_path / "gray.png", tmp_path / "plain.png", models_dir=models_dir)
    assert not np.array_equal(no_hints.image, result.image)  # the hints reached the network


@pytest.mark.parametrize("suffix, bit_depth, tolerance", [
    (".exr", None, 0.0), (".png", 16, 1 / 65535), (".png", 8, 0.5 / 255), (".tif", 16, 1 / 65535),
    (".tif", 8, 0.5 / 255), (".tif", 32, 0.0), (".jpg", None, 0.01)])
def test_formats_round_trip_with_srgb_at_the_boundary(tmp_path, suffix, bit_depth, tolerance):
    y, x = np.mgrid[0:24, 0:32] / np.array([23.0, 31.0])[:, None, None]
    image = np.stack([x, y, x * y, 1.0 - x], axis=-1).astype(np.float32)  # smooth, so JPEG's loss stays small
    path = tmp_path / f"image{suffix}"
    write_image(path, image, bit_depth=bit_depth)
    back = read_image(path).get("Combined")
    keep = 3 if suffix == ".jpg" else 4  # JPEG has no alpha
    assert back.shape == (24, 32, keep)
    encoded = np.concatenate([srgb_encode(back[..., :3]), back[..., 3:]], -1)
    expected = np.concatenate([srgb_encode(image[..., :3]), image[..., 3:keep]], -1)
    error = np.abs(encoded - expected)
    assert (error.mean() if suffix == ".jpg" else error.max()) <= tolerance + 1e-6
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_opencv_channel_order_and_grey_images(tmp_path):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 255  # OpenCV stores BGR
    cv2.imwrite(str(tmp_path / "red.png"), red)
    assert read_image(tmp_path / "red.png").get("Combined")[0, 0].tolist() == [1.0, 0.0, 0.0]
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((4, 4), 188, np.uint8))
    grey = read_image(tmp_path / "grey.png").get("Combined")
    assert grey.shape == (4, 4, 1) and grey[0, 0, 0] == pytest.approx(0.5, abs=0.003)  # sRGB 188 ~ linear 0.5


def test_a_jpeg_is_read_upright_as_its_exif_orientation_says(models_dir, tmp_path):
    # a camera's portrait photo: stored 40 wide and 20 high, left half red, EXIF orientation 6 (turn it 90
    # degrees clockwise to show it): viewers show it 20 wide, red on top; results are written without the tag
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20, 2] = 255  # OpenCV stores BGR
    jpeg = cv2.imencode(".jpg", stored)[1].tobytes()
    ifd = b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") \
        + bytes.fromhex("1201 0300 01000000 0600 0000") + bytes(4)  # Orientation (SHORT) = 6; no next IFD
    app1 = b"Exif\x00\x00" + ifd
    (tmp_path / "portrait.jpg").write_bytes(jpeg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
                                            + jpeg[2:])
    photo = read_image(tmp_path / "portrait.jpg").get("Combined")
    assert photo.shape == (40, 20, 3)
    assert photo[5, 10, 0] > 0.9 > 0.1 > photo[35, 10, 0]  # red on top
    denoise_file(tmp_path / "portrait.jpg", tmp_path / "clean.png", models_dir=models_dir)
    assert read_image(tmp_path / "clean.png").size == (40, 20)


def test_bad_files_give_one_line_errors_naming_the_file(cycles_render, models_dir, tmp_path):
    noisy = cycles_render / "noisy_spp0004.exr"
    truncated = tmp_path / "truncated.exr"
    truncated.write_bytes(noisy.read_bytes()[:40000])
    stub = tmp_path / "stub.exr"
    stub.write_bytes(noisy.read_bytes()[:300])
    plain = tmp_path / "plain.exr"
    write_exr(plain, {"Combined": np.ones((16, 16, 4), np.float32)}, layer=None)
    two_channel_normal = tmp_path / "normal2.exr"
    write_exr(two_channel_normal, {"Combined": np.ones((16, 16, 4)), "Denoising Albedo": np.ones((16, 16, 3)),
                                   "Denoising Normal": np.ones((16, 16, 2))})
    with_nan = tmp_path / "nan.exr"
    nan_image = np.ones((16, 16, 3), np.float32)
    nan_image[2, 3] = np.nan
    write_exr(with_nan, {"Combined": nan_image}, layer=None)
    not_png = tmp_path / "text.png"
    not_png.write_text("hello")
    shutil.copy(cycles_render / "lowres_x2.exr", tmp_path / "low.exr")
    opts = {"models_dir": models_dir}
    cases = [
        (lambda: read_image(truncated),
         rf"^{truncated}: truncated or damaged OpenEXR file \(cannot read ViewLayer\.Depth, "),
        (lambda: read_image(stub), rf"^{stub}: truncated or damaged OpenEXR file \(header cut off at byte 300\)$"),
        (lambda: read_image(tmp_path / "missing.exr"), r"missing.exr: file does not exist$"),
        (lambda: denoise_file(truncated, tmp_path / "o.exr", **opts), rf"^{truncated}: truncated or damaged OpenEXR"),
        (lambda: denoise_file(plain, tmp_path / "o.exr", model="denoise_aux", **opts),
         rf"^{plain}: missing pass 'Denoising Albedo' \(layer 'ViewLayer'; passes here: Combined\)$"),
        (lambda: denoise_file(two_channel_normal, tmp_path / "o.exr", **opts),
         rf"^{two_channel_normal} \[Denoising Normal\]: has 2 channels; expected 3 \(X, Y, Z\)$"),
        (lambda: upres_file(tmp_path / "low.exr", tmp_path / "o.exr", guide=tmp_path / "low.exr", **opts),
         rf"^{tmp_path / 'low.exr'} \[Denoising Albedo\]: is 24x24; expected 48x48 \(scale x the size of "),
        (lambda: denoise_file(with_nan, tmp_path / "o.exr", nonfinite="error", **opts),
         rf"^{with_nan} \[Combined\]: 3 NaN/Inf values"),
        (lambda: read_image(not_png), r"text.png: unreadable image \(OpenCV cannot decode it\)$"),
        (lambda: read_image(tmp_path / "x.bmp"), r"x.bmp: unsupported image type '.bmp'; use one of .exr, .png"),
        (lambda: write_image(tmp_path / "x.png", np.ones((2, 2, 3)), bit_depth=12), r"cannot write 12-bit .png"),
        (lambda: denoise_file(noisy, tmp_path / "o.exr", bit_depth=16, **opts), r"written as 32-bit float"),
    ]
    for call, pattern in cases:
        with pytest.raises(ImageError, match=pattern) as info:
            call()
        assert "\n" not in str(info.value)
    assert not (tmp_path / "o.exr").exists()
