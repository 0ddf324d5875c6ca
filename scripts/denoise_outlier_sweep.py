"""How much a denoiser checkpoint gains from ``outlier_limit`` without retraining (docs/benchmarks.md's table).

For each limit (none first), the checkpoint's own weights with the limit set: mean tone-mapped PSNR over the
full frames of a split at 1/4/16 spp, and the PSNR lost to one 1e4 sample in each of the 4 first fixed test
crops (as tests/tasks/test_shipped_denoiser.py measures it).

    python scripts/denoise_outlier_sweep.py ~/.cache/postpass/runs/denoise_kpn4/best.pt 200 100 50 20
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from addon.runtime.color import exposure_scale  # noqa: E402
from addon.runtime.exr import read_exr  # noqa: E402
from ml_core import data, paths  # noqa: E402
from ml_core.checkpoint import load_checkpoint  # noqa: E402
from ml_core.metrics import render_metrics  # noqa: E402

CROPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "denoise"


@torch.no_grad()
def denoise(model, color, albedo, normal):
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()  # noqa: E731
    exposure = torch.tensor([[exposure_scale(color)]], dtype=torch.float32)
    return model(tensor(color), tensor(albedo), tensor(normal), exposure)[0].numpy().transpose(1, 2, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("limits", nargs="*", type=float)
    parser.add_argument("--data", default=str(paths.cache_dir() / "data"))
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    model, _ = load_checkpoint(Path(args.checkpoint).expanduser())
    model.eval()
    scenes = data.complete_scenes(Path(args.data), args.split)
    for limit in [None, *args.limits]:
        model.outlier_limit = limit
        psnr = {}
        for spp in (1, 4, 16):
            scores = []
            for scene in scenes:
                target = read_exr(scene / "target.exr").get("Combined")[..., :3]
                noisy = read_exr(scene / f"noisy_spp{spp:04d}.exr")
                out = denoise(model, noisy.get("Combined")[..., :3], noisy.get("Denoising Albedo"),
                              noisy.get("Denoising Normal"))
                scores.append(render_metrics(out, target)["psnr"])
            psnr[spp] = float(np.mean(scores))
        drops = []
        for path in sorted(CROPS.glob("*.exr"))[:4]:
            exr = read_exr(path)
            color, albedo, normal = (exr.get("Combined")[..., :3].copy(), exr.get("Denoising Albedo"),
                                     exr.get("Denoising Normal"))
            reference = exr.get("Reference")[..., :3]
            clean = render_metrics(denoise(model, color, albedo, normal), reference)["psnr"]
            color[32, 32] = 1e4
            drops.append(clean - render_metrics(denoise(model, color, albedo, normal), reference)["psnr"])
        print(f"limit {limit}: {args.split} PSNR " + " / ".join(f"{psnr[s]:.2f}" for s in psnr)
              + f" at 1/4/16 spp; a 1e4 firefly costs {np.mean(drops):.2f} dB ({np.round(drops, 2).tolist()})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
