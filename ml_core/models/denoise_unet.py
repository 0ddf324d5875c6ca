"""Render denoiser: noisy linear HDR colour (+ Denoising Albedo, camera-space Normal) -> clean colour.

A direct-prediction U-Net like OIDN's, at CPU-friendly widths. The exposure scale is an input (the runtime
computes one per image, or per shot) and the log transfer runs inside the graph, so tiles of one image agree.
"""
from __future__ import annotations

import torch

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, UNet, hdr_decode, hdr_encode

AUX = {
    "albedo": ImageInput("albedo", RGB, "linear", "Denoising Albedo (clipped to [0, 1])", pass_name="Denoising Albedo"),
    "normal": ImageInput("normal", ("X", "Y", "Z"), "data", "camera-space normal (Denoising Normal)",
                         pass_name="Denoising Normal"),
}


def denoise_contract(aux: tuple[str, ...], pad_multiple: int, tile_overlap: int,
                     color_space: str = "linear") -> ModelContract:
    """The I/O every denoiser shares: noisy colour, the chosen auxiliary passes and the exposure -> colour; an
    ``srgb`` (8-bit image) denoiser: the display values in and out, [0, 1], no exposure to normalise."""
    if color_space == "srgb":
        inputs = (ImageInput("color", RGB, "srgb", "noisy image, 8-bit sRGB as saved", pass_name="Combined"),)
        output = ImageOutput("denoised", RGB, "srgb", "denoised image", pass_name="Combined")
    else:
        inputs = (ImageInput("color", RGB, "linear", "noisy beauty render", hdr=True, pass_name="Combined"),
                  *(AUX[a] for a in aux),
                  ScalarInput("exposure", "scale mapping the image's log-average luminance to 0.18",
                              exposure_of=("color",)))
        output = ImageOutput("denoised", RGB, "linear", "denoised beauty", hdr=True, pass_name="Combined")
    return ModelContract("denoise", inputs, (output,), scale=1, pad_multiple=pad_multiple, tile_overlap=tile_overlap,
                         alpha=AlphaRule(("color",), "denoised"))


def aux_features(x: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The network's view of the auxiliary passes present in ``x``."""
    features = []
    if "albedo" in x:
        features.append(x["albedo"].clamp(0.0, 1.0))  # albedo exceeds 1 where lights are seen directly
    if "normal" in x:
        features.append(x["normal"])
    return features


def check_aux(aux) -> None:
    if [a for a in AUX if a in aux] != list(aux):
        raise ValueError(f"aux must be an ordered subset of {list(AUX)}, got {list(aux)}")


@register
class DenoiseUNet(PostpassModel):
    architecture = "denoise_unet"

    def __init__(self, aux: list[str] = ("albedo", "normal"), widths: list[int] = (16, 32, 48, 64)):
        check_aux(aux)
        super().__init__(aux=list(aux), widths=list(widths))
        self.aux = tuple(aux)
        self.unet = UNet(3 + 3 * len(aux), 3, list(widths))

    def contract(self) -> ModelContract:
        return denoise_contract(self.aux, self.unet.pad_multiple, self.unet.receptive_radius)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        features = [hdr_encode(x["color"], x["exposure"]), *aux_features(x)]
        return hdr_decode(self.unet(torch.cat(features, 1)), x["exposure"])
