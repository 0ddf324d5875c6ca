"""How far the shipped colorizer's automatic (0-hint) colour can be pushed: chroma gain s on its output
(linear: out' = gray + s (out - gray)), mean RGB PSNR and colourfulness per image set (docs/benchmarks.md).

    python scripts/colorize_chroma_gain.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import colorize as bc  # noqa: E402
from ml_core import paths  # noqa: E402
from ml_core.metrics import psnr  # noqa: E402
from addon.runtime import api  # noqa: E402
from addon.runtime.color import srgb_decode, srgb_encode  # noqa: E402

GAINS = (1.0, 1.5, 2.0, 3.0)


def main() -> int:
    cache = paths.cache_dir()
    sets = {"test": bc.render_images(cache / "data", "test"),
            "palette_test": bc.render_images(cache / "data_palette", "palette_test"),
            "photos": bc.photo_images()}
    for name, images in sets.items():
        scores, grey = {s: [] for s in GAINS}, []
        for _, image in images:
            gray = bc.gray_of(image)
            linear_gray = srgb_decode(gray)[..., None]
            out = api.colorize(linear_gray, model="colorize_unet")[..., :3]
            grey.append(psnr(np.repeat(gray[..., None], 3, -1), image))
            for s in GAINS:
                pushed = srgb_encode(np.clip(linear_gray + s * (out - linear_gray), 0, None))
                scores[s].append((psnr(np.clip(pushed, 0, 1), image), bc.colourfulness(pushed)))
        cells = ", ".join(f"s={s:g}: {np.mean([p for p, _ in v]):.2f} dB / {np.mean([c for _, c in v]):.1f}"
                          for s, v in scores.items())
        print(f"{name} ({len(images)} images): grey {np.mean(grey):.2f} dB; {cells}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
