"""Running one registered model on numpy images, driven entirely by the model's contract (its ONNX metadata).

The steps, the same for every model: check the inputs against the contract (channel count, size, dtype);
make every input float32 (float64 values beyond float32's range count as non-finite, like NaN/Inf); split
alpha off colour inputs and widen grey ones to RGB (a grey image comes back grey: the luminance of the result);
count and zero NaN/Inf; estimate inputs the contract lets the runtime compute
(optical flow for the image-only inbetweener); compute scalars (one exposure scale per image for HDR
models); pad to the model's multiple and run overlapping tiles, converting sRGB inputs/outputs per tile;
blend the tiles into outputs cropped back to size; put alpha back, resized to the output grid. Memory stays
at the inputs plus the outputs plus one tile (its size bounded by ``tile_size`` and the model's margins, not by
the frame), so an 8K frame fits in a few GB.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import color
from .contract import ImageInput, ModelContract, ModelError
from .estimate import estimate_missing
from .motion import warp_inputs
from .exr import ImageError
from .registry import Registry, RegistryEntry, into_window
from .session import Session, open_session
from .tiling import blend_weights, plan_axis, plan_grid, round_up

#: Default tile core in input pixels: the memory a tile may use (see ``tiling.plan_grid``: up to twice a square
#: 1024 px core plus the model's margins, about 3 MP: a 1920x1080 or 2048x1080 frame runs whole, without the
#: margins that tiles recompute (1.2x its pixels in 512 px tiles), a 4K frame in 4 tiles, 8K in 15; the shipped
#: denoiser needs about 0.8 GB per MP of window); the grid within it is the one with the least work.
DEFAULT_TILE = 1024
NONFINITE_POLICIES = ("zero", "error")
ROWS_PER_CHUNK = 256  # whole-image scans (NaN counts, max |offset|) go in row chunks to keep temporaries small
RGB = ("R", "G", "B")
FLOAT32_MAX = float(np.finfo(np.float32).max)
log = logging.getLogger("postpass.runtime")


def check_run_options(threads: int | None = None, tile_size: int | None = None) -> None:
    """Refuse option values no run can use, in one line: ``threads`` and ``tile_size`` are whole numbers >= 0
    (0 or None: every core the process may use / whole frames)."""
    for name, value, zero in (("threads", threads, "every core"), ("tile_size", tile_size, "whole frames")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ModelError(f"{name} must be a whole number >= 0 (0: {zero}), not {value!r}")


@dataclass
class InferenceResult:
    model: str
    outputs: dict[str, np.ndarray]  # H x W x C float32, linear; alpha appended where the contract puts it
    provider: str  # the onnxruntime execution provider that really ran
    fallback: str | None  # why it ran on the CPU although CUDA was asked for
    nonfinite: dict[str, int] = field(default_factory=dict)  # NaN/Inf values zeroed, per input (only nonzero)
    scalars: dict[str, float] = field(default_factory=dict)  # exposure, t, ... as fed
    tiles: int = 0
    seconds: float = 0.0
    #: why this model ran, one line: ``denoise: denoise_kpn_color (the input has no albedo/normal passes; ...)``
    #: (set by ``api.run`` / ``api.run_files``, which chose it; empty for ``Model.run`` called directly)
    choice: str = ""
    #: passes (Blender pass names) the input lacked that would let a better-guided model of the task run
    better_with: tuple[str, ...] = ()
    #: one-line notices about this result from its task's ``finish`` hook (colorize: no plausible automatic
    #: colour, the grey image returned); the same words for the same event, so a batch counts its frames
    notes: list[str] = field(default_factory=list)

    @property
    def image(self) -> np.ndarray:
        """The model's first (for every shipped model: only) output."""
        return next(iter(self.outputs.values()))


class Model:
    """A verified ONNX model with its contract and session; thread-safe to run."""

    def __init__(self, entry: RegistryEntry, session: Session):
        self.name, self.entry, self.session = entry.name, entry, session
        label = f"{entry.path} [{entry.name}]"
        self.metadata: dict[str, str] = dict(session.ort.get_modelmeta().custom_metadata_map)
        self.contract: ModelContract = into_window(ModelContract.from_metadata(self.metadata, label))
        if self.contract != entry.contract:
            raise ModelError(f"{label}: the file's metadata disagrees with its registry entry; re-export it")
        graph_inputs = [i.name for i in session.ort.get_inputs()]
        graph_outputs = [o.name for o in session.ort.get_outputs()]
        if sorted(graph_inputs) != sorted(i.name for i in self.contract.inputs) or \
                graph_outputs != [o.name for o in self.contract.outputs]:
            raise ModelError(f"{label}: graph inputs {graph_inputs} / outputs {graph_outputs} "
                             "do not match its metadata")

    @property
    def provider(self) -> str:
        return self.session.provider

    @property
    def fallback(self) -> str | None:
        return self.session.fallback

    def run(self, inputs: dict, *, tile_size: int | None = DEFAULT_TILE, nonfinite: str = "zero",
            labels: dict[str, str] | None = None, progress: Callable[[int, int], None] | None = None,
            exact_tiles: bool = False, key_steps: float | None = None,
            key_chains: dict[str, list[np.ndarray]] | None = None) -> InferenceResult:
        """Run on ``inputs`` ({contract input name: H x W x C array or scalar}); ``None`` values count as absent.

        ``tile_size``: tile core in input pixels, which sets the memory per tile (None: the whole image in one
        tile): windows hold at most ``tiling.TILE_GROWTH`` times the pixels of a square tile of this core plus
        the model's margins (receptive field, motion), and within that the grid with the fewest pixels to run
        is used, so a model with wide margins runs fewer, larger tiles (``exact_tiles``: square cores of exactly
        ``tile_size`` instead, however much of each tile is margin; for tests of the seams). ``nonfinite``: ``zero``
        replaces NaN/Inf with 0 and counts them, ``error`` refuses the input. ``labels`` name each input's file
        in error messages. ``progress(done, total)`` is called after every tile; an exception raised there
        (e.g. the add-on's cancel button) stops the run. ``key_steps``: how many frame steps lie between the
        frames that displacement inputs (Blender's Vector passes, which span one step) belong to; a model
        multiplies them by its ``displacement_gain``, the step count it was trained for, so they are scaled by
        ``key_steps / displacement_gain`` (None: as the model was trained, e.g. frames rendered every other frame).
        Inputs the runtime warps along the output frame's Vector pass (the contract's ``warp``) move by the steps
        to their frame: with ``key_steps`` and a ``t`` input, ``t * key_steps`` to the ``prev`` (key) frame and
        ``(1 - t) * key_steps`` to the ``next`` one (:func:`warp_steps`); without ``key_steps`` one step each
        (the temporal denoiser's neighbours, frames f - 1 and f + 1). ``key_chains``: for a side (``prev``,
        ``next``), the Vector passes of the frames between the output frame and that side's key, nearest first
        (guide renders of skipped frames): that side's warp follows them frame by frame
        (:func:`~addon.runtime.motion.chained_flow`) instead of scaling one step's vectors.
        """
        start = time.perf_counter()
        c = self.contract
        labels = labels or {}
        check_run_options(tile_size=tile_size)
        if nonfinite not in NONFINITE_POLICIES:
            raise ModelError(f"nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, not {nonfinite!r}")
        given = {k: v for k, v in inputs.items() if v is not None}
        unknown = sorted(set(given) - {i.name for i in c.inputs})
        if unknown:
            raise ModelError(f"model {self.name!r} takes no input {', '.join(map(repr, unknown))} "
                             f"(it takes {', '.join(i.name for i in c.inputs)})")

        def label(name: str) -> str:
            return labels.get(name, f"input {name!r}")

        images, alphas, counts, overflows, grey = {}, {}, {}, {}, set()
        for spec in c.image_inputs:
            if spec.name not in given:
                if not spec.optional:
                    raise ModelError(f"model {self.name!r} needs input {spec.name!r} ({spec.meaning})")
                continue
            raw = _as_image(given[spec.name], label(spec.name))
            overflows[spec.name] = _count_overflow(raw)  # before the cast, which makes them Inf
            raw = _as_float32(raw)
            counts[spec.name] = _count_nonfinite(raw)
            if spec.channels == RGB and raw.shape[2] in (1, 2):
                grey.add(spec.name)
            images[spec.name], alphas[spec.name] = split_channels(raw, spec, label(spec.name))
        height, width = _check_sizes(c, images, label)
        if key_steps is not None:
            if not key_steps > 0:
                raise ModelError(f"key_steps must be a positive number of frame steps, not {key_steps!r}")
            # Vector passes hold one step's motion; an (estimated) optical flow already spans the key gap.
            # At the trained spacing the gain is 1: no copy of a frame's vectors.
            for spec in c.image_inputs:
                if spec.displacement_gain and not spec.estimate and spec.name in images \
                        and key_steps != spec.displacement_gain:
                    images[spec.name] = images[spec.name] * np.float32(key_steps / spec.displacement_gain)
        for name, count in counts.items():
            beyond = (f" ({overflows[name]} of them beyond float32's range, from a float64 array)"
                      if overflows.get(name) else "")
            if count and nonfinite == "error":
                raise ImageError(label(name), f"{count} NaN/Inf values{beyond} (nonfinite='zero' replaces them with 0)")
            if count:
                log.warning("%s: replaced %d NaN/Inf values%s with 0", label(name), count, beyond)
        for spec in c.image_inputs:  # a display (sRGB) model clips HDR: say so, the result loses highlights
            if spec.color_space == "srgb" and spec.name in images and beyond_display_white(images[spec.name]):
                log.warning("%s: values above 1.0 clip in model %r (an sRGB model for textures and photos); "
                            "for HDR renders use a linear model (name none: a float file picks one, an array with "
                            "source_range='hdr')",
                            label(spec.name), self.name)
        estimate_missing(c, images, self.name)
        if key_chains and set(key_chains) - {"prev", "next"}:
            raise ModelError(f"key_chains: sides are 'prev' and 'next', not {sorted(set(key_chains) - {'prev', 'next'})}")
        warp_inputs(c, images, self.name, warp_steps(c, given, key_steps),
                    {k: [_as_float32(_as_image(v, f"{k} chain")) for v in vs] for k, vs in (key_chains or {}).items()})
        scalars = resolve_scalars(c, given, images, self.name)
        motion = max((math.ceil(spec.displacement_gain * _max_abs(images[spec.name]))
                      for spec in c.image_inputs if spec.displacement_gain and spec.name in images), default=0)
        overlap = c.tile_overlap + motion  # large motion widens every tile's margin: plan_grid sizes tiles by it
        rule = c.alpha
        alpha_output = rule.output if rule and any(alphas.get(src) is not None for src in rule.sources) else None
        # inputs counted free of NaN/Inf stay so through the scaling above, and through a warp along a Vector
        # pass that was counted free of them too (not along uncounted key chains; estimated inputs are not
        # counted either): their tiles skip the search
        finite = {spec.name for spec in c.image_inputs if counts.get(spec.name) == 0
                  and (not spec.warp or (all(counts.get(v) == 0 for v in spec.warp[:1] + spec.warp[2:])
                                         and not key_chains))}
        outputs, tiles = self._run_tiles(images, scalars, height, width, tile_size, overlap, alpha_output, progress,
                                         exact_tiles, finite)
        if alpha_output:
            self._restore_alpha(outputs[alpha_output], alphas, scalars)
        if rule is not None:  # grey in, grey out: every colour source of the result was grey
            colour_sources = [s for s in rule.sources if s in images and c.input(s).channels == RGB]
            if colour_sources and all(s in grey for s in colour_sources):
                out = outputs[rule.output]
                outputs[rule.output] = np.concatenate([color.luminance(out[..., :3])[..., None], out[..., 3:]], -1)
        return InferenceResult(self.name, outputs, self.provider, self.fallback,
                               {k: v for k, v in counts.items() if v}, scalars, tiles, time.perf_counter() - start)

    def _run_tiles(self, images: dict, scalars: dict, height: int, width: int, tile_size: int | None,
                   overlap: int, alpha_output: str | None, progress,
                   exact_tiles: bool = False, finite: set[str] = frozenset()) -> tuple[dict[str, np.ndarray], int]:
        """Every output, blended from overlapping tiles; ``alpha_output`` gets one more channel, left for alpha."""
        c, s = self.contract, self.contract.scale
        canvas_h, canvas_w = round_up(height, c.pad_multiple), round_up(width, c.pad_multiple)
        if tile_size and not exact_tiles:
            row_spans, col_spans = plan_grid(canvas_h, canvas_w, tile_size, overlap, c.pad_multiple)
        else:
            tile = tile_size or max(canvas_h, canvas_w)
            row_spans, col_spans = (plan_axis(n, tile, overlap, c.pad_multiple) for n in (canvas_h, canvas_w))
        rows = [(span, blend_weights(span, canvas_h, s)) for span in row_spans]
        cols = [(span, blend_weights(span, canvas_w, s)) for span in col_spans]
        outputs = {o.name: np.zeros((height * s, width * s, len(o.channels) + (o.name == alpha_output)), np.float32)
                   for o in c.outputs}
        names = [o.name for o in c.outputs]
        scalar_feed = {k: np.array([[v]], np.float32) for k, v in scalars.items()}
        done, total = 0, len(rows) * len(cols)
        for row, row_weight in rows:
            for col, col_weight in cols:
                feed = dict(scalar_feed)
                for spec in c.image_inputs:
                    g = s if spec.grid == "output" else 1
                    box = (row.win0 * g, row.win1 * g, col.win0 * g, col.win1 * g)
                    feed[spec.name] = input_tile(images.get(spec.name), spec, box, spec.name in finite)
                for out_spec, result in zip(c.outputs, self.session.ort.run(names, feed)):
                    tile_out = result[0].transpose(1, 2, 0)
                    if out_spec.color_space == "srgb":
                        tile_out = color.srgb_decode(tile_out)
                    y0, x0 = row.win0 * s, col.win0 * s
                    y1, x1 = min(row.win1 * s, height * s), min(col.win1 * s, width * s)
                    weight = row_weight[:y1 - y0, None, None] * col_weight[None, :x1 - x0, None]
                    outputs[out_spec.name][y0:y1, x0:x1, :tile_out.shape[2]] += tile_out[:y1 - y0, :x1 - x0] * weight
                done += 1
                if progress:
                    progress(done, total)
        return outputs, total

    def _restore_alpha(self, out: np.ndarray, alphas: dict, scalars: dict) -> None:
        """Alpha of the rule's sources (opaque where a source has none), mixed by t, resized to the output grid."""
        rule = self.contract.alpha
        given = [alphas.get(src) for src in rule.sources]
        shape = next(a.shape for a in given if a is not None)
        planes = [np.ones(shape, np.float32) if a is None else _sanitized(a) for a in given]
        if len(planes) == 2:
            t = scalars[rule.mix]
            alpha = (1.0 - t) * planes[0] + t * planes[1]
        else:
            alpha = planes[0]
        if alpha.shape != out.shape[:2]:
            import cv2

            alpha = np.clip(cv2.resize(alpha, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
        out[..., -1] = alpha


_CACHE: dict[tuple, Model] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str, models_dir: str | Path | None = None, device: str = "auto",
               threads: int | None = None) -> Model:
    """The registered model ``name``, verified against its sha256; sessions are cached per file and device."""
    check_run_options(threads=threads)
    registry = Registry(models_dir)
    entry = registry.get(name)
    key = (str(entry.path), entry.sha256, device, threads)
    with _CACHE_LOCK:
        if key not in _CACHE:
            data = registry.read_verified(name)  # the session is built from these very bytes
            _CACHE[key] = Model(entry, open_session(data, str(entry.path), device, threads))
        return _CACHE[key]


def resolve_scalars(contract: ModelContract, given: dict, images: dict, model: str) -> dict[str, float]:
    """Each scalar input's value: given, else computed (one exposure scale per image), else its default."""
    scalars = {}
    for spec in contract.scalar_inputs:
        if spec.name in given:
            value = float(given[spec.name])
        elif spec.exposure_of:
            # One scale for the whole image (tiles must agree); over several frames, their geometric mean.
            scales = [color.exposure_scale(images[s]) for s in spec.exposure_of if s in images]
            value = float(np.exp(np.mean(np.log(scales))))
        elif spec.default is not None:
            value = spec.default
        else:
            raise ModelError(f"model {model!r} needs scalar input {spec.name!r} ({spec.meaning})")
        if not math.isfinite(value):
            raise ModelError(f"model {model!r}: scalar input {spec.name!r} is {value}")
        scalars[spec.name] = value
    return scalars


def warp_steps(contract: ModelContract, given: dict, key_steps: float | None) -> dict[str, float] | None:
    """Frame steps from the output frame to the frames its ``warp`` inputs come from, for
    :func:`~addon.runtime.motion.warp_inputs`: with ``key_steps`` (the key frames' distance) and a scalar
    input ``t`` (given, else its default; the output's place between the keys, 0..1), the key before lies
    ``t * key_steps`` steps back and the key after ``(1 - t) * key_steps`` ahead; a Vector pass holds one step,
    so it is scaled by those (linear motion). None (one step each way) without ``key_steps``, without a ``t``
    input, or for a model that warps nothing."""
    if key_steps is None or not any(spec.warp for spec in contract.image_inputs):
        return None
    spec = next((s for s in contract.scalar_inputs if s.name == "t"), None)
    if spec is None:
        return None
    t = float(given["t"]) if given.get("t") is not None else spec.default
    if t is None:
        raise ModelError("key_steps: the warp needs t, the output's place between the key frames")
    return {"prev": t * float(key_steps), "next": (1.0 - t) * float(key_steps)}


def _as_image(value, label: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ImageError(label, f"has shape {arr.shape}; expected height x width x channels")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ImageError(label, f"is {arr.dtype}; expected float linear values "
                                "(read files with addon.runtime.read_image, which decodes 8/16-bit sRGB)")
    return arr


def split_channels(arr: np.ndarray, spec: ImageInput, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(what the network gets, alpha or None): alpha leaves RGB inputs; a grey input (1 channel, or 2: grey and
    alpha) to an RGB one is the grey in all three; a luminance input takes Y of RGB(A), or grey and alpha."""
    want, have = len(spec.channels), arr.shape[2]
    if have == want:
        return arr, None
    if spec.channels == ("Y",) and have in (2, 3, 4):
        if have == 2:
            return arr[..., :1], arr[..., 1]
        return color.luminance(arr)[..., None], (arr[..., 3] if have == 4 else None)
    if spec.channels == RGB and have == 4:
        return arr[..., :3], arr[..., 3]
    if spec.channels == RGB and have in (1, 2):
        return np.repeat(arr[..., :1], 3, axis=2), (arr[..., 1] if have == 2 else None)
    raise ImageError(label, f"has {have} channels; expected {want} ({', '.join(spec.channels)})"
                            + (", 4 with alpha, or 1-2 for grey (and alpha)" if spec.channels == RGB else ""))


def _check_sizes(c: ModelContract, images: dict, label) -> tuple[int, int]:
    """The input-grid size every image must share (output-grid images: ``scale`` times it)."""
    reference = next(s.name for s in c.image_inputs if s.grid == "input" and s.name in images)
    height, width = images[reference].shape[:2]
    for spec in c.image_inputs:
        if spec.name not in images:
            continue
        g = c.scale if spec.grid == "output" else 1
        h, w = images[spec.name].shape[:2]
        if (h, w) != (height * g, width * g):
            raise ImageError(label(spec.name), f"is {w}x{h}; expected {width * g}x{height * g} "
                                               f"({'scale x ' if g > 1 else ''}the size of {label(reference)})")
    if height == 0 or width == 0:
        raise ImageError(label(reference), "is empty")
    return height, width


def input_tile(arr: np.ndarray | None, spec: ImageInput, box: tuple[int, int, int, int],
               finite: bool = False) -> np.ndarray:
    """One 1 x C x h x w tile: edge-padded past the image (the canvas is padded bottom/right), NaN/Inf zeroed,
    sRGB-encoded if the model wants sRGB; a constant ``fill`` for an absent optional input. ``finite``: the
    image is known to hold no NaN/Inf (counted before tiling), so the search for them is skipped and a tile
    of a float32 image is one copy (the transpose), not three."""
    y0, y1, x0, x1 = box
    if arr is None:
        return np.full((1, len(spec.channels), y1 - y0, x1 - x0), spec.fill, np.float32)
    part = arr[y0:y1, x0:x1]
    short_y, short_x = (y1 - y0) - part.shape[0], (x1 - x0) - part.shape[1]
    if short_y or short_x:
        part = np.pad(part, ((0, short_y), (0, short_x), (0, 0)), mode="edge")
    if not finite:
        part = np.array(part, dtype=np.float32)  # a copy: the caller's image is never changed
        part[~np.isfinite(part)] = 0.0  # counted once per image before tiling
    if spec.color_space == "srgb":
        part = color.srgb_encode(part)
    return np.ascontiguousarray(part.transpose(2, 0, 1)[None], dtype=np.float32)


def _count_overflow(arr: np.ndarray) -> int:
    """Finite values of a wider float array that float32 cannot hold (they would become Inf in the cast)."""
    if arr.dtype.itemsize <= 4:
        return 0
    return sum(int(np.count_nonzero(np.abs(chunk[np.isfinite(chunk)]) > FLOAT32_MAX)) for chunk in _row_chunks(arr))


def _as_float32(arr: np.ndarray) -> np.ndarray:
    """float32, the dtype the network runs in; values beyond its range become +-Inf (counted as non-finite)."""
    if arr.dtype == np.float32:
        return arr
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(np.float32)


def _count_nonfinite(arr: np.ndarray) -> int:
    return sum(int(chunk.size - np.count_nonzero(np.isfinite(chunk)))
               for chunk in _row_chunks(arr))


def beyond_display_white(arr: np.ndarray) -> bool:
    """Whether a linear image holds values above 1.0 (an HDR render's highlights), which an sRGB model clips."""
    return _max_abs(arr) > 1.0 + 1e-3


def _max_abs(arr: np.ndarray) -> float:
    """Largest finite |value| (0 for an all-NaN image)."""
    best = 0.0
    for chunk in _row_chunks(arr):
        finite = np.abs(chunk[np.isfinite(chunk)])
        if finite.size:
            best = max(best, float(finite.max()))
    return best


def _row_chunks(arr: np.ndarray):
    for y in range(0, arr.shape[0], ROWS_PER_CHUNK):
        yield arr[y:y + ROWS_PER_CHUNK]


def _sanitized(plane: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(plane, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
