"""Up-res x2/x4: a residual sub-pixel network (ESPCN-like) over an interpolated base, optionally guided by albedo
and normal rendered at the full output resolution (cheap passes, so a 1/4-pixel beauty can be up-ressed).

Image-only, the base is bicubic and the network adds the detail bicubic lacks. Guided, the base is the
classic demodulated up-res: the low-res colour divided by the albedo averaged over each low-res pixel gives
the shading, which is smooth and up-resses well; times the full-resolution albedo it brings the textures back
(+3 dB over bicubic on our renders before any learning). The network then fixes what that misses: shading
edges, specular, reflections, and texture detail finer than the albedo pass.

``color_space="linear"`` is for HDR renders (exposure input, log transfer inside); ``"srgb"`` for 8-bit
textures and photos.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract, ScalarInput

from . import PostpassModel, register
from .blocks import RGB, hdr_decode, hdr_encode

GUIDES = {
    "albedo": ImageInput("albedo", RGB, "linear", "Denoising Albedo at the output resolution", grid="output",
                         pass_name="Denoising Albedo", source=1),
    "normal": ImageInput("normal", ("X", "Y", "Z"), "data", "camera-space normal at the output resolution",
                         grid="output", pass_name="Denoising Normal", source=1),
}
#: added to the albedo before dividing by it, so black albedo (emitters, background) keeps its colour
ALBEDO_FLOOR = 0.02


def upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=float(scale), mode="bicubic", align_corners=False)


@register
class UpresNet(PostpassModel):
    architecture = "upres_net"

    def __init__(self, scale: int = 2, guides: list[str] = (), color_space: str = "linear", width: int = 32,
                 depth: int = 4):
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4, got {scale}")
        if [g for g in GUIDES if g in guides] != list(guides):
            raise ValueError(f"guides must be an ordered subset of {list(GUIDES)}, got {list(guides)}")
        if color_space not in ("linear", "srgb"):
            raise ValueError(f"color_space must be linear or srgb, got {color_space!r}")
        if guides and color_space != "linear":
            raise ValueError("guides are render passes: a guided model works on linear renders")
        super().__init__(scale=scale, guides=list(guides), color_space=color_space, width=width, depth=depth)
        self.scale, self.guides, self.hdr = scale, tuple(guides), color_space == "linear"
        self.demodulate = "albedo" in self.guides
        # guides (and the demodulated base) arrive space-to-depth on the low-res grid
        cin = 3 + 3 * (len(guides) + self.demodulate) * scale * scale
        layers = [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 3 * scale * scale, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.depth = depth

    def contract(self) -> ModelContract:
        space = self.params["color_space"]
        inputs = [ImageInput("image", RGB, space, "image to up-res", hdr=self.hdr, pass_name="Combined"),
                  *(GUIDES[g] for g in self.guides)]
        if self.hdr:
            inputs.append(ScalarInput("exposure", "scale mapping the image's log-average luminance to 0.18",
                                      exposure_of=("image",)))
        output = ImageOutput("upscaled", RGB, space, f"image up-ressed x{self.scale}", hdr=self.hdr,
                             pass_name="Combined")
        # depth 3x3 convolutions on the low-res grid, plus two pixels for the bicubic base; the demodulated
        # base feeds the convolutions too, so guided models need both
        overlap = self.depth + (4 if self.demodulate else 2)
        return ModelContract("upres", tuple(inputs), (output,), scale=self.scale, pad_multiple=1,
                             tile_overlap=overlap, alpha=AlphaRule(("image",), "upscaled"))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.named_inputs(inputs)
        exposure = x.get("exposure")
        encode = (lambda v: hdr_encode(v, exposure)) if self.hdr else (lambda v: v)
        image = encode(x["image"])
        features = [image]
        if self.demodulate:
            albedo = x["albedo"].clamp(0.0, 1.0) + ALBEDO_FLOOR
            shading = x["image"].clamp_min(0.0) / F.avg_pool2d(albedo, self.scale)
            base = encode(upsample(shading, self.scale).clamp_min(0.0) * albedo)
            features.append(F.pixel_unshuffle(base, self.scale))
        else:
            base = upsample(image, self.scale)
        for name in self.guides:
            guide = x[name].clamp(0.0, 1.0) if name == "albedo" else x[name]
            features.append(F.pixel_unshuffle(guide, self.scale))
        y = base + F.pixel_shuffle(self.body(torch.cat(features, 1)), self.scale)
        return hdr_decode(y, exposure) if self.hdr else y.clamp(0.0, 1.0)
