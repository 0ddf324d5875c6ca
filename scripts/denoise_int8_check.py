"""Would int8 buy the denoiser room for a wider network? (docs/benchmarks.md, denoise follow-ups.)

Quantizes a denoiser ONNX's convolutions with onnxruntime (static, QDQ, per-channel int8 weights, uint8
activations, calibrated on a quarter of the split's frames), then prints, for fp32 and int8: mean tone-mapped
PSNR over the split's full frames at 1/4/16 spp and the seconds for a 1920x1088 frame (best of 3, taking turns,
two threads, one session each, without the runtime's tiling).

    python scripts/denoise_int8_check.py addon/models/denoise_kpn.onnx --out /tmp/denoise_kpn_int8.onnx
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from addon.runtime.color import exposure_scale  # noqa: E402
from addon.runtime.exr import read_exr  # noqa: E402
from ml_core import data, paths  # noqa: E402
from ml_core.metrics import render_metrics  # noqa: E402

SPP = (1, 4, 16)


def feeds(scene: Path, spp: int) -> dict[str, np.ndarray]:
    noisy = read_exr(scene / f"noisy_spp{spp:04d}.exr")
    nchw = lambda a: np.ascontiguousarray(a.transpose(2, 0, 1))[None].astype(np.float32)  # noqa: E731
    color = noisy.get("Combined")[..., :3]
    return {"color": nchw(color), "albedo": nchw(noisy.get("Denoising Albedo")),
            "normal": nchw(noisy.get("Denoising Normal")),
            "exposure": np.array([[exposure_scale(color)]], np.float32)}


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="where the int8 model is written")
    parser.add_argument("--data", default=str(paths.cache_dir() / "data"))
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    scenes = data.complete_scenes(Path(args.data), args.split)
    frames = [(scene, spp) for scene in scenes for spp in SPP]

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.items = iter(frames[::4])

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else feeds(*item)

    quantize_static(str(args.model), str(args.out), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                    op_types_to_quantize=["Conv"], activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    sessions = {"fp32": session(args.model), "int8": session(args.out)}
    for name, s in sessions.items():
        psnr = {spp: [] for spp in SPP}
        for scene, spp in frames:
            out = s.run(None, feeds(scene, spp))[0][0].transpose(1, 2, 0)
            psnr[spp].append(render_metrics(out, read_exr(scene / "target.exr").get("Combined")[..., :3])["psnr"])
        print(f"{name}: {args.split} PSNR " + " / ".join(f"{np.mean(psnr[s]):.2f}" for s in SPP) + " at 1/4/16 spp",
              flush=True)
    rng = np.random.default_rng(0)
    frame = {"color": rng.random((1, 3, 1088, 1920), np.float32), "albedo": rng.random((1, 3, 1088, 1920), np.float32),
             "normal": rng.random((1, 3, 1088, 1920), np.float32) * 2 - 1, "exposure": np.ones((1, 1), np.float32)}
    best = {name: np.inf for name in sessions}
    for _ in range(3):
        for name, s in sessions.items():
            start = time.perf_counter()
            s.run(None, frame)
            best[name] = min(best[name], time.perf_counter() - start)
    print("1920x1088, best of 3: " + ", ".join(f"{name} {t:.2f} s" for name, t in best.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
