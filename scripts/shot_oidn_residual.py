"""Issue 27 experiment: on the artist's shot, learn what Blender's OIDN gets wrong instead of denoising from scratch.

The shot fine-tune (``python -m export.finetune``) renders views of the shot (noisy at its samples, references at
more, denoised by Blender's OIDN) and fine-tunes our ``denoise_kpn`` on them; on the authored shots it gains over
the shipped model but stays below Blender's OIDN. Here the same views train a small U-Net whose input is Blender's
OIDN (Accurate, High) run on each noisy view, with the noisy colour, albedo and normal, and whose output is OIDN's
result plus a learned correction (log space, the correction's last layer starts at zero: the untrained network
returns OIDN's image). It is scored like ``bench finetune`` scores an animated shot: every frame of the authored
scene at 4 and 16 spp (frames the views never rendered: other seeds, no camera nudge) against its own reference,
and its still frame (its own seed and reference) at 1, 4 and 16 spp, beside Blender's OIDN, the shipped
``denoise_kpn`` and the fine-tune's ``denoise_kpn_shot`` on the same inputs.

    python -m ml_core.authored shots --out ~/.cache/postpass/shots --only anim_room_lamp
    python -m export.finetune ~/.cache/postpass/shots/anim_room_lamp.blend -o /tmp/ft/room --minutes 10 \\
        --general none --work /tmp/ft/room_work
    python scripts/shot_oidn_residual.py --work /tmp/ft/room_work --models /tmp/ft/room \\
        --frames ~/.cache/postpass/authored_hq/anim_room_lamp --out out/shot_oidn_residual/room.json

The prototype of what ``postpass finetune`` now trains and ships as ``denoise_oidn_residual_shot``
(``ml_core.models.denoise_oidn_residual``; there the views are rendered with Cycles' Denoise on, which writes
Blender's result beside the raw render, and the runtime reads both). Kept to reproduce the figures recorded in
docs/benchmarks.md (work folders of raw noisy views, rendered before that change; a newer one's views are read as
the runtime reads them).
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from addon.runtime import api  # noqa: E402
from addon.runtime.color import exposure_scale  # noqa: E402
from addon.runtime.exr import read_exr  # noqa: E402
from bench.peers import BlenderOIDN  # noqa: E402
from ml_core.metrics import render_metrics  # noqa: E402

HELD_OUT_VIEWS = 2  # as ml_core.shot: views 0 and 1 are never trained on
GUIDES = ("Denoising Albedo", "Denoising Normal")


def features(color, albedo, normal, denoised, with_noisy: bool) -> tuple[np.ndarray, float]:
    """C x H x W network input at the denoised image's exposure: log OIDN, (log noisy), albedo, normal."""
    scale = exposure_scale(denoised)
    logs = [np.log1p(np.maximum(denoised * scale, 0))] + ([np.log1p(np.maximum(color * scale, 0))] if with_noisy else [])
    x = np.concatenate(logs + [albedo, normal * 0.5 + 0.5], -1)
    return x.transpose(2, 0, 1).astype(np.float32), scale


class ResidualUNet(nn.Module):
    """Four levels (widths 32/48/64/96, average pooling, nearest upsampling); output = input's first three
    channels (log OIDN) + a correction whose last convolution starts at zero."""

    def __init__(self, channels: int, widths=(32, 48, 64, 96)):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(o, o, 3, padding=1), nn.LeakyReLU(0.1))

        w = widths
        self.down = nn.ModuleList([block(channels, w[0])] + [block(w[k], w[k + 1]) for k in range(len(w) - 1)])
        self.up = nn.ModuleList([block(w[k + 1] + w[k], w[k]) for k in reversed(range(len(w) - 1))])
        self.head = nn.Conv2d(w[0], 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        skips, y = [], x
        for k, block in enumerate(self.down):
            y = block(F.avg_pool2d(y, 2) if k else y)
            skips.append(y)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            y = block(torch.cat([F.interpolate(y, scale_factor=2), skip], 1))
        return x[:, :3] + self.head(y)


class Images:
    """A noisy render's colour, albedo and normal, Blender OIDN's result on them (cached as .npy) and a reference."""

    def __init__(self, oidn: BlenderOIDN, cache: Path):
        self.oidn, self.cache = oidn, cache
        cache.mkdir(parents=True, exist_ok=True)

    def load(self, noisy: Path, reference: Path, key: str):
        image = read_exr(noisy)
        color, albedo, normal = (image.get(p)[..., :3].astype(np.float32) for p in ("Combined",) + GUIDES)
        cached = self.cache / f"{key}.npy"
        if "Noisy Image" in image.passes:  # rendered with Cycles' Denoise on: Blender's result beside the raw render
            denoised, color = color, image.get("Noisy Image")[..., :3].astype(np.float32)
        elif cached.is_file():
            denoised = np.load(cached)
        else:
            denoised = self.oidn(color, albedo, normal)
            np.save(cached, denoised)
        return color, albedo, normal, denoised, read_exr(reference).get("Combined")[..., :3].astype(np.float32)


def crops(data, batch: int, size: int, rng: random.Random):
    xs, ys = [], []
    for _ in range(batch):
        x, y = rng.choice(data)
        h, w = x.shape[1:]
        i, j = rng.randint(0, h - size), rng.randint(0, w - size)
        xc, yc = x[:, i:i + size, j:j + size], y[:, i:i + size, j:j + size]
        if rng.random() < 0.5:
            xc, yc = xc[:, :, ::-1], yc[:, :, ::-1]
        if rng.random() < 0.5:
            xc, yc = xc[:, ::-1], yc[:, ::-1]
        xs.append(xc.copy())
        ys.append(yc.copy())
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def apply(net, color, albedo, normal, denoised, with_noisy: bool) -> np.ndarray:
    x, scale = features(color, albedo, normal, denoised, with_noisy)
    h, w = x.shape[1:]
    step = 2 ** (len(net.down) - 1)
    padded = F.pad(torch.from_numpy(x)[None], (0, (-w) % step, 0, (-h) % step), mode="replicate")
    with torch.no_grad():
        y = net(padded)[0, :, :h, :w].numpy().transpose(1, 2, 0)
    return np.expm1(y) / scale


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="a fine-tune's --work folder (its rendered views)")
    p.add_argument("--frames", type=Path, required=True, help="the authored scene's folder (frame_NNNN_*.exr)")
    p.add_argument("--models", type=Path, help="the fine-tune's models folder (its denoise_kpn_shot is scored)")
    p.add_argument("--steps", type=int, default=2200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-noisy", action="store_true", help="the network sees OIDN's output and the guides only")
    p.add_argument("--out", type=Path, help="the figures as JSON")
    args = p.parse_args()

    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    with_noisy = not args.no_noisy
    images = Images(BlenderOIDN(), args.work / "oidn_cache")
    views = sorted(v for v in (args.work / "views").iterdir() if v.name.isdigit())
    train, held_out = [], []
    for view in views:
        for noisy in sorted(view.glob("noisy*_spp*.exr")):
            key = f"v{int(view.name)}_{noisy.name.split('_')[0].removeprefix('noisy')}"
            color, albedo, normal, denoised, reference = images.load(noisy, view / "reference.exr", key)
            if int(view.name) < HELD_OUT_VIEWS:
                held_out.append((color, albedo, normal, denoised, reference))
                continue
            x, scale = features(color, albedo, normal, denoised, with_noisy)
            train.append((x, np.log1p(np.maximum(reference * scale, 0)).transpose(2, 0, 1).astype(np.float32)))
    net = ResidualUNet(train[0][0].shape[0])
    optimizer = torch.optim.Adam(net.parameters(), 5e-4)
    print(f"{len(views)} views: {len(train)} training images, {len(held_out)} held out; "
          f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = crops(train, 16, 64, rng)
        loss = F.l1_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0:
            print(f"step {step}: loss {loss.item():.4f}, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    def psnr(estimate, reference):
        return render_metrics(estimate, reference)["psnr"]

    report = {"work": str(args.work), "frames": str(args.frames), "steps": args.steps, "seed": args.seed,
              "with_noisy": with_noisy, "train_seconds": round(seconds, 1), "training_images": len(train),
              "held_out_views": {"oidn": float(np.mean([psnr(s[3], s[4]) for s in held_out])),
                                 "oidn_residual": float(np.mean([psnr(apply(net, *s[:4], with_noisy), s[4])
                                                                 for s in held_out]))}}
    # every frame of an animation against its own reference, and the still frame (its own seed and reference)
    sets = [(f"frames_spp{spp}", [(noisy, args.frames / f"frame_{noisy.name.split('_')[1]}_reference.exr")
                                  for noisy in sorted(args.frames.glob(f"frame_*_spp{spp:04d}.exr"))])
            for spp in (4, 16)]
    sets += [(f"still_spp{spp}", [(args.frames / f"noisy_spp{spp:04d}.exr", args.frames / "reference.exr")])
             for spp in (1, 4, 16)]
    for name, pairs in sets:
        rows = []
        for noisy, reference_path in pairs:
            if not noisy.is_file():
                continue
            color, albedo, normal, denoised, reference = images.load(
                noisy, reference_path, f"{args.frames.name}_{noisy.stem}")
            given = {"color": color, "albedo": albedo, "normal": normal}
            row = {"oidn": psnr(denoised, reference),
                   "oidn_residual": psnr(apply(net, color, albedo, normal, denoised, with_noisy), reference),
                   "shipped": psnr(api.run("denoise", given, model="denoise_kpn").image, reference)}
            if args.models:
                row["finetuned"] = psnr(api.run("denoise", given, model="denoise_kpn_shot",
                                                models_dir=args.models).image, reference)
            rows.append(row)
        if rows:
            report[name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            report[name]["frames"] = len(rows)
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        torch.save(net.state_dict(), args.out.with_suffix(".pt"))


if __name__ == "__main__":
    main()
