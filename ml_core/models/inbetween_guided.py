"""Guide-pass inbetweening (issue 28): the frame between two rendered key frames, made with the *skipped frame's
own* cheap passes (Denoising Albedo, Normal, Depth and Vector of a low-sample guide render).

Why guides: without them a network must guess where every surface is at the frame it makes (the key frames'
vectors say where *their* pixels go, not what the made frame shows: disocclusions, thin and fast objects tear).
The skipped frame's guide render answers that exactly and costs a small part of a full render: its Vector pass
says where each of *its* pixels was in the key frame before (``XY``) and will be in the key frame after (``ZW``),
so both keys are read at exactly the right place by a plain backward warp (``addon.runtime.motion``, done by the
runtime before tiling, the contract's ``warp``), and its albedo, normal and depth say, per pixel, whether the
surface a key shows there is the same one (disocclusion) and what its texture is.

What the network blends, per pixel, in the log domain after exposure normalisation:

* each key as it is (``plain``), right wherever the key sees the same surface;
* each key's *shading* (colour / its albedo) times the guide's albedo (``remodulated``): textures move exactly
  with the guide frame's geometry, and a surface that the key sees with another texture still lends its light.

The weight of a key's candidates is ``exp(-ga |albedo_k - albedo| - gn |normal_k - normal| - gd |depth_k -
depth| / depth)`` times its closeness in time (the albedo mismatch over 3 x 3 pixels; the mismatches use the
warped key guides); the plain candidate also has a bias, its own albedo-mismatch gain and a motion term. Those six
numbers are learned. With ``network`` (off in the shipped model: see ``__init__``) a U-Net reads candidates,
guides and mismatches and adds logits over the four candidates and a residual (disocclusions both keys miss,
shadows and highlights that move otherwise than the surfaces).

Key spacing: the guide frame's vectors span one frame step each way. Frames rendered every other frame (the
trained and measured case, ``key_steps`` 2 at t = 1/2) are read exactly; for wider spacing the runtime scales
the vectors by the steps to each key (``t * key_steps`` and ``(1 - t) * key_steps``), assuming linear motion.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode

#: demodulation floor: colour / (albedo + EPS) stays finite on black surfaces and the background
EPS = 0.02
#: passes of each key frame the model reads (moved onto the made frame's pixels by the runtime)
KEY_PASSES = (("frame", RGB, "Combined"), ("albedo", RGB, "Denoising Albedo"),
              ("normal", ("X", "Y", "Z"), "Denoising Normal"), ("depth", ("Z",), "Denoising Depth"))
#: start values of the mismatch gains (albedo, normal, relative depth) and of the plain candidates' bias and extra
#: albedo-mismatch gain: a hand-made blend, set before any training. A plain key is right where its albedo is the
#: guide's (and cleaner: the guide has few samples), its remodulated shading where the texture moved otherwise. The
#: hand-made blend on the authored animations with 4 / 16-spp guides: bias -3 and no extra gain 30.20 / 30.82 dB;
#: bias 0, gain 15: 30.42 / 30.93 (``bench inbetween_guided``, every other frame).
START_GAINS = (8.0, 4.0, 10.0)
START_PLAIN_BIAS = 0.0
START_PLAIN_ALBEDO_GAIN = 15.0


@register
class InbetweenGuided(PostpassModel):
    architecture = "inbetween_guided"

    def __init__(self, widths: list[int] = (24, 32, 48, 64), leak: float = 0.1, network: bool = True):
        params = {"widths": list(widths), "leak": leak}
        if not network:
            params["network"] = False
        super().__init__(**params)
        # in: 4 candidates (12), guide albedo, normal (6), 3 mismatches per key (6), motion length to each key (2),
        # t (1); out: 4 logits over the candidates, residual (3). ``network`` False: the learned blend alone (its
        # gains and biases), no U-Net: on the authored animations the U-Net trained on our sequences lost what
        # the blend gains (see docs/benchmarks.md), so the shipped model is the blend.
        self.unet = UNet(27, 7, list(widths), leak=leak) if network else None
        if network:
            nn.init.normal_(self.unet.head.weight, std=1e-3)  # start at the hand-made blend, then learn
            nn.init.zeros_(self.unet.head.bias)
        self.log_gains = nn.Parameter(torch.log(torch.tensor(START_GAINS)))
        # the plain candidates' bias and their extra weight on the albedo mismatch (see START_PLAIN_BIAS)
        self.plain_bias = nn.Parameter(torch.tensor(START_PLAIN_BIAS))
        # ... and fall further behind the longer the way to the key (log of 1 + pixels): a surface that moved far
        # has likely turned, so its light and texture changed on the way (learned; 0 at the start)
        self.plain_motion = nn.Parameter(torch.tensor(0.0))
        self.plain_albedo_gain = nn.Parameter(torch.tensor(START_PLAIN_ALBEDO_GAIN))

    def contract(self) -> ModelContract:
        keys = []
        for i, which in ((0, "prev"), (1, "next")):
            side = "before" if i == 0 else "after"
            for name, channels, pass_name in KEY_PASSES:
                keys.append(ImageInput(
                    f"{name}{i}", channels, "linear" if channels == RGB else "data",
                    f"{pass_name} of the rendered key frame {side} (t={i}), moved onto the made frame's pixels along "
                    "the guide render's Vector pass by the runtime", hdr=name == "frame", pass_name=pass_name,
                    source=i, warp=("vectors", which)))
        guides = [ImageInput("albedo", RGB, "linear", "Denoising Albedo of the made frame's guide render",
                             pass_name="Denoising Albedo", source=2),
                  ImageInput("normal", ("X", "Y", "Z"), "data", "Denoising Normal of the made frame's guide render",
                             pass_name="Denoising Normal", source=2),
                  ImageInput("depth", ("Z",), "data", "Denoising Depth of the made frame's guide render",
                             pass_name="Denoising Depth", source=2),
                  ImageInput("vectors", ("X", "Y", "Z", "W"), "data",
                             "Vector pass of the made frame's guide render (pixels, y up; one frame step each way)",
                             pass_name="Vector", source=2)]
        scalars = [ScalarInput("t", "time of the output between frame0 (0) and frame1 (1)", default=0.5),
                   ScalarInput("exposure", "scale mapping the key frames' log-average luminance to 0.18",
                               exposure_of=("frame0", "frame1"))]
        output = ImageOutput("inbetween", RGB, "linear", "frame at time t", hdr=True, pass_name="Combined")
        # an output pixel reads its 3 x 3 neighbourhood (the albedo mismatch) without the U-Net, the U-Net's field
        pad, overlap = (self.unet.pad_multiple, self.unet.receptive_radius + 2) if self.unet else (1, 2)
        return ModelContract("inbetween", (*keys, *guides, *scalars), (output,), scale=1,
                             pad_multiple=pad, tile_overlap=overlap,
                             alpha=AlphaRule(("frame0", "frame1"), "inbetween", mix="t"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        t = x["t"].reshape(-1, 1, 1, 1)
        exposure = x["exposure"].reshape(-1, 1, 1, 1)
        albedo, normal, depth = x["albedo"].clamp(0.0, 1.0), x["normal"], x["depth"].clamp(min=0.0)
        gains = torch.exp(self.log_gains)
        # one step's motion towards each side (long motion: shading and shadows change more on the way)
        vectors = x["vectors"]
        motion = [torch.log1p(torch.sqrt(vectors[:, k:k + 2].square().sum(1, keepdim=True))) for k in (0, 2)]
        candidates, priors, mismatches = [], [], []
        for i, closeness in ((0, 1.0 - t), (1, t)):
            colour = torch.clamp(x[f"frame{i}"] * exposure, min=0.0)
            key_albedo = x[f"albedo{i}"].clamp(0.0, 1.0)
            # over 3 x 3 pixels: a guide of few samples is aliased on fine textures (one sample's albedo per pixel),
            # which per pixel reads as a mismatch everywhere; a surface that is not the key's differs over an area
            d_albedo = F.avg_pool2d((key_albedo - albedo), 3, stride=1, padding=1,
                                    count_include_pad=False).abs().mean(1, keepdim=True)
            d_normal = (x[f"normal{i}"] - normal).abs().mean(1, keepdim=True)
            d_depth = (x[f"depth{i}"] - depth).abs() / (depth + 1e-3)
            d_depth = d_depth.clamp(max=1.0)  # outside the key's frame (zeros) and the background: "far off"
            remodulated = colour / (key_albedo + EPS) * (albedo + EPS)
            candidates += [torch.log1p(colour), torch.log1p(remodulated)]
            prior = (-gains[0] * d_albedo - gains[1] * d_normal - gains[2] * d_depth
                     + torch.log(closeness + 1e-3))
            priors += [prior + self.plain_bias - self.plain_motion * motion[i] - self.plain_albedo_gain * d_albedo, prior]
            mismatches += [d_albedo, d_normal, d_depth]
        logits, residual = torch.cat(priors, 1), None
        if self.unet is not None:
            features = candidates + [albedo, normal] + mismatches + motion + [torch.ones_like(depth) * t]
            out = self.unet(torch.cat(features, 1))
            logits, residual = logits + out[:, :4], out[:, 4:7]
        weights = torch.softmax(logits, 1)
        mixed = sum(weights[:, k:k + 1] * candidates[k] for k in range(4))
        return hdr_decode(mixed if residual is None else mixed + residual, x["exposure"])

