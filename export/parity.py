"""Parity: the same inputs through torch and onnxruntime must give the same outputs.

Inputs are what the runtime would feed the network. From real files (``samples``: the task's source files,
e.g. a Cycles render) they go through the runtime's own channel split, NaN sanitising and sRGB encoding;
without files they are synthetic but shaped like real data (HDR colour spanning stops with fireflies, albedo in
[0, 1], unit normals, smooth pixel motions, sparse masks). A second, batched input at another size checks the
dynamic batch/height/width axes.
"""
from __future__ import annotations

import math

import numpy as np

from addon.runtime import tasks
from addon.runtime.contract import ImageInput, ModelContract
from addon.runtime.engine import input_tile, resolve_scalars, split_channels
from addon.runtime.imageio import read_image
from addon.runtime.tiling import round_up

#: fp32: max |onnx - torch| / max(1, |torch|) over every output value (absolute below 1, relative above).
FP32_TOLERANCE = 1e-4
#: fp16 variant against the fp32 torch model, same measure: half precision keeps ~3 significant digits and
#: errors accumulate over a few dozen layers.
FP16_TOLERANCE = 2e-2
SYNTHETIC_SIZE = (72, 104)  # rounded up to the pad multiple; not square, so transposed axes would show
SAMPLE_MAX = 128  # file samples are cropped to this from the top-left corner


def parity_error(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    """Max over outputs of |candidate - reference| / max(1, |reference|); inf if the candidate is not finite."""
    worst = 0.0
    for ref, got in zip(reference, candidate):
        if not np.all(np.isfinite(got)):
            return math.inf
        worst = max(worst, float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref)))))
    return worst


def parity_batches(contract: ModelContract, samples: list[str] | None = None, seed: int = 0) -> list[tuple[str, dict]]:
    """[(description, {input name: NCHW or N x 1 float32 array})]: file samples (if any), then two synthetic."""
    rng = np.random.default_rng(seed)
    batches = []
    if samples:
        batches.append((f"files {', '.join(samples)}", _from_files(contract, samples)))
    h, w = (round_up(v, contract.pad_multiple) for v in SYNTHETIC_SIZE)
    batches.append((f"synthetic 2x{w}x{h}", _synthetic(contract, 2, h, w, rng)))
    h2, w2 = round_up(h // 2 + 3, contract.pad_multiple), round_up(w // 2 + 5, contract.pad_multiple)
    batches.append((f"synthetic 1x{w2}x{h2}", _synthetic(contract, 1, h2, w2, rng)))
    return batches


def _from_files(contract: ModelContract, samples: list[str]) -> dict:
    files = [read_image(p) for p in samples]
    prepare = tasks.get(contract.task).prepare_source
    for file in files if prepare else ():  # as the runtime reads a source (a Blender-denoised render's raw render)
        prepare(file)
    images = {}
    for spec in contract.image_inputs:
        if spec.pass_name is None or spec.source >= len(files) or spec.pass_name not in files[spec.source].passes:
            if spec.optional:
                continue
            raise ValueError(f"sample files {samples} lack pass {spec.pass_name!r} for input {spec.name!r}")
        images[spec.name] = split_channels(files[spec.source].passes[spec.pass_name], spec, samples[spec.source])[0]
    size = min(min(a.shape[:2]) for name, a in images.items() if contract.input(name).grid == "input")
    side = max(contract.pad_multiple, min(SAMPLE_MAX, size) // contract.pad_multiple * contract.pad_multiple)
    batch = {}
    for spec in contract.image_inputs:
        g = contract.scale if spec.grid == "output" else 1
        arr = images.get(spec.name)
        batch[spec.name] = input_tile(None if arr is None else arr[:side * g, :side * g], spec,
                                      (0, side * g, 0, side * g))
    scalars = resolve_scalars(contract, {}, {k: v[:side, :side] for k, v in images.items()}, "parity")
    batch.update({k: np.array([[v]], np.float32) for k, v in scalars.items()})
    return batch


def _synthetic(contract: ModelContract, n: int, h: int, w: int, rng: np.random.Generator) -> dict:
    batch, linear = {}, {}
    for spec in contract.image_inputs:
        g = contract.scale if spec.grid == "output" else 1
        items = [_synthetic_image(spec, h * g, w * g, rng) for _ in range(n)]
        linear[spec.name] = items
        batch[spec.name] = np.concatenate([input_tile(a, spec, (0, h * g, 0, w * g)) for a in items])
    per_item = []
    for i in range(n):  # scalars vary across the batch (t = 0.5, 0.35; exposure from each image)
        given = {s.name: (1.0 if s.default is None else s.default) * (1.0 - 0.3 * i)
                 for s in contract.scalar_inputs if not s.exposure_of}
        per_item.append(resolve_scalars(contract, given, {k: v[i] for k, v in linear.items()}, "parity"))
    for spec in contract.scalar_inputs:
        batch[spec.name] = np.array([item[spec.name] for item in per_item], np.float32).reshape(n, 1)
    return batch


def _synthetic_image(spec: ImageInput, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One H x W x C linear image of the kind the input's metadata describes."""
    c = len(spec.channels)
    smooth = _smooth(h, w, c, rng)
    if spec.displacement_gain:
        return (6.0 * smooth - 3.0).astype(np.float32)  # pixel motions within +-3
    if spec.channels == ("X", "Y", "Z"):
        v = smooth - 0.5
        return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-3)).astype(np.float32)
    if spec.color_space == "data" and c == 1:
        return (rng.random((h, w, 1)) < 0.02).astype(np.float32)  # a sparse mask
    if spec.hdr:
        img = np.exp(8.0 * smooth - 5.0) * (1.0 + 0.3 * rng.standard_normal((h, w, c)))
        fireflies = rng.random((h, w, 1)) < 0.002
        return np.where(fireflies, img * 200.0, np.maximum(img, 0.0)).astype(np.float32)
    return np.clip(smooth + 0.05 * rng.standard_normal((h, w, c)), 0.0, 1.0).astype(np.float32)


def _smooth(h: int, w: int, c: int, rng: np.random.Generator) -> np.ndarray:
    """Values in [0, 1] varying smoothly, with edges: a few random plane waves plus a hard-edged square."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, c), np.float32)
    for ch in range(c):
        for _ in range(4):
            fy, fx = rng.uniform(-0.3, 0.3, 2)
            out[..., ch] += np.sin(fy * y + fx * x + rng.uniform(0, 2 * np.pi))
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    out[y0:y0 + h // 3, x0:x0 + w // 3] += 2.0
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)
