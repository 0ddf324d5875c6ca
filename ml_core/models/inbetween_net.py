"""Frame inbetweening: frames at t=0 and t=1 (+ optionally both frames' Blender Vector passes) -> frame at t.

Both frames are first warped backwards to time t along the starting flows (with vector passes the renderer's
exact motion; without, zero). A U-Net sees the frames, their warps, t and the flows, and predicts a bounded flow
correction per frame, a blend weight (where the warps disagree, one side is occluded) and a residual for what
no warp holds (disocclusions, shading and shadow changes); all in the log domain.

Vector convention (BLENDER5.md): the pass is in pixels with y up, XY = pos(prev) - pos(cur), ZW = pos(cur) -
pos(next). Frames are rendered two apart (every other frame), so each frame's vectors reach the middle frame:
in image coordinates frame0 moves by (-Z, W) per half interval and frame1 by (X, -Y) backwards. Assuming
locally constant motion, the pixel p at time t finds frame0's content at p - 2t (-Z, W) and frame1's at
p - 2(1 - t)(X, -Y): displacements up to twice the vectors, hence ``displacement_gain=2``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode, hdr_encode, warp

VECTOR_GAIN = 2.0


@register
class InbetweenNet(PostpassModel):
    architecture = "inbetween_net"

    def __init__(self, vectors: bool = False, widths: list[int] = (16, 32, 48, 64), max_correction: float = 4.0):
        super().__init__(vectors=vectors, widths=list(widths), max_correction=max_correction)
        self.vectors, self.max_correction = vectors, max_correction
        # in: frames, their start warps, t, two start flows; out: two flow corrections, blend, residual
        self.unet = UNet(3 * 4 + 1 + 4, 8, list(widths))
        # start (almost) as the plain time-weighted blend of the start warps, the vector-warp baseline, then learn
        nn.init.normal_(self.unet.head.weight, std=1e-3)
        nn.init.zeros_(self.unet.head.bias)

    def contract(self) -> ModelContract:
        frames = [ImageInput(f"frame{i}", RGB, "linear", f"rendered frame at t={i}", hdr=True,
                             pass_name="Combined", source=i) for i in (0, 1)]
        vectors = [ImageInput(f"vectors{i}", ("X", "Y", "Z", "W"), "data",
                              f"Blender Vector pass of frame{i} (pixels, y up; frames rendered two apart)",
                              pass_name="Vector", source=i, displacement_gain=VECTOR_GAIN)
                   for i in (0, 1)] if self.vectors else []
        scalars = [ScalarInput("t", "time of the output between frame0 (0) and frame1 (1)", default=0.5),
                   ScalarInput("exposure", "scale mapping the frames' log-average luminance to 0.18",
                               exposure_of=("frame0", "frame1"))]
        output = ImageOutput("inbetween", RGB, "linear", "frame at time t", hdr=True, pass_name="Combined")
        # An output pixel reads the U-Net's context, and samples frames up to the flow correction (+1 bilinear)
        # away; vector displacements are added by the runtime from the actual vectors.
        # (the U-Net reads the start warps, which sample one bilinear pixel around the vector displacement)
        overlap = self.unet.receptive_radius + math.ceil(self.max_correction) + 1
        return ModelContract("inbetween", (*frames, *vectors, *scalars), (output,), scale=1,
                             pad_multiple=self.unet.pad_multiple, tile_overlap=overlap,
                             alpha=AlphaRule(("frame0", "frame1"), "inbetween", mix="t"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        t = x["t"].reshape(-1, 1, 1, 1)
        frame0, frame1 = hdr_encode(x["frame0"], x["exposure"]), hdr_encode(x["frame1"], x["exposure"])
        if self.vectors:
            v0, v1 = x["vectors0"], x["vectors1"]
            start0 = -VECTOR_GAIN * t * torch.cat([-v0[:, 2:3], v0[:, 3:4]], 1)
            start1 = -VECTOR_GAIN * (1.0 - t) * torch.cat([v1[:, 0:1], -v1[:, 1:2]], 1)
        else:
            start0 = start1 = torch.zeros_like(frame0[:, :2])
        t_map = torch.ones_like(frame0[:, :1]) * t
        first0, first1 = warp(frame0, start0), warp(frame1, start1)
        out = self.unet(torch.cat([frame0, frame1, first0, first1, t_map, start0 / 8.0, start1 / 8.0], 1))
        correction = torch.tanh(out[:, :4]) * self.max_correction
        warped0 = warp(frame0, start0 + correction[:, :2])
        warped1 = warp(frame1, start1 + correction[:, 2:4])
        blend = torch.sigmoid(out[:, 4:5])
        weight0, weight1 = (1.0 - t) * blend, t * (1.0 - blend)
        mixed = (weight0 * warped0 + weight1 * warped1) / (weight0 + weight1 + 1e-6)
        return hdr_decode(mixed + out[:, 5:8], x["exposure"])
