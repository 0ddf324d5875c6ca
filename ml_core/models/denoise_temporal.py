"""Temporal render denoiser: the kernel predictor of :mod:`.denoise_kpn` over three frames (issue 26).

An animation's neighbouring frames hold independent samples of mostly the same surfaces. Blender's Vector pass
says exactly where each pixel was one frame before and will be one frame after, so the previous and the next
noisy frames (colour, albedo, normal) are warped onto the current frame's pixels and the network predicts, at
every level of the pyramid, one kernel over the taps of all three frames with one joint normalisation (the
temporal kernels of Vogels et al. 2018). Where a neighbour shows the same surface it adds its samples (up to
three times the samples of one frame); where the vectors do not hold (disocclusions, moving shadows and
reflections, shading that changes) the network sees the warped albedo / normal / colour disagree and gives it
no weight. Consecutive outputs share two thirds of their samples, which is what keeps their residual error from
changing from frame to frame (flicker).

A window, not a recurrence: the output of frame f depends on frames f - 1, f, f + 1 only, so a farm chunk that
reads one frame on either side of its range gives exactly the frames of an unchunked run, and frames can be
denoised in any order and in parallel. A neighbour that is missing (the ends of a sequence, a still) is given
as absent (zeros): its warped normal is zero there, and a pixel whose warped normal is zero (absent, or the
world background, which has no normal) is masked out of the kernels exactly, so the output falls back to the
current frame's own taps.

``init_from`` grows it from the per-frame ``denoise_kpn`` (the shipped 0.9.0): the current frame's path keeps
every weight, the neighbours' first-layer inputs start at zero and their kernel taps at a small weight, so
training starts near the per-frame model and learns how far to trust the neighbours.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, warp
from .denoise_kpn import DEMODULATION_FLOOR, RESIDUAL_BOUND, DenoiseKPN, clamp_outliers, weighted_taps
from .denoise_unet import AUX

#: the neighbours in the order of the window layout's sources (frame f - 1, f, f + 1)
NEIGHBOURS = ("prev", "next")
#: the starting logit of a neighbour's taps relative to the current frame's (e^-3: ~5 % of the weight each)
NEIGHBOUR_START_LOGIT = -3.0


def neighbour_flows(vector: torch.Tensor) -> dict[str, torch.Tensor]:
    """The current frame's Vector pass (N x 4 x H x W, pixels, y up: XY towards the previous frame, ZW from
    the next) as image-space flows (x right, y down) from each current pixel to where it is in each neighbour."""
    return {"prev": torch.stack([vector[:, 0], -vector[:, 1]], 1),
            "next": torch.stack([-vector[:, 2], vector[:, 3]], 1)}


@register
class DenoiseKPNTemporal(DenoiseKPN):
    architecture = "denoise_kpn_temporal"

    def __init__(self, aux: list[str] = ("albedo", "normal"), widths: list[int] = (16, 32, 48, 64),
                 kernel: int = 5, scales: int | None = None, demodulate: bool = False,
                 finest_kernel: int | None = None, outlier_limit: float | None = None, residual: bool = False):
        if list(aux) != ["albedo", "normal"]:
            raise ValueError("the temporal denoiser needs both guides (albedo, normal): they tell it where the "
                             "vectors hold")
        super().__init__(aux, widths, kernel, scales, demodulate, finest_kernel, outlier_limit, residual)
        frames = 1 + len(NEIGHBOURS)
        # the U-Net reads the current frame's 9 channels and, per neighbour, its warped log colour, albedo, normal
        first = self.unet.encoders[0][0]
        self.unet.encoders[0][0] = nn.Conv2d(9 * frames, first.out_channels, first.kernel_size,
                                             padding=first.padding)
        extra = [h.out_channels - self.sizes[s] ** 2 for s, h in enumerate(self.heads)]
        self.heads = nn.ModuleList(nn.Conv2d(h.in_channels, frames * self.sizes[s] ** 2 + extra[s], 1)
                                   for s, h in enumerate(self.heads))
        with torch.no_grad():
            for s, head in enumerate(self.heads):
                head.weight.mul_(0.1)
                head.bias.zero_()
                k2 = self.sizes[s] ** 2
                head.bias[k2:frames * k2] = NEIGHBOUR_START_LOGIT
            if residual:
                self.heads[0].weight[-3:].zero_()

    def init_from(self, other: PostpassModel) -> None:
        """From a trained per-frame ``denoise_kpn`` with the same parameters (see the module docstring), or
        from this architecture with the same parameters."""
        if other.architecture == self.architecture or other.architecture != "denoise_kpn" \
                or other.params != self.params:
            return PostpassModel.init_from(self, other)
        state, mine = other.state_dict(), self.state_dict()
        first = "unet.encoders.0.0.weight"
        grown = torch.zeros_like(mine[first])
        grown[:, :state[first].shape[1]] = state[first]
        state[first] = grown
        for s in range(self.scales):
            k2 = self.sizes[s] ** 2
            for part in ("weight", "bias"):
                name = f"heads.{s}.{part}"
                theirs, grown = state[name], mine[name].clone()
                grown[:k2] = theirs[:k2]
                grown[k2 * (1 + len(NEIGHBOURS)):] = theirs[k2:]
                grown[k2:k2 * (1 + len(NEIGHBOURS))] = 0.0 if part == "weight" else NEIGHBOUR_START_LOGIT
                state[name] = grown
        self.load_state_dict(state)

    @property
    def tile_overlap(self) -> int:
        # the warp's bilinear neighbour beyond the per-frame reach; the vectors' own reach the runtime adds
        # (the ``vector`` input's displacement gain)
        return super().tile_overlap + 1

    def contract(self) -> ModelContract:
        current = [ImageInput("color", RGB, "linear", "noisy beauty render of frame f", hdr=True,
                              pass_name="Combined", source=1),
                   ImageInput("albedo", RGB, "linear", "Denoising Albedo of frame f", pass_name="Denoising Albedo",
                              source=1),
                   ImageInput("normal", ("X", "Y", "Z"), "data", "camera-space Denoising Normal of frame f",
                              pass_name="Denoising Normal", source=1),
                   ImageInput("vector", ("X", "Y", "Z", "W"), "data",
                              "Blender Vector pass of frame f (pixels, y up; towards frame f - 1 and from f + 1)",
                              pass_name="Vector", source=1, displacement_gain=1.0)]
        neighbours = []
        for source, (n, which) in ((0, ("prev", "f - 1")), (2, ("next", "f + 1"))):
            for name, spec in (("color", current[0]), ("albedo", AUX["albedo"]), ("normal", AUX["normal"])):
                neighbours.append(ImageInput(f"{n}_{name}", spec.channels, spec.color_space,
                                             f"{spec.pass_name} of frame {which} (absent: zeros)", hdr=spec.hdr,
                                             pass_name=spec.pass_name, source=source, optional=True, fill=0.0))
        exposure = ScalarInput("exposure", "scale mapping the image's log-average luminance to 0.18",
                               exposure_of=("color",))
        output = ImageOutput("denoised", RGB, "linear", "denoised beauty of frame f", hdr=True, pass_name="Combined")
        return ModelContract("denoise", (*current, *neighbours, exposure), (output,), scale=1,
                             pad_multiple=self.unet.pad_multiple, tile_overlap=self.tile_overlap,
                             alpha=AlphaRule(("color",), "denoised"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        exposure = x["exposure"].reshape(-1, 1, 1, 1)
        flows = neighbour_flows(x["vector"])
        frames = [(torch.clamp(x["color"] * exposure, min=0.0), x["albedo"], x["normal"], None)]
        for n in NEIGHBOURS:
            stack = warp(torch.cat([x[f"{n}_color"], x[f"{n}_albedo"], x[f"{n}_normal"]], 1), flows[n])
            normal = stack[:, 6:9]
            # absent (zeros) or the world background: no surface to match, no weight
            valid = (normal.square().sum(1, keepdim=True) > 0.25).to(stack.dtype)
            frames.append((torch.clamp(stack[:, :3] * exposure, min=0.0), stack[:, 3:6], normal, valid))
        if self.outlier_limit:
            frames = [(clamp_outliers(c, self.outlier_limit), a, n, v) for c, a, n, v in frames]
        features = [t for c, a, n, _ in frames for t in (torch.log1p(c), a.clamp(0.0, 1.0), n)]
        heads = [head(f) for head, f in zip(self.heads, self.unet.decoder_features(torch.cat(features, 1)))]
        correction = None
        if self.residual:
            heads[0], correction = heads[0][:, :-3], heads[0][:, -3:]
        images, masks = [], []
        for color, albedo, _, valid in frames:
            image = color
            if self.demodulate:
                image = torch.cat([color, color / (albedo.clamp(0.0, 1.0) + DEMODULATION_FLOOR)], 1)
            images.append(image if valid is None else image * valid)
            masks.append(torch.ones_like(color[:, :1]) if valid is None else valid)
        both = self.reconstruct_frames(images, masks, heads)
        if not self.demodulate:
            filtered = both
        else:
            albedo = x["albedo"].clamp(0.0, 1.0) + DEMODULATION_FLOOR
            choice = torch.sigmoid(heads[0][:, -1:])
            filtered = choice * both[:, 3:] * albedo + (1.0 - choice) * both[:, :3]
        if correction is not None:
            gain = torch.exp(torch.clamp(correction, -RESIDUAL_BOUND, RESIDUAL_BOUND))
            filtered = torch.clamp((1.0 + filtered) * gain - 1.0, min=0.0)
        return filtered / exposure

    def reconstruct_frames(self, images: list[torch.Tensor], masks: list[torch.Tensor],
                           heads: list[torch.Tensor]) -> torch.Tensor:
        """:meth:`DenoiseKPN.reconstruct` over several frames: at each level one kernel over every frame's
        taps, normalised by the weights of the valid taps only (a normalised convolution: each frame's image
        comes premultiplied by its mask, and the mask is filtered beside it)."""
        channels = images[0].shape[1]
        stacks = [torch.cat([image, mask], 1) for image, mask in zip(images, masks)]
        pyramids = [[stack] for stack in stacks]
        for _ in range(self.scales - 1):
            for pyramid in pyramids:
                pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        frames = len(images)
        result = None
        for s in reversed(range(self.scales)):
            size, k2 = self.sizes[s], self.sizes[s] ** 2
            logits = heads[s][:, :frames * k2]
            weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
            total = None
            for i, pyramid in enumerate(pyramids):
                taps = weighted_taps(pyramid[s], weights[:, i * k2:(i + 1) * k2], size, channels + 1)
                total = taps if total is None else total + taps
            filtered = total[:, :channels] / torch.clamp(total[:, channels:], min=1e-12)
            if result is None:
                result = filtered
                continue
            alpha = torch.sigmoid(heads[s][:, frames * k2:frames * k2 + 1])
            up = F.interpolate(result, scale_factor=2.0, mode="nearest")
            low = F.interpolate(F.avg_pool2d(filtered, 2), scale_factor=2.0, mode="nearest")
            result = filtered + alpha * (up - low)
        return result
