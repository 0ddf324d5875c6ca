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

Without vectors (``search > 0``) the start flow is estimated in the graph: on the frames' log-domain colour
averaged down by ``search_scale``, every whole-pixel motion D (frame0 -> frame1) within +-``search`` coarse
pixels is scored by how well frame0 at p - D/2 matches frame1 at p + D/2 (a symmetric, linear-motion match
at the output pixel p, so no flow has to be reversed; at the midpoint whatever t is), box-filtered over (2 ``search_box`` + 1)^2; a softmax over the
scores (learned temperature; a small penalty per pixel of motion keeps flat and still regions still) gives the expected D, upsampled, as the start flows; the U-Net then corrects
them as with vectors. ``search=0`` keeps the zero start (the frame blend).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode, hdr_encode, warp

VECTOR_GAIN = 2.0


@register
class InbetweenNet(PostpassModel):
    architecture = "inbetween_net"

    def __init__(self, vectors: bool = False, widths: list[int] = (16, 32, 48, 64), max_correction: float = 4.0,
                 search: int = 0, search_scale: int = 2, search_box: int = 3, search_penalty: float = 0.005):
        super().__init__(vectors=vectors, widths=list(widths), max_correction=max_correction, search=search,
                         search_scale=search_scale, search_box=search_box, search_penalty=search_penalty)
        self.vectors, self.max_correction = vectors, max_correction
        self.search, self.search_scale = (0 if vectors else search), search_scale
        self.search_box, self.search_penalty = search_box, search_penalty
        if self.search:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(0.005)))
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
        if self.search:  # the search reads up to +-search coarse pixels (+ the box and the pooling) away
            overlap += (self.search + self.search_box + 2) * self.search_scale
        pad = math.lcm(self.unet.pad_multiple, self.search_scale) if self.search else self.unet.pad_multiple
        return ModelContract("inbetween", (*frames, *vectors, *scalars), (output,), scale=1,
                             pad_multiple=pad, tile_overlap=overlap,
                             alpha=AlphaRule(("frame0", "frame1"), "inbetween", mix="t"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        t = x["t"].reshape(-1, 1, 1, 1)
        frame0, frame1 = hdr_encode(x["frame0"], x["exposure"]), hdr_encode(x["frame1"], x["exposure"])
        if self.vectors:
            v0, v1 = x["vectors0"], x["vectors1"]
            start0 = -VECTOR_GAIN * t * torch.cat([-v0[:, 2:3], v0[:, 3:4]], 1)
            start1 = -VECTOR_GAIN * (1.0 - t) * torch.cat([v1[:, 0:1], -v1[:, 1:2]], 1)
        elif self.search:
            motion = self._search(frame0, frame1)
            start0, start1 = -t * motion, (1.0 - t) * motion
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

    def _search(self, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
        """Expected motion frame0 -> frame1 (N x 2 x H x W, full-resolution pixels) from the coarse match.

        Each candidate D compares frame0 at p - D/2 with frame1 at p + D/2 (the midpoint; for other t the
        U-Net's correction takes up the difference). Half-pixel samples are means of two neighbours, so every
        candidate is a fixed slice of the padded coarse frames: no resampling, cheap in onnxruntime.
        """
        k, r, box = self.search_scale, self.search, self.search_box
        h, w = frame0.shape[-2] // k, frame0.shape[-1] // k
        pad = (r + 1) // 2 + 1
        halves = [_half_steps(F.pad(F.avg_pool2d(f, k), (pad, pad, pad, pad), mode="replicate"))
                  for f in (frame0, frame1)]
        # softmax over the candidates, accumulated one at a time (running maximum, as in online softmax): the
        # whole cost volume never exists, which keeps a 1080p frame in cache and fast
        inv_temperature = torch.exp(-self.log_temperature)
        best = total = sum_x = sum_y = None
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                cost = (_shifted(halves[0], -dx, -dy, pad, h, w) - _shifted(halves[1], dx, dy, pad, h, w)).abs()
                cost = F.avg_pool2d(cost.mean(1, keepdim=True), (1, 2 * box + 1), stride=1, padding=(0, box),
                                    count_include_pad=False)
                cost = F.avg_pool2d(cost, (2 * box + 1, 1), stride=1, padding=(box, 0), count_include_pad=False)
                score = -(cost + self.search_penalty * math.hypot(dx, dy)) * inv_temperature
                if best is None:
                    best, total, sum_x, sum_y = score, torch.ones_like(score), score * 0 + dx, score * 0 + dy
                    continue
                new_best = torch.maximum(best, score)
                old, this = torch.exp(best - new_best), torch.exp(score - new_best)
                total, sum_x, sum_y = total * old + this, sum_x * old + this * dx, sum_y * old + this * dy
                best = new_best
        motion = torch.cat([sum_x, sum_y], 1) / total
        return F.interpolate(motion * float(k), scale_factor=float(k), mode="bilinear", align_corners=False)


def _half_steps(x: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """(fx, fy) -> x sampled (fx/2, fy/2) pixels right/down of each pixel (fx, fy in {0, 1}), one pixel smaller
    on the far edges."""
    right = 0.5 * (x[..., :, :-1] + x[..., :, 1:])
    return {(0, 0): x[..., :-1, :-1], (1, 0): right[..., :-1, :], (0, 1): 0.5 * (x[..., :-1, :-1] + x[..., 1:, :-1]),
            (1, 1): 0.5 * (right[..., :-1, :] + right[..., 1:, :])}


def _shifted(halves: dict, dx: int, dy: int, pad: int, h: int, w: int) -> torch.Tensor:
    """The padded coarse image sampled at p + (dx/2, dy/2) for the h x w pixels p (integers dx, dy)."""
    x0, y0 = pad + (dx >> 1), pad + (dy >> 1)  # floor of the half step
    return halves[dx & 1, dy & 1][..., y0:y0 + h, x0:x0 + w]
