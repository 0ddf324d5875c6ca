"""Up-res x2/x4: a residual sub-pixel network (ESPCN-like) over an interpolated base, optionally guided by albedo
and normal rendered at the full output resolution (cheap passes, so a 1/4-pixel beauty can be up-ressed).

Image-only, the base is bicubic and the network adds the detail bicubic lacks. Guided, the base is the
classic demodulated up-res: the low-res colour divided by the albedo averaged over each low-res pixel gives
the shading, which is smooth and up-resses well; times the full-resolution albedo it brings the textures back
(+3 dB over bicubic on our renders' bicubic-made pairs before any learning; +1.7 dB x2 and +1.3 dB x4 from the
real low-res renders of the validation split). The network then fixes what that misses: shading edges,
specular, reflections, and texture detail finer than the albedo pass.

Guided models can also see the low-res shading itself (``shading_input``: the colour divided by the box-averaged
albedo, on the low-res grid). With ``kernel`` (k), the guided base is predicted too: for each output pixel the
body gives softmax weights over k x k candidates, the low-res shading of its own low-res pixel and of the
neighbouring ones (nearest), plus the bicubic-upsampled shading; their blend times the albedo is the base. At
silhouettes and creases, where most of the error is, a pixel's shading is that of a neighbour on its own side of
the edge, and the full-resolution guides say which side that is; in smooth regions the weights fall back to
bicubic.

``color_space="linear"`` is for HDR renders (exposure input, log transfer inside); ``"srgb"`` for 8-bit
textures and photos.
"""
from __future__ import annotations

import math

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


def _cubic(t: float, a: float = -0.75) -> list[float]:
    """PyTorch's (Keys, a = -0.75) weights of the 4 taps around a point at fraction ``t`` past the second."""
    def w(d):
        d = abs(d)
        return ((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [w(t + 1), w(t), w(1 - t), w(2 - t)]


def bicubic_kernel(scale: int, channels: int = 3) -> torch.Tensor:
    """(channels x scale^2, 1, 5, 5) filters: output phase (py, px) of :func:`upsample` from a 5 x 5 low-res
    window, for each channel."""
    rows = torch.zeros(scale, 5, dtype=torch.float64)
    for p in range(scale):
        src = (p + 0.5) / scale - 0.5  # source offset of output phase p from its low-res pixel
        i0 = math.floor(src)
        for j, v in enumerate(_cubic(src - i0)):
            rows[p, i0 - 1 + j + 2] += v
    phases = (rows[:, None, :, None] * rows[None, :, None, :]).reshape(scale * scale, 1, 5, 5)
    return phases.float().repeat(channels, 1, 1, 1)


def upsample_conv(x: torch.Tensor, kernel: torch.Tensor, scale: int) -> torch.Tensor:
    """:func:`upsample` as a grouped 5 x 5 convolution and a pixel shuffle (PyTorch clamps taps at the border,
    as replicate padding does): the same values, several times faster in onnxruntime than its cubic Resize."""
    y = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel.to(x), groups=kernel.shape[0] // scale ** 2)
    return F.pixel_shuffle(y, scale)


@register
class UpresNet(PostpassModel):
    architecture = "upres_net"

    def __init__(self, scale: int = 2, guides: list[str] = (), color_space: str = "linear", width: int = 32,
                 depth: int = 4, shading_input: bool = False, kernel: int = 0):
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4, got {scale}")
        if [g for g in GUIDES if g in guides] != list(guides):
            raise ValueError(f"guides must be an ordered subset of {list(GUIDES)}, got {list(guides)}")
        if color_space not in ("linear", "srgb"):
            raise ValueError(f"color_space must be linear or srgb, got {color_space!r}")
        if guides and color_space != "linear":
            raise ValueError("guides are render passes: a guided model works on linear renders")
        if (shading_input or kernel) and "albedo" not in guides:
            raise ValueError("shading_input and kernel need the albedo guide")
        if kernel < 0 or (kernel and kernel % 2 == 0):
            raise ValueError(f"kernel must be 0 (off) or odd, got {kernel}")
        # only the options in use are recorded, so older checkpoints' parameters stay as they were
        extra = {k: v for k, v in dict(shading_input=shading_input, kernel=kernel).items() if v}
        super().__init__(scale=scale, guides=list(guides), color_space=color_space, width=width, depth=depth, **extra)
        self.scale, self.guides, self.hdr = scale, tuple(guides), color_space == "linear"
        self.demodulate = "albedo" in self.guides
        self.shading_input, self.kernel = shading_input, kernel
        candidates = kernel * kernel + 1 if kernel else 0
        # guides (and the demodulated base) arrive space-to-depth on the low-res grid
        cin = 3 + 3 * shading_input + 3 * (len(guides) + self.demodulate) * scale * scale
        layers = [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, (3 + candidates) * scale * scale, 3, padding=1))  # residual, logits
        self.body = nn.Sequential(*layers)
        self.depth = depth
        if kernel:  # the bicubic filters, and a start at the bicubic base: its logit leads by 3
            self.register_buffer("bicubic", bicubic_kernel(scale), persistent=False)
            prior = torch.zeros(1, candidates, 1, 1)
            prior[:, -1] = 3.0
            self.register_buffer("prior", prior, persistent=False)

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
        # base feeds the convolutions too, so guided models need both; the kernel's neighbours add k // 2
        overlap = self.depth + (4 if self.demodulate else 2) + self.kernel // 2
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
            smooth = (upsample_conv(shading, self.bicubic, self.scale) if self.kernel else
                      upsample(shading, self.scale)).clamp_min(0.0)
            base = encode(smooth * albedo)
            features.append(F.pixel_unshuffle(base, self.scale))
            if self.shading_input:
                features.append(encode(shading))
        else:
            base = upsample(image, self.scale)
        for name in self.guides:
            guide = x[name].clamp(0.0, 1.0) if name == "albedo" else x[name]
            features.append(F.pixel_unshuffle(guide, self.scale))
        out = self.body(torch.cat(features, 1))
        if self.kernel:
            base = self._kernel_base(shading, smooth, albedo, out[:, 3 * self.scale ** 2:], encode)
            out = out[:, :3 * self.scale ** 2]
        y = base + F.pixel_shuffle(out, self.scale)
        return hdr_decode(y, exposure) if self.hdr else y.clamp(0.0, 1.0)

    def _kernel_base(self, shading, smooth, albedo, logits, encode):
        """encode(albedo x the softmax(logits) blend of the k x k nearest low-res shadings and the bicubic one,
        ``smooth``).

        ``logits`` are the body's (k * k + 1) * scale^2 channels on the low-res grid (candidate-major, as
        pixel_shuffle orders them). The blend is done there: a nearest candidate is one value over each output
        block, so each of a block's scale^2 pixels weighs the same k * k low-res neighbours; only the bicubic
        candidate varies within a block (space-to-depth). The output is the same as blending the candidates
        upsampled to the full grid, for a fraction of the memory traffic. The softmax is written out and
        normalised once, on the blend: onnxruntime's Softmax over a non-last axis transposes, and was a third
        of the model's time."""
        k, s = self.kernel, self.scale
        n, _, h, w = shading.shape
        logits = logits.reshape(n, k * k + 1, s * s, h, w) + self.prior.to(logits).unsqueeze(-1)
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        padded = F.pad(shading, (k // 2,) * 4, mode="replicate")
        blend = F.pixel_unshuffle(smooth, s).reshape(n, 3, s * s, h, w) * weights[:, k * k].unsqueeze(1)
        for dy in range(k):
            for dx in range(k):
                blend = blend + padded[:, :, None, dy:dy + h, dx:dx + w] * weights[:, dy * k + dx].unsqueeze(1)
        blend = blend / weights.sum(dim=1, keepdim=True)
        return encode(F.pixel_shuffle(blend.reshape(n, 3 * s * s, h, w), s) * albedo)
