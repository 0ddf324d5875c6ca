"""Temporal render denoisers: the kernel predictor of :mod:`.denoise_kpn` on three frames (issue 26).

Two architectures share one contract (:func:`window_contract`: frame f and its warped neighbours f - 1, f + 1):
:class:`DenoiseKPNAccumulate` pools the three frames' samples by fixed agreement tests and runs the per-frame
network on the pool (shipped as ``denoise_kpn_temporal`` 0.2.0); :class:`DenoiseKPNTemporal`, described below,
lets a U-Net that reads all three frames choose the blend (0.1.0). Measured side by side at 4 spp
(docs/benchmarks.md, one bench run): the pool +0.51 / +0.37 dB over the per-frame model on the test split / the
authored animations, the blend learned from 26 training sequences +0.24 / +0.30, and the pool keeps fast motion
that the blend lost 2.9 dB on; the blend is kept to reproduce 0.1.0 and to grow from when there is data.

An animation's neighbouring frames hold independent samples of mostly the same surfaces. Blender's Vector pass
says exactly where each pixel was one frame before and will be one frame after, so the previous and the next
noisy frames (colour, albedo, normal) are warped onto the current frame's pixels (by the runtime, over the whole
image before tiling: ``addon.runtime.motion``, the contract's ``warp``; onnxruntime's GridSample cost 0.6 s per
1080p neighbour, OpenCV's remap a few hundredths). The U-Net sees all three and how far each pixel moved; at
full resolution it predicts, per pixel, how much of each frame's (warped) sample to take, and the blend goes
through the per-frame model's kernel pyramid. Where a neighbour shows the same surface it adds its samples (up
to three times the samples of one frame); where the vectors do not hold (disocclusions, moving shadows and
reflections, shading that changes) the network sees the warped albedo / normal / colour disagree with the
current frame's and gives it no weight. Consecutive outputs share two thirds of their samples, which is what
keeps their residual error from changing from frame to frame (flicker).

Why a per-pixel blend and not kernels over every frame's taps (Vogels et al. 2018): the kernels' filtering is
memory-bound and was already most of the per-frame model's time; filtering three frames took 2.2x the
per-frame model's time at 1080p (the issue's budget is 1.5x), the blend a few percent more.

A window, not a recurrence: the output of frame f depends on frames f - 1, f, f + 1 only, so a farm chunk that
reads one frame on either side of its range gives exactly the frames of an unchunked run, and frames can be
denoised in any order and in parallel. A neighbour that is missing (the ends of a sequence, a still) is given
as absent (zeros): its warped normal is zero there, and a pixel whose warped normal is zero (absent, or the
world background, which has no normal) gets no weight, exactly, so the output is the current frame's own.

``init_from`` grows it from the per-frame ``denoise_kpn`` (the shipped 0.9.0): every weight is kept, the
neighbours' first-layer inputs start at zero and their blend weight small, so training starts near the
per-frame model and learns how far to trust the neighbours.
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB
from .denoise_kpn import DEMODULATION_FLOOR, DenoiseKPN, clamp_outliers
from .denoise_unet import AUX

#: the neighbours of a window of frames f - 1, f, f + 1 (this module's models), in their inputs' order
NEIGHBOURS = ("prev", "next")
#: the starting gains of the neighbours' albedo and normal mismatch (weight x exp(-gain x mean |difference|))
MISMATCH_GAINS = (10.0, 5.0)
#: the U-Net's input channels: 3 frames x (log colour, albedo, normal), per neighbour its motion and its mask, 1
FEATURES = 9 * (1 + len(NEIGHBOURS)) + 2 * len(NEIGHBOURS) + 1
#: the starting blend logit of a neighbour relative to the current frame's (e^-3: ~5 % of the weight each)
NEIGHBOUR_START_LOGIT = -3.0


def neighbour_flows(vector: torch.Tensor) -> dict[str, torch.Tensor]:
    """The current frame's Vector pass (N x 4 x H x W, pixels, y up: XY towards the previous frame, ZW from
    the next) as image-space flows (x right, y down) from each current pixel to where it is in each neighbour."""
    return {"prev": torch.stack([vector[:, 0], -vector[:, 1]], 1),
            "next": torch.stack([-vector[:, 2], vector[:, 3]], 1)}


def neighbour_name(side: str, k: int) -> str:
    """The name of the neighbour ``k`` frames towards ``side`` ("prev" or "next"): ``prev``, ``next`` one frame
    away (every window model's), ``prev2``, ``next2`` ... further."""
    return side if k == 1 else f"{side}{k}"


def window_neighbours(radius: int) -> list[tuple[str, str, int]]:
    """(name, side, frames away) of each neighbour of a window of frames f - ``radius`` .. f + ``radius``, the
    order of their inputs: both sides one frame away, then two, ..."""
    return [(neighbour_name(side, k), side, k) for k in range(1, radius + 1) for side in ("prev", "next")]


def window_contract(pad_multiple: int, tile_overlap: int, denoised: ImageInput | None = None,
                    extra: tuple = (), radius: int = 1) -> ModelContract:
    """The contract of a denoiser of windows of frames f - r .. f + r (``radius`` r; sources 0 .. 2r, frame f
    source r): frame f's colour, guides and Vector pass, and each neighbour's colour and guides, moved onto
    frame f by the runtime; with ``denoised`` (Blender's denoised render of frame f) that too, for frame f and
    each neighbour; ``extra`` scalar inputs after the exposure. A neighbour k > 1 frames away is moved along
    frame f's Vector pass and then those of the frames between, each given as an input of its own
    (``prev_vector``: frame f - 1's, moved onto frame f like frame f - 1's other passes; the contract's warp
    chain, ``addon.runtime.motion.warp_inputs``)."""
    current = [ImageInput("color", RGB, "linear", "noisy beauty render of frame f", hdr=True,
                          pass_name="Combined", source=radius),
               ImageInput("albedo", RGB, "linear", "Denoising Albedo of frame f", pass_name="Denoising Albedo",
                          source=radius),
               ImageInput("normal", ("X", "Y", "Z"), "data", "camera-space Denoising Normal of frame f",
                          pass_name="Denoising Normal", source=radius),
               ImageInput("vector", ("X", "Y", "Z", "W"), "data",
                          "Blender Vector pass of frame f (pixels, y up; towards frame f - 1 and from f + 1)",
                          pass_name="Vector", source=radius)]
    parts = [("color", current[0]), ("albedo", AUX["albedo"]), ("normal", AUX["normal"])]
    if denoised is not None:
        denoised = replace(denoised, source=radius)
        current.append(denoised)
        parts.insert(1, ("blender_denoised", denoised))
    neighbours = []
    for n, side, k in window_neighbours(radius):
        source, which = (radius - k, f"f - {k}") if side == "prev" else (radius + k, f"f + {k}")
        warp = ("vector", side, *(f"{neighbour_name(side, j)}_vector" for j in range(1, k)))
        along = "its Vector pass" if k == 1 else "the Vector passes of frame f and the frames between"
        for name, spec in parts + ([("vector", current[3])] if k < radius else []):
            neighbours.append(ImageInput(f"{n}_{name}", spec.channels, spec.color_space,
                                         f"{spec.pass_name} of frame {which}, moved onto frame f along {along} "
                                         "by the runtime (absent: zeros)", hdr=spec.hdr,
                                         pass_name=spec.pass_name, source=source, optional=True, fill=0.0,
                                         warp=warp))
    exposure = ScalarInput("exposure", "scale mapping the image's log-average luminance to 0.18",
                           exposure_of=("color",))
    output = ImageOutput("denoised", RGB, "linear", "denoised beauty of frame f", hdr=True, pass_name="Combined")
    return ModelContract("denoise", (*current, *neighbours, exposure, *extra), (output,), scale=1,
                         pad_multiple=pad_multiple, tile_overlap=tile_overlap,
                         alpha=AlphaRule(("color",), "denoised"))


@register
class DenoiseKPNTemporal(DenoiseKPN):
    architecture = "denoise_kpn_temporal"

    def __init__(self, aux: list[str] = ("albedo", "normal"), widths: list[int] = (16, 32, 48, 64),
                 kernel: int = 5, scales: int | None = None, demodulate: bool = False,
                 finest_kernel: int | None = None, outlier_limit: float | None = None, residual: bool = False,
                 clip_sigmas: float | None = None):
        if list(aux) != ["albedo", "normal"]:
            raise ValueError("the temporal denoiser needs both guides (albedo, normal): they tell it where the "
                             "vectors hold")
        super().__init__(aux, widths, kernel, scales, demodulate, finest_kernel, outlier_limit, residual)
        if clip_sigmas:  # only recorded when set, so the models trained without it keep their params
            self.params["clip_sigmas"] = clip_sigmas
        self.clip_sigmas = clip_sigmas
        frames = 1 + len(NEIGHBOURS)
        # the U-Net reads the current frame's 9 channels, per neighbour its warped log colour, albedo, normal,
        # how far its pixel moved (fast motion: motion blur and changing shading are likelier) and whether it has a
        # surface there, and a constant: 32 channels, which onnxruntime's blocked (NCHWc) convolution takes;
        # with 31 the first layer ran unblocked at twice the time
        first = self.unet.encoders[0][0]
        self.unet.encoders[0][0] = nn.Conv2d(FEATURES, first.out_channels, first.kernel_size, padding=first.padding)
        # per pixel, the blend logits of the current frame and each neighbour, from the finest decoder level
        self.blend = nn.Conv2d(self.heads[0].in_channels, frames, 1)
        # and a prior it cannot learn away on little data: a neighbour's weight falls with how far its warped
        # albedo and normal are from this frame's (log gains per guide, learned): where the vectors do not hold,
        # or a texture finer than the warp's interpolation moves, the guides disagree
        self.mismatch_gain = nn.Parameter(torch.log(torch.tensor(MISMATCH_GAINS)))
        with torch.no_grad():
            self.blend.weight.zero_()
            self.blend.bias.fill_(NEIGHBOUR_START_LOGIT)
            self.blend.bias[0] = 0.0

    def init_from(self, other: PostpassModel) -> None:
        """From a trained per-frame ``denoise_kpn`` with the same parameters (see the module docstring), or
        from this architecture with the same parameters."""
        mine_params = {k: v for k, v in self.params.items() if k != "clip_sigmas"}
        if other.architecture == self.architecture and {**other.params, **self.params} == self.params \
                and mine_params == {k: v for k, v in other.params.items() if k != "clip_sigmas"}:
            return self.load_state_dict(other.state_dict())  # the same weights; the clipping is no weight
        if other.architecture == self.architecture or other.architecture != "denoise_kpn" \
                or other.params != mine_params:
            return PostpassModel.init_from(self, other)
        state, mine = other.state_dict(), self.state_dict()
        first = "unet.encoders.0.0.weight"
        grown = torch.zeros_like(mine[first])
        grown[:, :state[first].shape[1]] = state[first]
        state[first] = grown
        state.update({k: v for k, v in mine.items() if k.startswith(("blend.", "mismatch_gain"))})
        self.load_state_dict(state)

    def contract(self) -> ModelContract:
        return window_contract(self.unet.pad_multiple, self.tile_overlap)

    def clip_bounds(self, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pixel and channel, in the log domain, this frame's 3 x 3 mean -+ ``clip_sigmas`` standard
        deviations: the range :meth:`clip` pulls a neighbour's colour into (variance clipping, Salvi 2016). What
        the vectors do not carry (reflections and highlights that move over a surface, shading that changes) is
        pulled to what this frame shows there, while noise, whose spread the window measures, passes: wide at
        few samples, where the frame's own noise is large; narrow at many, where a disagreement is not noise."""
        now = torch.log1p(current)
        mean = F.avg_pool2d(now, 3, stride=1, padding=1, count_include_pad=False)
        spread = torch.sqrt(torch.clamp(F.avg_pool2d(now * now, 3, stride=1, padding=1, count_include_pad=False)
                                        - mean * mean, min=0.0))
        return mean - self.clip_sigmas * spread, mean + self.clip_sigmas * spread

    @staticmethod
    def clip(color: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``color`` clamped into ``bounds`` (:meth:`clip_bounds`) in the log domain."""
        low, high = bounds
        return torch.exp(torch.minimum(torch.maximum(torch.log1p(color), low), high)) - 1.0  # expm1: no ONNX op

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        exposure = x["exposure"].reshape(-1, 1, 1, 1)
        flows = neighbour_flows(x["vector"])
        frames = [(torch.clamp(x["color"] * exposure, min=0.0), x["albedo"], x["normal"], None)]
        for n in NEIGHBOURS:  # already on frame f's pixels (the contract's ``warp``: the runtime moved them)
            normal = x[f"{n}_normal"]
            # absent (zeros), outside the neighbour's frame, or the world background: no surface, no weight
            valid = (normal.square().sum(1, keepdim=True) > 0.25).to(normal.dtype)
            frames.append((torch.clamp(x[f"{n}_color"] * exposure, min=0.0), x[f"{n}_albedo"], normal, valid))
        if self.outlier_limit:
            frames = [(clamp_outliers(c, self.outlier_limit), a, n, v) for c, a, n, v in frames]
        features = [t for c, a, n, _ in frames for t in (torch.log1p(c), a.clamp(0.0, 1.0), n)]
        features += [torch.log1p(flows[n].square().sum(1, keepdim=True).sqrt()) for n in NEIGHBOURS]
        features += [v for *_, v in frames[1:]] + [torch.ones_like(features[-1])]
        decoded = self.unet.decoder_features(torch.cat(features, 1))
        heads = [head(f) for head, f in zip(self.heads, decoded)]
        logits = self.blend(decoded[0])
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        blended, total = None, None
        gain = torch.exp(self.mismatch_gain)
        bounds = self.clip_bounds(frames[0][0]) if self.clip_sigmas else None  # once for both neighbours
        albedo_now, normal_now = x["albedo"].clamp(0.0, 1.0), x["normal"]
        for i, (color, albedo, normal, valid) in enumerate(frames):
            if valid is not None and bounds is not None:
                color = self.clip(color, bounds)
            image = color
            if self.demodulate:  # each frame's texture taken out by its own albedo
                image = torch.cat([color, color / (albedo.clamp(0.0, 1.0) + DEMODULATION_FLOOR)], 1)
            weight = weights[:, i:i + 1]
            if valid is not None:
                agree = torch.exp(-gain[0] * (albedo.clamp(0.0, 1.0) - albedo_now).abs().mean(1, keepdim=True)
                                  - gain[1] * (normal - normal_now).abs().mean(1, keepdim=True))
                weight = weight * valid * agree
            blended = image * weight if blended is None else blended + image * weight
            total = weight if total is None else total + weight
        blended = blended / total  # the current frame's weight is never 0
        correction = None
        if self.residual:
            heads[0], correction = heads[0][:, :-3], heads[0][:, -3:]
        return self.finish(self.reconstruct(blended, heads), x, heads, correction, exposure)


#: the starting gains of :class:`DenoiseKPNAccumulate`'s agreement tests (learned, as logs): the mean
#: |difference| of the warped neighbour's albedo, of its normal, and of its colour's local mean (log colour,
#: 9 x 9 box) from frame f's; and how sharply a 3 x 3 colour mean beyond frame f's noise is cut (1 / log units)
ACCUMULATE_GAINS = (5.0, 2.0, 10.0, 16.0)
#: how many standard errors of frame f's own 3 x 3 mean a neighbour's may differ by before it is cut (variance
#: clipping, as 0.1.0's ``clip_sigmas``): wide at few samples, where frame f's noise is large, narrow at many
CLAMP_SIGMAS = 3.0
#: the box of the colour-mean test: wide enough that 4-spp noise averages out of it, so what it sees is
#: shading that the vectors do not carry (moving shadows and highlights, changing light)
MEAN_BOX = 9
#: the starting gain of a neighbour's motion (see ``DenoiseKPNAccumulate.motion_gain``)
MOTION_GAIN = 0.0


@register
class DenoiseKPNAccumulate(DenoiseKPN):
    """The per-frame kernel predictor on frame f's samples pooled with its neighbours' (issue 26, its second
    model): frames f - 1 and f + 1, warped onto frame f along the Vector pass by the runtime (the contract of
    :class:`DenoiseKPNTemporal`), are averaged into frame f's colour, albedo and normal wherever they show the
    same surface under the same light, and the per-frame network (the shipped ``denoise_kpn``'s weights, none
    added) denoises that average. Up to three frames' samples go in (about 3x the spp where the vectors hold);
    consecutive frames share two thirds of their samples, so their remaining error changes less from frame to
    frame.

    A neighbour pixel's weight is the product of fixed tests (their gains learnable, no network): it has a
    surface (its warped normal is not zero: not absent, not off its frame, not the world), its warped albedo and
    normal agree with frame f's (where the vectors are wrong or a texture finer than the warp's interpolation
    moves, they disagree), its colour's 9 x 9 local mean agrees with frame f's (shading that the vectors do not
    carry: moving shadows and highlights), and its colour's 3 x 3 mean lies within three standard errors of
    frame f's (variance clipping, Salvi 2016, which catches what the wide box dilutes: thin moving highlights,
    fast motion over fine texture; relative to frame f's noise, so it lets more samples in at 4 spp than at 16,
    where a frame's own detail is worth more than a neighbour's samples blurred by the warp's interpolation;
    a fixed range, the 5 x 5 min/max of 3 x 3 means (TAA's clamp), measured 0.45 dB lower at 16 spp on the
    test split). Figures against the learned blend of :class:`DenoiseKPNTemporal` (0.1.0): the module docstring.
    """
    architecture = "denoise_kpn_accumulate"

    def __init__(self, aux: list[str] = ("albedo", "normal"), widths: list[int] = (16, 32, 48, 64),
                 kernel: int = 5, scales: int | None = None, demodulate: bool = False,
                 finest_kernel: int | None = None, outlier_limit: float | None = None, residual: bool = False):
        if list(aux) != ["albedo", "normal"]:
            raise ValueError("the accumulating denoiser needs both guides (albedo, normal): they tell it where the "
                             "vectors hold")
        super().__init__(aux, widths, kernel, scales, demodulate, finest_kernel, outlier_limit, residual)
        self.agreement_gain = nn.Parameter(torch.log(torch.tensor(ACCUMULATE_GAINS)))
        # how much a neighbour's weight falls with how far its pixel moved (log1p of pixels): fast motion blurs
        # within a frame and the warp's interpolation blurs fine detail more the further it reaches. 0 measured
        # best; it is also what reads the Vector pass in the graph, which the contract needs as an input (the
        # runtime warps the neighbours along it) and an ONNX export drops when no operation reads it
        self.motion_gain = nn.Parameter(torch.tensor(MOTION_GAIN))

    def init_from(self, other: PostpassModel) -> None:
        """From a trained per-frame ``denoise_kpn`` with the same parameters (its every weight; the gains start
        at :data:`ACCUMULATE_GAINS`), or from this architecture."""
        if other.architecture == "denoise_kpn" and other.params == self.params:
            state = other.state_dict()
            state["agreement_gain"] = self.agreement_gain.detach().clone()
            state["motion_gain"] = self.motion_gain.detach().clone()
            return self.load_state_dict(state)
        return PostpassModel.init_from(self, other)

    @property
    def tile_overlap(self) -> int:
        # the per-frame network's reach, plus the tests' widest window around each pixel (the colour-mean box)
        return super().tile_overlap + MEAN_BOX // 2

    def contract(self) -> ModelContract:
        return window_contract(self.unet.pad_multiple, self.tile_overlap)

    def accumulate(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Frame f's ``color``, ``albedo`` and ``normal`` averaged with its warped neighbours' where they agree
        (the class docstring's tests); the other inputs as given."""
        gain = torch.exp(self.agreement_gain)
        color, albedo, normal = torch.clamp(x["color"], min=0.0), x["albedo"], x["normal"]
        exposure = x["exposure"].reshape(-1, 1, 1, 1)
        log_now = torch.log1p(color * exposure)
        mean_now = F.avg_pool2d(log_now, MEAN_BOX, stride=1, padding=MEAN_BOX // 2, count_include_pad=False)
        local = F.avg_pool2d(log_now, 3, stride=1, padding=1, count_include_pad=False)
        # the standard error of that 3 x 3 mean: its pixels' spread / 3 (noise, wide at few samples)
        spread = torch.sqrt(torch.clamp(F.avg_pool2d(log_now * log_now, 3, stride=1, padding=1,
                                                     count_include_pad=False) - local * local, min=0.0))
        tolerance = CLAMP_SIGMAS * spread / 3.0
        totals = [color, albedo, normal]
        weight_sum = torch.ones_like(color[:, :1])
        flows = neighbour_flows(x["vector"])
        for n in NEIGHBOURS:
            c, a, m = torch.clamp(x[f"{n}_color"], min=0.0), x[f"{n}_albedo"], x[f"{n}_normal"]
            log_c = torch.log1p(c * exposure)
            mean_c = F.avg_pool2d(log_c, MEAN_BOX, stride=1, padding=MEAN_BOX // 2, count_include_pad=False)
            local_c = F.avg_pool2d(log_c, 3, stride=1, padding=1, count_include_pad=False)
            outside = torch.clamp((local_c - local).abs() - tolerance, min=0.0).amax(1, keepdim=True)
            surface = (m.square().sum(1, keepdim=True) > 0.25).to(m.dtype)
            weight = surface * torch.exp(-gain[0] * (a - albedo).abs().mean(1, keepdim=True)
                                         - gain[1] * (m - normal).abs().mean(1, keepdim=True)
                                         - gain[2] * (mean_c - mean_now).abs().mean(1, keepdim=True)
                                         - gain[3] * outside
                                         - self.motion_gain * torch.log1p(flows[n].square().sum(1, keepdim=True).sqrt()))
            totals = [t + weight * v for t, v in zip(totals, (c, a, m))]
            weight_sum = weight_sum + weight
        color, albedo, normal = (t / weight_sum for t in totals)
        return {**x, "color": color, "albedo": albedo, "normal": normal}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.denoise(self.accumulate(self.named_inputs(inputs)))
