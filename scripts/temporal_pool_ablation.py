"""Issue 26 ablation: what the temporal denoiser's pool is worth to another network (docs/benchmarks.md).

``denoise_kpn_temporal`` 0.2.0 averages frame f's colour, albedo and normal with frames f - 1 and f + 1, warped
onto frame f along its Vector pass, where fixed agreement tests pass, then runs the per-frame network on that
pool. Here the same pool (``ml_core``'s ``DenoiseKPNAccumulate.accumulate`` at its fixed gains, those 0.2.0
ships) is denoised by our per-frame ``denoise_kpn``, by Blender's OIDN (Accurate, High) and by pyoidn (High),
with the neighbours warped bilinearly (as the runtime does) or to the nearest pixel (the samples keep their
noise uncorrelated between pixels). The methods join ``bench temporal``'s in one run on its sets, so the rows
compare with Blender OIDN per frame and the shipped models on the same inputs.

    python scripts/temporal_pool_ablation.py --out out/temporal_pool --spp 4 16
    python scripts/temporal_pool_ablation.py --out out/temporal_pool_hq --authored ~/.cache/postpass/authored_hq
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.temporal as temporal  # noqa: E402
from addon.runtime import api  # noqa: E402
from addon.runtime.color import exposure_scale  # noqa: E402
from addon.runtime.motion import flow_to, warp_neighbour  # noqa: E402
from bench import peers  # noqa: E402
from ml_core import paths  # noqa: E402
from ml_core.models.denoise_temporal import DenoiseKPNAccumulate  # noqa: E402

POOL = DenoiseKPNAccumulate(finest_kernel=3).eval()  # only its pooling (fixed gains, no weights) is used


def warp_nearest(image: np.ndarray, vector: np.ndarray, which: str) -> np.ndarray:
    import cv2

    flow = flow_to(vector, which)
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(np.ascontiguousarray(image, dtype=np.float32), gx + flow[..., 0], gy + flow[..., 1],
                     interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


@torch.no_grad()
def pooled(frames: list[dict], f: int, nearest: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``f``'s (colour, albedo, normal) pooled with its warped neighbours, as 0.2.0 pools them."""
    x = temporal.temporal_inputs(frames, f)
    h, w = x["color"].shape[:2]
    inputs = {k: x[k] for k in ("color", "albedo", "normal", "vector")}
    for n in ("prev", "next"):
        if x[f"{n}_color"] is None:  # absent at the ends: zeros, as the runtime feeds it
            moved = np.zeros((h, w, 9), np.float32)
        else:
            stack = np.concatenate([x[f"{n}_color"], x[f"{n}_albedo"], x[f"{n}_normal"]], -1)
            moved = (warp_nearest if nearest else warp_neighbour)(stack, x["vector"], n)
        inputs.update({f"{n}_color": moved[..., :3], f"{n}_albedo": moved[..., 3:6], f"{n}_normal": moved[..., 6:]})
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None].float() for k, v in inputs.items()}
    tensors["exposure"] = torch.tensor([exposure_scale(x["color"])], dtype=torch.float32)
    out = POOL.accumulate(tensors)
    return tuple(np.ascontiguousarray(out[k][0].numpy().transpose(1, 2, 0)) for k in ("color", "albedo", "normal"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--spp", type=int, nargs="+", default=[4, 16])
    p.add_argument("--data", type=Path, default=paths.cache_dir() / "data_temporal")
    p.add_argument("--authored", type=Path, default=None, help="authored set folder (default: CACHE/authored)")
    args = p.parse_args()
    shared = {}

    def blender_oidn(c, a, n):
        if "oidn" not in shared:
            shared["oidn"] = peers.BlenderOIDN("Accurate", "High")
        return shared["oidn"](c, a, n)

    def ours(c, a, n):
        return api.run("denoise", {"color": c, "albedo": a, "normal": n}, model="denoise_kpn").image

    networks = {"denoise_kpn": ours, "Blender OIDN": blender_oidn, "pyoidn": peers.pyoidn_denoise}
    added = {f"pool{' (nearest)' if nearest else ''} + {name}":
             (lambda fn=fn, nearest=nearest: lambda frames, done: [fn(*pooled(frames, f, nearest))
                                                                   for f in range(len(frames))])
             for name, fn in networks.items() for nearest in (False, True)}
    makers = temporal.method_makers

    def with_pools(models_dir=None):
        found, missing = makers(models_dir)
        return {**found, **added}, missing

    temporal.method_makers = with_pools
    methods = ["noisy", temporal.PEER, temporal.PYOIDN, "postpass denoise_kpn", temporal.TEMPORAL_DEFAULT, *added]
    result = temporal.run(args.data, spp=tuple(args.spp), out=args.out, hd_repeats=0, methods=methods,
                          authored=args.authored)
    print(temporal.markdown_table(result))


if __name__ == "__main__":
    main()
