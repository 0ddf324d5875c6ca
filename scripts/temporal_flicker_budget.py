"""Issue 26: where the temporal error of Blender's OIDN and of ``denoise_oidn_temporal`` is, and what is left of
their ratio against references without noise (docs/benchmarks.md).

For each authored animation at 4 spp, Blender's OIDN per frame (Accurate, High) and the shipped
``denoise_oidn_temporal`` on those frames, as ``bench temporal`` runs them, scored against two reference sets of
the same frames at different samples: the default authored set's (1536 spp) and ``--low-references``'s (an
authored set built with ``--frame-reference-spp 384``). Printed per scene:

- the temporal error (``bench.temporal.temporal_errors``) against each reference set;
- against the default references, its share on *edges* (the reference's top 20% of gradient), *flat* pixels and
  pixels with *no surface* in the previous frame, and the model's error there as a ratio to OIDN's;
- a reference's own noise is new in every frame, so it counts in every method's error. Fitting ``E^2 = a + b /
  spp`` per scene and method to the two levels, ``sqrt(a)`` estimates the error against a noise-free reference
  (the noise-free ratio), ``E`` at 2 x the default samples what a reference twice as long would read.

    python -m ml_core.authored build --out ~/.cache/postpass/authored_384 --frame-reference-spp 384 \\
        --only anim_room_lamp anim_turntable anim_neon_walk anim_fur_roll
    python scripts/temporal_flicker_budget.py --low-references ~/.cache/postpass/authored_384
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.temporal as temporal  # noqa: E402
from addon.runtime.color import exposure_scale, tonemap  # noqa: E402
from addon.runtime.motion import warp_neighbour  # noqa: E402
from bench import peers  # noqa: E402

MODEL = "denoise_oidn_temporal"


def regions(reference: np.ndarray, vector: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of frame t's pixels: ``no surface`` (nothing of the previous frame lands there), ``edge`` (the
    reference's top 20% of tone-mapped gradient) and ``flat`` (the rest)."""
    import cv2

    grey = tonemap(reference, exposure_scale(reference)).mean(-1)
    gradient = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    edge = gradient > np.percentile(gradient, 80)
    present = warp_neighbour(np.ones_like(reference[..., :1]), vector, "prev")[..., 0] > 0.999
    return {"edge": edge & present, "flat": ~edge & present, "no surface": ~present}


def noise_free(high: float, low: float, spp_high: int, spp_low: int, at: float = 0.0) -> float:
    """``E`` at ``at`` samples (0: infinite) from ``E^2 = a + b / spp`` through (spp_low, low), (spp_high, high)."""
    b = max(0.0, (low ** 2 - high ** 2) / (1.0 / spp_low - 1.0 / spp_high))
    a = max(0.0, high ** 2 - b / spp_high)
    return float(np.sqrt(a + (b / at if at else 0.0)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authored", type=Path, default=None, help="the authored set (default: the cache's)")
    p.add_argument("--low-references", type=Path, required=True,
                   help="an authored set of the same animations with fewer per-frame reference samples")
    p.add_argument("--spp", type=int, default=4)
    args = p.parse_args()
    found, note = temporal.authored_sequences(args.authored, (args.spp,))
    if found is None:
        sys.exit(f"temporal_flicker_budget: {note}")
    print(note)
    blender = peers.BlenderOIDN("Accurate", "High")
    model = temporal.TemporalMethod(MODEL, None, lambda: blender)
    totals: dict[str, list[float]] = {}
    for scene, frames in zip(found.scenes.scenes, found.frames):
        low_scene = args.low_references.expanduser() / scene.name
        refs, vectors, _ = temporal.read_references(scene, found.layout, frames)
        low_refs, _, _ = temporal.read_references(low_scene, found.layout, frames)
        spp_high, spp_low = (json.loads((s / "manifest.json").read_text())["files"]["frame_0001_reference.exr"]["spp"]
                             for s in (scene, low_scene))
        sequence = temporal.read_sequence(scene, found.layout, frames, args.spp)
        oidn = [blender(x["color"], x["albedo"], x["normal"]) for x in sequence]
        ours = model(sequence, {temporal.PEER: oidn})
        row = {}
        for name, outputs in (("oidn", oidn), ("ours", ours)):
            high = float(np.mean(temporal.temporal_errors(outputs, refs, vectors)))
            low = float(np.mean(temporal.temporal_errors(outputs, low_refs, vectors)))
            row[name] = (high, low, noise_free(high, low, spp_high, spp_low),
                         noise_free(high, low, spp_high, spp_low, at=2 * spp_high))
            for key, value in zip(("high", "low", "free", "double"), row[name]):
                totals.setdefault(f"{name} {key}", []).append(value)
        shares = {}
        maps = {name: temporal.temporal_error_maps(outputs, refs, vectors)
                for name, outputs in (("oidn", oidn), ("ours", ours))}
        for t in range(1, frames):
            for region, mask in regions(refs[t], vectors[t]).items():
                for name in maps:
                    shares.setdefault((region, name), []).append(float(np.abs(maps[name][t - 1]).mean(-1)[mask].sum()))
        total_oidn = sum(sum(v) for (region, name), v in shares.items() if name == "oidn")
        split = ", ".join(f"{region} {sum(shares[region, 'oidn']) / total_oidn:.0%} of OIDN's "
                          f"(ours {sum(shares[region, 'ours']) / max(sum(shares[region, 'oidn']), 1e-12):.2f}x)"
                          for region in ("edge", "flat", "no surface"))
        o, u = row["oidn"], row["ours"]
        print(f"{scene.name}: temporal error x 1000, OIDN / ours (ratio): {spp_low} spp references "
              f"{o[1] * 1e3:.2f} / {u[1] * 1e3:.2f} ({u[1] / o[1]:.2f}x); {spp_high} spp {o[0] * 1e3:.2f} / "
              f"{u[0] * 1e3:.2f} ({u[0] / o[0]:.2f}x); {2 * spp_high} spp (fit) {u[3] / o[3]:.2f}x; noise-free "
              f"(fit) {o[2] * 1e3:.2f} / {u[2] * 1e3:.2f} ({u[2] / o[2]:.2f}x). Where: {split}")
    mean = {k: float(np.mean(v)) for k, v in totals.items()}
    print(f"mean over {len(found.scenes.scenes)} animations, ours / OIDN of the mean errors: low references "
          f"{mean['ours low'] / mean['oidn low']:.3f}x, default {mean['ours high'] / mean['oidn high']:.3f}x, twice "
          f"the default's samples (fit) {mean['ours double'] / mean['oidn double']:.3f}x, noise-free (fit) "
          f"{mean['ours free'] / mean['oidn free']:.3f}x")


if __name__ == "__main__":
    main()
