"""Blender's own denoised frames, averaged along the Vector pass: an animation denoised by OIDN without its
flicker (issue 26).

Blender denoises each frame of an animation alone (Cycles' Denoise: OpenImageDenoise, Accurate, High), so the
error OIDN leaves (blotches in dim indirect light, textures smoothed a little differently) is new in every
frame, and dark areas and fine textures crawl. Each frame's file also holds the raw render ("Noisy Image", with
Denoising Data on) and the exact motion (the Vector pass). Frame f's output here is the average of OIDN's frame f
and OIDN's frames f - r .. f + r (``radius`` r: 1 in 0.1.0, 2 since 0.2.0) moved onto frame f along the Vector
passes (by the runtime, before the graph: frame f - 2 along frame f's and then frame f - 1's), each neighbour
pixel weighted by fixed tests of whether it shows the same thing:

    w = present x exp(-g_albedo |albedo difference| - g_normal |normal difference|
                      - (|difference of the 5 x 5 means of the log colour| / (g_tolerance x sigma))^2)

``present``: the warped neighbour has something there, in any of its passes (an absent neighbour, the ends of
a sequence, and the pixels whose surface point was outside its frame are zeros; a neighbour's raw colour is read
only here, and the runtime gives it anyway; a frame two steps away counts only where the frame between is
present too, since its warp went through that frame's vectors). The guides' differences are 3 x 3 means (a few
samples' guides alias on fine textures). ``sigma`` is the frame's own noise: the root mean square difference,
over 9 x 9 pixels, between the raw render and OIDN's result in the log domain. OIDN's leftover error scales with
it, so the tolerance is wide at 4 spp, where the frames' errors differ most and averaging them gains most, and
narrow at 16, where a neighbour's disagreement is more likely detail that the warp's interpolation blurred or
shading the vectors do not carry (a moving shadow, a reflection) than noise. A fixed tolerance in the log
domain instead gained at 4 spp and lost up to 1.3 dB at 16 on the authored animations (docs/benchmarks.md).

Why average OIDN's outputs and not the noisy samples before a network: the same three-frame pool of noisy
samples fed to our per-frame network (``denoise_kpn_temporal`` 0.2.0) stays 0.77 dB below OIDN per frame on the
authored animations (1536-spp references), whose gap is the network's; OIDN's frames are already better than anything we run, and
averaging three of them cuts the part of their error that changes from frame to frame. The tests' gains are
parameters (learnable; chosen on the temporal test and validation splits, ``epochs: 0``).

A window, not a recurrence (a recurrence on the output measured no better): frame f depends on frames f - r ..
f + r only, so a farm chunk reads r frames on each side of its range and gives exactly the frames of an
unchunked run. Five frames rather than three (0.2.0): the far frames pass the same tests and add their own
OIDN error to average (docs/benchmarks.md has both windows side by side); frames f - 3 .. f + 3 measured little
more.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import BLENDER_DENOISED_PASS, ImageInput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, hdr_encode
from .denoise_temporal import neighbour_flows, window_contract, window_neighbours

#: starting gains: albedo and normal mismatch, and the colour tolerance in units of the frame's noise
GAINS = (10.0, 5.0, 0.5)
#: the box of the colour means compared, of the guides' differences, and of the noise estimate
COLOUR_BOX, GUIDE_BOX, NOISE_BOX = 5, 3, 9
#: how far the tolerance's noise estimate cannot fall (log units): a noiseless region still averages exact copies
NOISE_FLOOR = 1e-3


def _box(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=False)


def _present(*passes: torch.Tensor) -> torch.Tensor:
    """1 where a warped neighbour has anything in any of its ``passes``, 0 where every one is zero (an absent
    neighbour, or a pixel whose surface point was outside the neighbour's frame)."""
    return (sum(p.abs().sum(1, keepdim=True) for p in passes) > 0).to(passes[0].dtype)


#: the pool's reach around a pixel: its widest box, the noise estimate's, plus the guides' (the colour box
#: reads the same pixels as the noise estimate's within it)
POOL_OVERLAP = COLOUR_BOX // 2 + NOISE_BOX // 2 + GUIDE_BOX // 2


def blender_window_contract(pad_multiple: int = 1, tile_overlap: int = POOL_OVERLAP,
                            extra: tuple = (), radius: int = 1) -> ModelContract:
    """:func:`~.denoise_temporal.window_contract` of frames f - ``radius`` .. f + ``radius`` with Blender's
    denoised render of frame f and of each neighbour (frame f's raw render as ``color``); ``extra`` scalar inputs
    after the exposure."""
    denoised = ImageInput("blender_denoised", RGB, "linear", "Blender's denoised render of frame f (Cycles' "
                          "Denoise: OpenImageDenoise, Accurate, High)", hdr=True, pass_name=BLENDER_DENOISED_PASS,
                          source=radius)
    return window_contract(pad_multiple, tile_overlap, denoised, extra, radius)


def _moved(flow: torch.Tensor) -> torch.Tensor:
    """How far each pixel moves along an image-space ``flow`` (N x 2 x H x W), in pixels."""
    return flow.square().sum(1, keepdim=True).sqrt()


@register
class DenoiseOIDNPool(PostpassModel):
    """``radius`` r: the window is frames f - r .. f + r. A neighbour k > 1 frames away is tested as the nearer
    ones are, and has weight only where the neighbour one frame nearer has this surface point in its frame (its
    warp went through that frame's Vector pass)."""
    architecture = "denoise_oidn_pool"

    def __init__(self, radius: int = 1):
        if radius < 1:
            raise ValueError(f"radius is the frames read on each side, at least 1, not {radius}")
        # the 3-frame window, 0.1.0, was made before the radius existed: its params stay empty
        super().__init__(**({"radius": radius} if radius != 1 else {}))
        self.radius = radius
        self.gain = nn.Parameter(torch.log(torch.tensor(GAINS)))
        # how much a neighbour's weight falls with how far its pixel moved (log1p of pixels): 0, as measured
        # best for the noisy pool (``denoise_kpn_accumulate``); it is also what reads the Vector passes in the
        # graph, which the contract needs as inputs (the runtime warps along them) and an ONNX export drops when
        # unread
        self.motion_gain = nn.Parameter(torch.tensor(0.0))

    @property
    def neighbours(self) -> list[str]:
        """The neighbours' input prefixes, in the contract's order."""
        return [n for n, _, _ in window_neighbours(self.radius)]

    def contract(self) -> ModelContract:
        return blender_window_contract(radius=self.radius)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.average(self.named_inputs(inputs))

    def average(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Frame f's ``blender_denoised`` averaged with its warped neighbours' where the tests pass."""
        gain = torch.exp(self.gain)
        exposure = x["exposure"]
        now = torch.clamp(x["blender_denoised"], min=0.0)
        log_now = hdr_encode(now, exposure)
        noise = hdr_encode(x["color"], exposure) - log_now
        sigma = torch.sqrt(_box(noise.square().mean(1, keepdim=True), NOISE_BOX)) + NOISE_FLOOR
        tolerance = gain[2] * sigma
        mean_now = _box(log_now, COLOUR_BOX)
        flows = neighbour_flows(x["vector"])
        total, weight_sum = {}, {}
        reach = {side: (None, _moved(flows[side])) for side in flows}  # per side: the nearer one's presence, path
        for n, side, k in window_neighbours(self.radius):
            other, albedo, normal = torch.clamp(x[f"{n}_blender_denoised"], min=0.0), x[f"{n}_albedo"], x[f"{n}_normal"]
            present = _present(x[f"{n}_color"], other, albedo, normal)
            nearer, path = reach[side]
            if nearer is not None:
                present = present * nearer
            albedo_miss = _box((albedo - x["albedo"]).abs().mean(1, keepdim=True), GUIDE_BOX)
            normal_miss = _box((normal - x["normal"]).abs().mean(1, keepdim=True), GUIDE_BOX)
            colour_miss = (_box(hdr_encode(other, exposure), COLOUR_BOX) - mean_now).abs().mean(1, keepdim=True)
            weight = present * torch.exp(-gain[0] * albedo_miss - gain[1] * normal_miss
                                         - (colour_miss / tolerance).square() - self.motion_gain * torch.log1p(path))
            total[n], weight_sum[n] = weight * other, weight
            if k < self.radius:  # the next one out is moved on along this frame's vectors
                reach[side] = (present, path + _moved(neighbour_flows(x[f"{n}_vector"])[side]))
        # summed in the order frame f, f - 1, f + 1, f - 2, ... (the 3-frame window's sums bit for bit)
        out, weights = now, torch.ones_like(sigma)
        for n in self.neighbours:
            out, weights = out + total[n], weights + weight_sum[n]
        return out / weights


@register
class DenoiseOIDNResidualPool(PostpassModel):
    """A shot's correction of Blender's denoised render (:class:`~.denoise_oidn_residual.DenoiseOIDNResidual`,
    issue 27) applied to frame f and to its warped neighbours, then :class:`DenoiseOIDNPool`'s average of the
    three corrected frames: an animated shot gets both what was learned on the shot and the neighbouring frames.
    The correction runs on the neighbours after the runtime's warp (a convolutional network: warping then
    correcting is correcting then warping, up to the warp's interpolation), once per frame of the window; an
    absent neighbour stays absent (zeros). ``init_from`` takes the correction's weights from a
    ``denoise_oidn_residual`` and the pool's gains from a ``denoise_oidn_pool`` of the same ``radius``."""
    architecture = "denoise_oidn_residual_pool"

    def __init__(self, widths: list[int] = (32, 48, 64, 96), radius: int = 1):
        super().__init__(widths=list(widths), **({"radius": radius} if radius != 1 else {}))
        from .denoise_oidn_residual import DenoiseOIDNResidual

        self.correction = DenoiseOIDNResidual(widths)
        self.pool = DenoiseOIDNPool(radius)

    def init_from(self, other: PostpassModel) -> None:
        if other.architecture == "denoise_oidn_residual" and other.params == self.correction.params:
            return self.correction.load_state_dict(other.state_dict())
        if other.architecture == "denoise_oidn_pool":
            if other.radius != self.pool.radius:
                raise ValueError(f"it is a pool of frames f - {other.radius} .. f + {other.radius}, this one's "
                                 f"f - {self.pool.radius} .. f + {self.pool.radius}")
            return self.pool.load_state_dict(other.state_dict())
        return PostpassModel.init_from(self, other)

    def contract(self) -> ModelContract:
        unet = self.correction.unet
        scale = ScalarInput("denoised_exposure", "scale mapping Blender's denoised frame f's log-average "
                            "luminance to 0.18 (the correction's)", exposure_of=("blender_denoised",))
        return blender_window_contract(unet.pad_multiple, unet.receptive_radius + POOL_OVERLAP, (scale,),
                                       self.pool.radius)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        out = dict(x)
        for prefix in ("", *(f"{n}_" for n in self.pool.neighbours)):
            parts = [x[f"{prefix}{k}"] for k in ("color", "albedo", "normal", "blender_denoised")]
            corrected = self.correction.correct(*parts, x["denoised_exposure"])
            if prefix:  # an absent neighbour (zeros in every pass) stays absent
                corrected = corrected * _present(*parts)
            out[f"{prefix}blender_denoised"] = corrected
        return self.pool.average(out)
