"""Colorizer: sRGB-encoded luminance plus sparse user colour hints (an RGB hint image and its mask) -> colour.

The U-Net predicts a colour offset from the grey value, so with no hints it still returns a plausible image
around the input's luminance rather than something arbitrary.
"""
from __future__ import annotations

import torch

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract

from . import PostpassModel, register
from .blocks import RGB, UNet


@register
class ColorizeUNet(PostpassModel):
    architecture = "colorize_unet"

    def __init__(self, widths: list[int] = (16, 32, 48, 64)):
        super().__init__(widths=list(widths))
        self.unet = UNet(1 + 3 + 1, 3, list(widths))

    def contract(self) -> ModelContract:
        inputs = (ImageInput("gray", ("Y",), "srgb", "luminance of the image to colour (RGB gives its luminance)",
                             pass_name="Combined"),
                  ImageInput("hints", RGB, "srgb", "sparse colour hints; read only where mask is 1", optional=True),
                  ImageInput("mask", ("mask",), "data", "1 where a hint is given, else 0", optional=True))
        output = ImageOutput("colorized", RGB, "srgb", "colourised image", pass_name="Combined")
        return ModelContract("colorize", inputs, (output,), scale=1, pad_multiple=self.unet.pad_multiple,
                             tile_overlap=self.unet.receptive_radius, alpha=AlphaRule(("gray",), "colorized"))

    def forward(self, gray: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        offset = self.unet(torch.cat([gray, hints * mask, mask], 1))
        return (gray + offset).clamp(0.0, 1.0)
