"""A correction of Blender's own denoised render, learned on one shot (issue 27).

Blender denoises a Cycles render with OIDN by default (Denoise on, Accurate prefilter, High quality); with
Denoising Data on, the file keeps the raw render as "Noisy Image" beside it, so OIDN's result costs a user
nothing. A general network of ours, trained on a few hundred procedural scenes on a CPU, stays below OIDN on
scenes it never saw; a network trained for minutes on the views of the artist's own shot learns what OIDN gets
wrong on that shot (its lamp's falloff, its textures, the noise level of its sample count) and starts from
OIDN's result instead of from noise:

    out = decode(encode(blender_denoised) + unet(encode(blender_denoised), encode(color), albedo, normal))

in the log domain at Blender's result's exposure. The correction's head starts at zero, so an untrained network
returns Blender's image exactly, and a fine-tune that learns nothing useful costs nothing (``export.finetune``
keeps it only when it beats Blender's result on held-out views). Measured on two animated authored shots
(docs/benchmarks.md): +1.3 dB over Blender's OIDN on frames training never saw at 4 spp.
"""
from __future__ import annotations

import torch

from addon.runtime.contract import (BLENDER_DENOISED_PASS, AlphaRule, ImageInput, ImageOutput, ModelContract,
                                    ScalarInput)

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode, hdr_encode
from .denoise_unet import AUX, aux_features

#: the leaky ReLUs' slope: behind a zero head, plain ReLUs of the last decoder can all die early in training
LEAK = 0.1


@register
class DenoiseOIDNResidual(PostpassModel):
    architecture = "denoise_oidn_residual"

    def __init__(self, widths: list[int] = (32, 48, 64, 96)):
        super().__init__(widths=list(widths))
        # Blender's result and the raw colour (log), albedo, normal
        self.unet = UNet(12, 3, list(widths), leak=LEAK)
        with torch.no_grad():
            self.unet.head.weight.zero_()
            self.unet.head.bias.zero_()

    def contract(self) -> ModelContract:
        inputs = (ImageInput("color", RGB, "linear", "noisy beauty render (the raw render)", hdr=True,
                             pass_name="Combined"),
                  AUX["albedo"], AUX["normal"],
                  ImageInput("blender_denoised", RGB, "linear", "Blender's denoised render (Cycles' Denoise: "
                             "OpenImageDenoise, Accurate, High)", hdr=True, pass_name=BLENDER_DENOISED_PASS),
                  ScalarInput("exposure", "scale mapping Blender's denoised image's log-average luminance to 0.18",
                              exposure_of=("blender_denoised",)))
        output = ImageOutput("denoised", RGB, "linear", "denoised beauty", hdr=True, pass_name="Combined")
        return ModelContract("denoise", inputs, (output,), scale=1, pad_multiple=self.unet.pad_multiple,
                             tile_overlap=self.unet.receptive_radius, alpha=AlphaRule(("color",), "denoised"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        return self.correct(x["color"], x["albedo"], x["normal"], x["blender_denoised"], x["exposure"])

    def correct(self, color: torch.Tensor, albedo: torch.Tensor, normal: torch.Tensor, denoised: torch.Tensor,
                exposure: torch.Tensor) -> torch.Tensor:
        """Blender's result ``denoised`` corrected, given the raw render and guides of the same frame."""
        base = hdr_encode(denoised, exposure)
        features = torch.cat([base, hdr_encode(color, exposure), *aux_features({"albedo": albedo, "normal": normal})],
                             1)
        return hdr_decode(base + self.unet(features), exposure)
