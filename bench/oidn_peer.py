"""The peer of ``postpass denoise`` in the farm throughput benchmark (``python -m bench throughput``): OIDN 2.5
(the ``pyoidn`` wheel, quality High, HDR, albedo + normal) doing the same read-denoise-write as a process.

    python bench/oidn_peer.py IN.####.exr -o OUT.####.exr [--quality high] [--exr-threads N]

What a studio would write around OIDN, on its own (numpy, OpenEXR and pyoidn only; no Postpass import): each
frame on disk matching ``IN`` (``#`` marks the frame digits) is read once with OpenEXR (every part, every
channel), ``ViewLayer.Combined`` is denoised with ``ViewLayer.Denoising Albedo`` and ``ViewLayer.Denoising
Normal`` (colour clamped at 0 and albedo to [0, 1] as OIDN expects, the same preparation as ``bench.peers``),
its R, G, B are replaced (alpha kept), and the file is written back with every other part, channel and header
attribute as read, the compression included (the render's ZIP), to a temporary name that is flushed to the disk
and renamed, as the ``postpass`` command writes. One OIDN device and filter serve every frame. OpenEXR reads
and writes with ``--exr-threads`` threads (default: the cores this process may use, as ``postpass`` does; 0 is
OpenEXR's own default, one thread).
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import time


def frames_of(pattern: str) -> list[tuple[str, str]]:
    """(frame digits, path) of every file matching ``pattern`` (a run of ``#`` marks the frame number)."""
    run = re.search(r"#+", pattern)
    if not run:
        return [("", pattern)]
    found = []
    prefix, suffix = pattern[:run.start()], pattern[run.end():]
    for path in sorted(glob.glob(glob.escape(prefix) + "[0-9]" * (run.end() - run.start()) + glob.escape(suffix))):
        found.append((path[len(prefix):len(path) - len(suffix)], path))
    return found


def denoise_file(source: str, target: str, layer: str, quality: str) -> None:
    import numpy as np
    import OpenEXR
    import pyoidn

    parts = list(OpenEXR.File(source, separate_channels=True).parts)
    channels = {name: channel for part in parts for name, channel in part.channels.items()}

    def rgb(pass_name: str, components: str):
        return np.stack([channels[f"{layer}.{pass_name}.{c}"].pixels for c in components], axis=-1).astype(np.float32)

    color = rgb("Combined", "RGB")
    albedo = rgb("Denoising Albedo", "RGB")
    normal = rgb("Denoising Normal", "XYZ")
    out = pyoidn.denoise(np.ascontiguousarray(np.maximum(color, 0)), np.ascontiguousarray(np.clip(albedo, 0, 1)),
                         np.ascontiguousarray(normal), hdr=True, quality=quality)
    for i, c in enumerate("RGB"):
        channel = channels[f"{layer}.Combined.{c}"]
        channel.pixels = np.ascontiguousarray(out[..., i].astype(channel.pixels.dtype))
    folder, name = os.path.split(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp.exr")
    try:
        OpenEXR.File(parts).write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="frames, e.g. render/beauty.####.exr")
    p.add_argument("-o", "--output", required=True, help="e.g. clean/beauty.####.exr")
    p.add_argument("--layer", default="ViewLayer")
    p.add_argument("--quality", default="high", choices=("high", "balanced", "fast"))
    p.add_argument("--exr-threads", type=int, default=None,
                   help="OpenEXR threads (default: the cores this process may use; 0: one thread)")
    args = p.parse_args(argv)
    import OpenEXR

    threads = args.exr_threads if args.exr_threads is not None else len(os.sched_getaffinity(0))
    OpenEXR.set_global_thread_count(threads)
    start = time.perf_counter()
    frames = frames_of(args.input)
    if not frames:
        print(f"oidn_peer: no frames match {args.input}", file=sys.stderr)
        return 2
    run = re.search(r"#+", args.output)
    for digits, path in frames:
        target = args.output[:run.start()] + digits + args.output[run.end():] if run else args.output
        denoise_file(path, target, args.layer, args.quality)
    print(f"oidn_peer: {len(frames)} frames in {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
