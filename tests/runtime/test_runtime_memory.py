"""An 8K frame (7680 x 4320) runs in bounded memory: tiles, not whole-frame tensors. Measured in a child
process so the peak RSS is this run's alone: its own high-water mark (``VmHWM``), not ``ru_maxrss``, which
Linux carries over from the parent across fork and exec (pytest's own size leaked into it: 2.01 GiB "before the
call" once the suite had grown)."""
from __future__ import annotations

import json
import subprocess
import sys

GIB = 2 ** 30
SCRIPT = """
import json, sys, time
import numpy as np
from addon.runtime import run


def high_water() -> int:  # this process's peak resident memory in bytes (VmHWM: its own, unlike ru_maxrss)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


height, width = 4320, 7680
color = np.empty((height, width, 3), np.float32)
rng = np.random.default_rng(0)
for y in range(0, height, 540):  # filled in slices: no 8K float64 temporary
    color[y:y + 540] = rng.random((540, width, 3), dtype=np.float32) * 4.0
before = high_water()
start = time.perf_counter()
result = run("denoise", {"color": color}, model=sys.argv[2], models_dir=sys.argv[1])
seconds = time.perf_counter() - start
peak = high_water()
print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "tiles": result.tiles,
                  "shape": list(result.image.shape), "finite": bool(np.isfinite(result.image).all())}))
"""


def test_8k_frame_runs_in_bounded_memory(models_dir, record_property):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(models_dir), "denoise_rgb"], capture_output=True,
                          text=True, timeout=300, check=True)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    record_property("8k_peak_rss_gib", round(stats["peak"] / GIB, 2))
    record_property("8k_seconds", round(stats["seconds"], 1))
    print(f"8K denoise: peak RSS {stats['peak'] / GIB:.2f} GiB ({stats['before'] / GIB:.2f} GiB before the call: "
          f"Python, libraries and the input frame), {stats['seconds']:.1f} s, {stats['tiles']} tiles")
    # Tiles (at most twice a square 1024 px tile's pixels, whatever the frame: 15-16 at 8K), not one 8K tile.
    assert stats["shape"] == [4320, 7680, 3] and stats["finite"] and stats["tiles"] > 10
    # The frame in and out are 0.37 GiB each; whole-frame network tensors would need several GiB more.
    assert stats["peak"] < 2.0 * GIB
