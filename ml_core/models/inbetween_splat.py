"""Vector-guided inbetweening by forward splatting: each frame's pixels are pushed along the renderer's exact
motion to time t, nearer surfaces weighing more, and a U-Net blends the candidates and fixes what no frame
holds.

Why splat forward: Blender's Vector pass gives every pixel of a rendered frame its exact motion, i.e. where
that pixel *goes*. Pushing pixels there (bilinear splatting, ``blocks.splat``) puts moving objects in the
right place however far they move; the classic backward warp (``ml_core.flow.vector_blend``) reads the motion
at the destination pixel instead, which belongs to whatever was there before, and tears moving objects apart
beyond a few pixels. Where two surfaces land on one pixel the nearer one wins softly: weights
``depth ** -DEPTH_POWER`` (Denoising Depth; an absent depth weighs all alike). On the test split this plain
splat-and-average is +1.7 dB over the backward warp before any learning.

The network sees both frames, both splats with their coverage, both backward warps, and t. It predicts
logits over the four candidates (splat0, splat1, warp0, warp1), starting from "splats where they cover,
warps in the holes, weighted by closeness in time", and a residual for disocclusions, shading and shadow
changes; all in the log domain.

Vector convention (BLENDER5.md): pixels, y up, XY = pos(prev) - pos(cur), ZW = pos(cur) - pos(next). Frames
are rendered two apart, so each frame's vectors reach the middle frame; the motion to time t is
``VECTOR_GAIN * t`` times the one-step vector for frame0 and ``VECTOR_GAIN * (1 - t)`` for frame1.

``motion="flow"`` is the same network for footage without vectors (the image-only inbetweener): its motion
inputs are optical flows between the two frames (frame0 -> frame1 at frame0's pixels and back; image
coordinates, the whole key gap), which the runtime estimates with OpenCV's DIS when they are not given
(``addon.runtime.estimate``); there is no depth, so pixels landing on one spot weigh by how well their colour
matches where their flow lands in the other frame. The network learns
to correct what the estimate gets wrong (occlusions, thin and fast objects), as the vector-guided one corrects
the splats; it starts from the vector-guided weights (same layers).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode, hdr_encode, splat, warp

VECTOR_GAIN = 2.0
#: what the motion inputs are: Blender's Vector passes (+ depth), or optical flow between the frames
MOTIONS = ("vectors", "flow")
#: default ``mismatch_gain`` per motion: splat weights times exp(-gain * mismatch), mismatch: mean |log-encoded
#: frame0 - frame1 warped back along the motion| (0: off, as the vector-guided 0.1 / 0.2 models were trained)
MISMATCH_GAINS = {"vectors": 0.0, "flow": 5.0}
DEPTH_POWER = 2.0
#: coverage below this counts as a hole
COVERED = 1e-3


@register
class InbetweenSplat(PostpassModel):
    architecture = "inbetween_splat"

    def __init__(self, widths: list[int] = (24, 32, 48, 64), motion: str = "vectors", leak: float = 0.0,
                 mismatch_gain: float | None = None):
        if motion not in MOTIONS:
            raise ValueError(f"motion must be one of {', '.join(MOTIONS)}, not {motion!r}")
        params = {"widths": list(widths)}
        if motion != "vectors":  # options are only recorded when set, so older checkpoints' params stay as they were
            params["motion"] = motion
        if leak:
            params["leak"] = leak
        if mismatch_gain is not None:
            params["mismatch_gain"] = mismatch_gain
        super().__init__(**params)
        self.motion = motion
        self.mismatch_gain = MISMATCH_GAINS[motion] if mismatch_gain is None else mismatch_gain
        # in: 2 frames, 2 splats, 2 coverages, 2 backward warps, t; out: 4 candidate logits, residual.
        # Leaky units: with plain ReLUs the 0.1.0 / 0.2.0 models' last decoder level died in training (0.1% of
        # its units ever positive), so only the head's bias learned.
        self.unet = UNet(3 * 6 + 2 + 1, 7, list(widths), leak=leak)
        nn.init.normal_(self.unet.head.weight, std=1e-3)  # start at the hand-made blend below, then learn
        nn.init.zeros_(self.unet.head.bias)

    def contract(self) -> ModelContract:
        frames = [ImageInput(f"frame{i}", RGB, "linear", f"rendered frame at t={i}", hdr=True,
                             pass_name="Combined", source=i) for i in (0, 1)]
        if self.motion == "flow":
            motion = [ImageInput(f"flow{i}", ("DX", "DY"), "data",
                                 f"optical flow from frame{i} to frame{1 - i} at frame{i}'s pixels (pixels, x right, "
                                 "y down; estimated from the frames when not given)", optional=True,
                                 displacement_gain=1.0, estimate=("optical_flow", f"frame{i}", f"frame{1 - i}"))
                      for i in (0, 1)]
        else:
            motion = [ImageInput(f"vectors{i}", ("X", "Y", "Z", "W"), "data",
                                 f"Blender Vector pass of frame{i} (pixels, y up; frames rendered two apart)",
                                 pass_name="Vector", source=i, displacement_gain=VECTOR_GAIN) for i in (0, 1)]
            motion += [ImageInput(f"depth{i}", ("Z",), "data", f"Denoising Depth of frame{i} (nearer surfaces win)",
                                  pass_name="Denoising Depth", source=i, optional=True, fill=1.0) for i in (0, 1)]
        scalars = [ScalarInput("t", "time of the output between frame0 (0) and frame1 (1)", default=0.5),
                   ScalarInput("exposure", "scale mapping the frames' log-average luminance to 0.18",
                               exposure_of=("frame0", "frame1"))]
        output = ImageOutput("inbetween", RGB, "linear", "frame at time t", hdr=True, pass_name="Combined")
        # An output pixel reads the U-Net's context over splats and warps, which move pixels by the vector
        # displacement (added by the runtime from the actual vectors) plus one bilinear pixel.
        return ModelContract("inbetween", (*frames, *motion, *scalars), (output,), scale=1,
                             pad_multiple=self.unet.pad_multiple, tile_overlap=self.unet.receptive_radius + 2,
                             alpha=AlphaRule(("frame0", "frame1"), "inbetween", mix="t"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        t = x["t"].reshape(-1, 1, 1, 1)
        exposure = x["exposure"]
        frame0, frame1 = hdr_encode(x["frame0"], exposure), hdr_encode(x["frame1"], exposure)
        if self.motion == "flow":
            flow0, flow1 = x["flow0"], x["flow1"]  # frame0 -> frame1, frame1 -> frame0
            weight0 = weight1 = torch.ones_like(frame0[:, :1])  # no depth
        else:
            v0, v1 = x["vectors0"], x["vectors1"]
            flow0 = VECTOR_GAIN * torch.cat([-v0[:, 2:3], v0[:, 3:4]], 1)  # image coordinates, the whole key gap
            flow1 = VECTOR_GAIN * torch.cat([v1[:, 0:1], -v1[:, 1:2]], 1)
            weight0, weight1 = _nearness(x["depth0"]), _nearness(x["depth1"])
        ahead, behind = t * flow0, (1.0 - t) * flow1  # frame0 -> t, frame1 -> t
        if self.mismatch_gain:
            # A pixel whose motion lands on another colour in the other frame is likely hidden there (or its
            # motion is wrong), so it weighs less where pixels collide (brightness constancy, as in softmax
            # splatting). Gains chosen on the validation split with the vector-guided 0.2 weights: flow 3 / 5 / 7
            # / 10: 25.52 / 25.58 / 25.49 / 25.42 dB (off: 25.03); vectors (times the depth weight) 1 / 2 / 3 / 5:
            # 26.27 / 26.35 / 26.25 / 25.81 (off: 26.12).
            weight0 = weight0 * _agreement(frame0, warp(frame1, flow0), self.mismatch_gain)
            weight1 = weight1 * _agreement(frame1, warp(frame0, flow1), self.mismatch_gain)
        splat0, cover0 = _splat(frame0, ahead, weight0)
        splat1, cover1 = _splat(frame1, behind, weight1)
        warp0, warp1 = warp(frame0, -ahead), warp(frame1, -behind)
        features = [frame0, frame1, splat0, splat1, cover0.clamp(max=1.0), cover1.clamp(max=1.0), warp0, warp1,
                    torch.ones_like(cover0) * t]
        out = self.unet(torch.cat(features, 1))
        prior = torch.cat([torch.log(cover0.clamp(max=1.0) + COVERED) + torch.log(1.0 - t + 1e-3),
                           torch.log(cover1.clamp(max=1.0) + COVERED) + torch.log(t + 1e-3),
                           math.log(COVERED) + torch.log(1.0 - t + 1e-3) + torch.zeros_like(cover0),
                           math.log(COVERED) + torch.log(t + 1e-3) + torch.zeros_like(cover0)], 1)
        weights = torch.softmax(prior + out[:, :4], 1)
        mixed = (weights[:, 0:1] * splat0 + weights[:, 1:2] * splat1 + weights[:, 2:3] * warp0
                 + weights[:, 3:4] * warp1)
        return hdr_decode(mixed + out[:, 4:7], exposure)


def _agreement(image: torch.Tensor, other: torch.Tensor, gain: float) -> torch.Tensor:
    """exp(-gain * mean |image - other| over channels): 1 where a pixel's colour matches, less where not."""
    return torch.exp(-gain * (image - other).abs().mean(1, keepdim=True))


def _nearness(depth: torch.Tensor) -> torch.Tensor:
    """Splat weights from depth: nearer surfaces weigh more (``depth ** -DEPTH_POWER``)."""
    nearness = depth.clamp(1e-3, 1e6) ** -DEPTH_POWER
    # weight scale cancels in the ratio, but the nearness range must stay inside float32: normalise per image
    return nearness / nearness.amax(dim=(2, 3), keepdim=True)


def _splat(image: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(splatted image, coverage): ``image`` pushed along ``flow``, each pixel weighing ``weight`` where pixels
    collide; coverage is the plain bilinear weight that landed on each pixel (0 in holes)."""
    ones = torch.ones_like(weight)
    summed = splat(torch.cat([image * weight, weight, ones], 1), flow)
    c = image.shape[1]
    colour = summed[:, :c] / summed[:, c:c + 1].clamp_min(1e-12)
    return torch.where(summed[:, c + 1:] > COVERED, colour, torch.zeros_like(colour)), summed[:, c + 1:]
