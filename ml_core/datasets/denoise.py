"""Denoise: noisy colour at a sampled spp + its albedo, normal, depth -> the high-spp target.

``fireflies``: the fraction of training items that get 1-3 extra single-pixel outliers in the noisy colour
(10^3 to 10^5 times the crop's mean level by default, ``firefly_range`` in log10; a random tint; the target
unchanged): the rare caustic-path samples
that a few hundred scenes show too seldom for the network to learn to discard them, and which a kernel
predictor otherwise spreads into a blob (its output is an average of its input's pixels). Outliers as low as
100x the mean taught the network to drop the real sparse samples of 1-spp renders too (-0.6 dB at 1 spp).

``ldr``: the pairs as artists save them (issue 25: 8-bit PNG, JPEG, TIFF of a render), for sRGB-input models.
The noisy render and the target are exposed by one factor (the target's :func:`exposure_scale` times 2^-1 .. 2^1,
artists expose by eye), put through a display curve, sRGB-encoded, and the noisy one quantised to 8 bits (a
sixteenth to 16 bits; ``jpeg`` of them also JPEG-compressed at quality 75-98, after the crop, as a file would
be). Curves: half the pairs clip as Blender's "Standard" view does (the benchmark's ``display_8bit``), half roll
highlights off smoothly (``x / (1 + x / w)`` with a white point w of 2-16, normalised to 1 there), as filmic
views (AgX, Filmic) and photo tools do: the model must not learn one curve's clipped highlights as the only kind.

``clean_guides: "supervise"`` (issue 30): the clean guides the v2 target stores (its Denoising Albedo and Normal at
512 spp) beside the noisy ones, as ``albedo_clean`` / ``normal_clean``, for a model that learns to clean its guides
(``denoise_kpn``'s ``prefilter``, as OIDN's Accurate mode prefilters them). ``clean_guides: "input"``: the model
reads those clean guides in place of the noisy ones (OIDN's ``cleanAux``), which measures what a perfect prefilter
could give at most (docs/benchmarks.md: +0.49 dB on the authored set, issue 30).

A noisy render that Blender denoised (Denoise on with Denoising Data: Combined is Blender's OIDN result, the raw
render "Noisy Image"; what ``export.finetune`` renders of a shot) gives its raw render as ``color``, as the runtime
reads such a file; ``blender_denoised`` also gives Blender's result (for a model that improves on it), and
requires such renders.
"""
from __future__ import annotations

import cv2
import numpy as np

from addon.runtime.color import exposure_scale, srgb_encode
from addon.runtime.contract import BLENDER_DENOISED_PASS, RAW_RENDER_PASS, as_raw_render

from ..transforms import NORMAL
from .base import DATASETS, SceneDataset


@DATASETS.register("denoise")
class DenoiseDataset(SceneDataset):
    kinds = {"normal": NORMAL, "normal_clean": NORMAL}
    CLEAN_GUIDES = (None, "supervise", "input")

    def __init__(self, root, split: str, spp: tuple[int, ...] | None = None, fireflies: float = 0.0,
                 firefly_range: tuple[float, float] = (3.0, 5.0), ldr: bool = False, jpeg: float = 0.0,
                 clean_guides: str | None = None, blender_denoised: bool = False, **options):
        if clean_guides not in self.CLEAN_GUIDES:
            raise ValueError(f"clean_guides must be one of {self.CLEAN_GUIDES}, got {clean_guides!r}")
        super().__init__(root, split, **options)
        self.clean_guides, self.blender_denoised = clean_guides, blender_denoised
        self.fireflies, self.firefly_range = fireflies, tuple(firefly_range)
        self.ldr, self.jpeg = ldr, jpeg
        available = sorted(int(p.stem[-4:]) for p in self.scenes[0].glob("noisy_spp*.exr"))
        self.spp = tuple(spp) if spp else tuple(available)
        missing = set(self.spp) - set(available)
        if missing:
            raise ValueError(f"{self.root}: no noisy renders at {sorted(missing)} spp (have {available})")

    def load(self, scene, rng):
        spp = int(rng.choice(self.spp))
        # A render Blender denoised (a shot fine-tune's views) is read as the runtime reads it: its raw render is
        # the colour, Blender's result ``blender_denoised`` (for a model that improves on it)
        noisy = as_raw_render(self.passes(scene, f"noisy_spp{spp:04d}.exr"))
        target = self.passes(scene, "target.exr")
        color = noisy["Combined"][..., :3]
        if self.ldr:
            return self._displayed(color, target["Combined"][..., :3], rng), {"spp": float(spp)}
        # Aux passes come from the noisy render itself: that is what a user's render provides.
        sample = {"color": color, "albedo": np.clip(noisy["Denoising Albedo"], 0.0, 1.0),
                  "normal": noisy["Denoising Normal"], "depth": noisy["Denoising Depth"],
                  "target": target["Combined"][..., :3]}
        if self.blender_denoised:
            if BLENDER_DENOISED_PASS not in noisy:
                raise ValueError(f"{scene}: noisy_spp{spp:04d}.exr is not a render Blender denoised (no "
                                 f"{RAW_RENDER_PASS!r} pass): blender_denoised needs one")
            sample["blender_denoised"] = noisy[BLENDER_DENOISED_PASS]
        if self.clean_guides == "input":  # the model reads clean guides (OIDN's cleanAux), as a prefilter gives
            sample["albedo"] = np.clip(target["Denoising Albedo"], 0.0, 1.0)
            sample["normal"] = target["Denoising Normal"]
        elif self.clean_guides == "supervise":
            sample["albedo_clean"] = np.clip(target["Denoising Albedo"], 0.0, 1.0)
            sample["normal_clean"] = target["Denoising Normal"]
        return sample, {"spp": float(spp)}

    @staticmethod
    def _displayed(noisy: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The noisy render and the target as one display curve shows them, sRGB-encoded; the noisy one
        quantised as its file stores it."""
        exposure = exposure_scale(target) * 2.0 ** rng.uniform(-1.0, 1.0)
        white = 2.0 ** rng.uniform(1.0, 4.0) if rng.random() < 0.5 else None

        def curve(x):
            x = np.maximum(x * exposure, 0.0)
            return x if white is None else x / (1.0 + x / white) * (1.0 + 1.0 / white)

        levels = 65535.0 if rng.random() < 1 / 16 else 255.0
        return {"color": (np.round(srgb_encode(curve(noisy)) * levels) / levels).astype(np.float32),
                "target": srgb_encode(curve(target))}

    def finish(self, sample, rng):
        if self.ldr and self.jpeg and rng.random() < self.jpeg:
            quality = int(rng.integers(75, 99))
            ok, buf = cv2.imencode(".jpg", np.round(sample["color"][..., ::-1] * 255).astype(np.uint8),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
            sample = {**sample, "color": (cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] / 255.0).astype(np.float32)}
        if not (self.augment and self.fireflies) or rng.random() >= self.fireflies:
            return sample
        color = sample["color"].copy()
        h, w = color.shape[:2]
        level = max(float(color.mean()), 1e-3)
        for _ in range(int(rng.integers(1, 4))):
            tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
            color[rng.integers(h), rng.integers(w)] = level * 10.0 ** rng.uniform(*self.firefly_range) * tint
        return {**sample, "color": color}
