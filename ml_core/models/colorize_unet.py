"""Colorizer: sRGB-encoded luminance plus sparse user colour hints (an RGB hint image and its mask) -> colour.

The network predicts chromaticity only; luminance comes from the input. Its head gives three logits whose
softmax ``p`` is the colour's chromaticity (R : G : B proportions), and the output is the linear colour with
those proportions and the input's luminance, ``Y * p / (w . p)`` (``w`` the Rec.709 weights, ``Y`` the decoded
grey), pulled towards grey just enough to stay inside [0, 1] (a gamut map along constant luminance). So:

* the output's Rec.709 luminance equals the input's, exactly, as long as the colour fits the gamut;
* with zero logits and no hints the output is the grey image itself;
* chromaticity does not change with shading, so one hint holds for a whole object in light and shadow.

Hints are spread before the network sees them, by a luminance-aware multi-scale Shepard interpolation: box
filters of several sizes (``hint_scales``, stride 1, running sums) average the hints' chromaticity and their
mask around every pixel, separately per grey level (``luma_bins`` bins of the input grey, linear hat weights:
a bilateral grid), and each pixel reads the bins of its own grey level. Nearer hints weigh more, hints of a
similar grey level far more (they likely lie on the same surface); where no hint of a similar level is in
reach, all hints count (``plain_weight``), and where none is, the base is grey. Its log is the base the
network's logits are added to (the head starts at zero), so an untrained net already spreads hints, better
than Levin et al.'s optimisation on this project's renders, and training learns where that base is wrong.
The network also gets each scale's plain average and whether a hint lies within it. The receptive field
(and the tile overlap) is the U-Net's plus the widest box's reach. ``hint_base=False`` leaves the base out of
the logits (the network must learn to use the hints: the CI's tiny config, which has to learn fast).

``chroma_grid=n`` adds colour classification for automatic colour (Zhang et al. 2016): the U-Net also gives
logits over the (n+1)(n+2)/2 chromaticities of a grid on the R : G : B triangle, trained with cross-entropy
against the target's chromaticity (soft-encoded onto its nearest bins) on items without hints; their
annealed mean (softmax at ``temperature``, T = 1 the plain mean, smaller T nearer the mode) is the colour
wherever no hint reaches, instead of the grey that L2 regression averages multimodal colour to. Where hints
reach, the hint base and the residual logits work as without it.

Trained with L2 on the sRGB output (with luminance fixed, L2 on colour): without hints the colour is uncertain,
and L2's optimum, the conditional mean, is the best PSNR can get; L1's per-channel median of a spread of hues sits
nearer grey (measured, docs/benchmarks.md). Only standard ONNX ops (conv, pooling, cumulative sum,
pad/slice, nearest resize, pow, softmax, where): exports with dynamic height and width.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import AlphaRule, ImageInput, ImageOutput, ModelContract

from . import PostpassModel, register
from .blocks import RGB, UNet, linear_to_srgb, srgb_to_linear

#: Rec.709 luminance weights of linear RGB (``addon.runtime.color.luminance``).
LUMA = (0.2126, 0.7152, 0.0722)
#: Box sizes (pixels) over which hints are averaged; the largest sets how far a lone hint reaches by itself.
HINT_SCALES = (5, 17, 65, 257)
#: Boxes wider than FINE pixels are averaged on a grid of COARSE x COARSE cells (``size // COARSE`` cells
#: across, odd) and read back per cell: 16 times cheaper, and smooth at that scale anyway.
FINE, COARSE = 17, 4
#: Chromaticity of a hint darker than this (linear) is taken as grey plus noise rather than trusted fully.
HINT_FLOOR = 1e-3
#: Grey-level bins of the luminance-aware interpolation, and the weight of hints of any level beside them.
LUMA_BINS = 12
PLAIN_WEIGHT = 0.01
#: Hint weights at or below this count as no hint (one hint in the largest box weighs ~1.5e-5 x PLAIN_WEIGHT).
EMPTY = 1e-10


def _luma(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0:1] * LUMA[0] + x[:, 1:2] * LUMA[1] + x[:, 2:3] * LUMA[2]


def chromaticity(linear: torch.Tensor) -> torch.Tensor:
    """R : G : B proportions (summing to 1) of linear colour; near black they tend to grey."""
    x = linear.clamp_min(0.0) + HINT_FLOOR
    return x / x.sum(1, keepdim=True)


def compose(gray_linear: torch.Tensor, proportions: torch.Tensor) -> torch.Tensor:
    """Linear colour with chromaticity ``proportions`` and luminance ``gray_linear``, pulled towards grey
    (same luminance) as far as needed to fit in [0, 1]."""
    y = gray_linear.clamp(0.0, 1.0)
    rgb = y * proportions / _luma(proportions).clamp_min(1e-6)
    # largest s in [0, 1] with y + s (rgb - y) <= 1 per channel (>= 0 holds: rgb and y are both >= 0)
    over = (rgb - y).clamp_min(1e-6)
    s = ((1.0 - y) / over).amin(1, keepdim=True).clamp(0.0, 1.0)
    return y + s * (rgb - y)


def box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over the ``size`` x ``size`` window around each pixel (zeros outside; the last two dimensions), as
    two 1-D running sums (a cumulative sum, differenced ``size`` apart), so the cost barely grows with ``size``.
    Where the window holds only zeros the result is exactly 0 (adding zeros leaves a float sum unchanged)."""
    half = size // 2
    for dim in (x.dim() - 2, x.dim() - 1):
        pad = (0, 0, half + 1, half) if dim == x.dim() - 2 else (half + 1, half)
        c = F.pad(x, pad).cumsum(dim)
        x = c.narrow(dim, size, x.shape[dim]) - c.narrow(dim, 0, x.shape[dim])
    return x * (1.0 / (size * size))


def luma_weights(gray: torch.Tensor, bins: int) -> torch.Tensor:
    """N x bins x H x W linear-interpolation (hat) weights of each pixel's grey level; they sum to 1."""
    centres = torch.arange(bins, dtype=gray.dtype, device=gray.device).view(1, -1, 1, 1) / (bins - 1)
    return (1.0 - (gray.clamp(0.0, 1.0) - centres).abs() * (bins - 1)).clamp_min(0.0)


@register
class ColorizeUNet(PostpassModel):
    architecture = "colorize_unet"

    def __init__(self, widths: list[int] = (24, 32, 48, 64, 64), hint_scales: list[int] = HINT_SCALES,
                 luma_bins: int = LUMA_BINS, plain_weight: float = PLAIN_WEIGHT, hint_base: bool = True,
                 leak: float = 0.0, chroma_grid: int = 0, temperature: float = 0.38, bin_loss: float = 1.0):
        if any(k < 1 or k % 2 == 0 for k in hint_scales):
            raise ValueError(f"hint_scales must be odd box sizes, not {list(hint_scales)}")
        if luma_bins == 1 or luma_bins < 0:
            raise ValueError(f"luma_bins must be 0 (no grey levels) or at least 2, not {luma_bins}")
        params = dict(widths=list(widths), hint_scales=list(hint_scales), luma_bins=luma_bins,
                      plain_weight=plain_weight, hint_base=hint_base)
        if leak:  # only recorded when set, so older checkpoints' params stay as they were
            params["leak"] = leak
        if chroma_grid:
            if chroma_grid < 2 or not hint_base:
                raise ValueError(f"chroma_grid needs at least 2 divisions and hint_base, not {chroma_grid}")
            params.update(chroma_grid=chroma_grid, temperature=temperature, bin_loss=bin_loss)
        super().__init__(**params)
        self.chroma_grid, self.temperature, self.bin_loss = chroma_grid, temperature, bin_loss
        centres = chroma_bins(chroma_grid) if chroma_grid else torch.zeros(0, 3)
        # 3 x K x 1 x 1: a 1x1 convolution takes a per-pixel distribution over the bins to its mean chromaticity
        self.register_buffer("bin_centres", centres.t().reshape(3, -1, 1, 1).contiguous(), persistent=False)
        self._training_cache = None
        self.hint_scales, self.luma_bins, self.plain_weight = tuple(hint_scales), luma_bins, plain_weight
        self.hint_base = hint_base
        # gray, mask, hint chromaticity and sRGB colour, per scale (chromaticity, any hint), the base
        # (leaky units: behind this zero head the 0.2.0 model's U-Net levels were 2-23% alive)
        self.unet = UNet(2 + 3 + 3 + 4 * len(self.hint_scales) + 3, 3 + centres.shape[0], list(widths), leak=leak)
        # Start from the hints' interpolation itself (zero logits): a random head would only add colour noise,
        # and removing it first is what training would otherwise spend its first steps on (killing ReLUs).
        # Zero bin logits are a uniform distribution, whose mean is grey: the untrained classifier says grey too.
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)

    @property
    def coarse(self) -> bool:
        return any(size > FINE for size in self.hint_scales)

    @property
    def reach(self) -> int:
        """Input pixels on each side that can change an output pixel: the U-Net's over the hint features."""
        radius = [size // 2 if size <= FINE else COARSE * (_cells(size) // 2) + COARSE - 1
                  for size in self.hint_scales]
        return self.unet.receptive_radius + max(radius, default=0)

    def contract(self) -> ModelContract:
        inputs = (ImageInput("gray", ("Y",), "srgb", "luminance of the image to colour (RGB gives its luminance)",
                             pass_name="Combined"),
                  ImageInput("hints", RGB, "srgb", "sparse colour hints; read only where mask is 1", optional=True),
                  ImageInput("mask", ("mask",), "data", "1 where a hint is given, else 0", optional=True))
        output = ImageOutput("colorized", RGB, "srgb", "colourised image, the input's luminance",
                             pass_name="Combined")
        return ModelContract("colorize", inputs, (output,), scale=1, pad_multiple=max(self.unet.pad_multiple, COARSE if self.coarse else 1),
                             tile_overlap=self.reach, alpha=AlphaRule(("gray",), "colorized"))

    def forward(self, gray: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        base, reached, scales, p_hint, mask, hints = self.spread_hints(gray, hints, mask)
        x = torch.cat([gray, mask, (3.0 * p_hint - 1.0) * mask, hints * mask, *scales, 3.0 * base - 1.0], 1)
        logits = self.unet(x)
        if self.chroma_grid:
            logits, bins = logits[:, :3], logits[:, 3:]
            if self.training:  # for auxiliary_loss, which reads them after the output's loss
                self._training_cache = (bins, mask)
            automatic = F.conv2d(torch.softmax(bins * (1.0 / self.temperature), 1), self.bin_centres)
            logits = logits * reached + torch.log(torch.where(reached > 0.5, base, automatic).clamp_min(1e-6))
        elif self.hint_base:
            logits = logits + torch.log(base)
        return linear_to_srgb(compose(srgb_to_linear(gray), torch.softmax(logits, 1)))

    def auxiliary_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Cross-entropy of the bin logits of the last training forward against the target's chromaticity,
        soft-encoded (a Gaussian of half a grid step over the bins), averaged over the items without hints."""
        if not self.chroma_grid or self._training_cache is None:
            return None
        bins, mask = self._training_cache
        self._training_cache = None
        truth = chromaticity(srgb_to_linear(batch["target"]))  # N x 3 x H x W
        centres = self.bin_centres.reshape(1, 3, -1, 1, 1)
        d2 = ((truth.unsqueeze(2) - centres) ** 2).sum(1)  # N x K x H x W
        sigma = 0.5 / self.chroma_grid
        soft = torch.softmax(-d2 / (2 * sigma * sigma), 1)
        ce = -(soft * torch.log_softmax(bins, 1)).sum(1).flatten(1).mean(1)  # per item
        automatic = (mask.flatten(1).amax(1) == 0).to(ce.dtype)
        return self.bin_loss * (ce * automatic).sum() / automatic.sum().clamp_min(1.0)

    def spread_hints(self, gray: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor):
        """(base chromaticity, 1 where a hint reaches else 0, per-scale features, hint chromaticity, mask, hints),
        the last two clamped."""
        mask = mask.clamp(0.0, 1.0)
        hints = hints.clamp(0.0, 1.0)
        p_hint = chromaticity(srgb_to_linear(hints))
        # hint sums as (R, G, weight) proportions: B = weight - R - G, so three channels carry all four
        weighted = torch.cat([p_hint[:, :2] * mask, mask], 1)
        plain, scales = weighted, []  # the pixel itself has weight 1 at every level
        for local in self._boxes(weighted):
            plain = plain + local
            near = (local[:, 2:] > EMPTY).to(local.dtype)
            rg = local[:, :2] / local[:, 2:].clamp_min(EMPTY)
            scales += [near * (3.0 * torch.cat([rg, 1.0 - rg.sum(1, keepdim=True)], 1) - 1.0), near]
        total = plain * self.plain_weight if self.luma_bins else plain
        if self.luma_bins:
            levels = luma_weights(gray, self.luma_bins).unsqueeze(2)  # N x B x 1 x H x W
            splat = levels * weighted.unsqueeze(1)  # each hint into the bins of its pixel's grey level
            grid = splat
            for local in self._boxes(splat):
                grid = grid + local
            total = total + (levels * grid).sum(1)  # each pixel reads the bins of its own grey level
        rg, den = total[:, :2], total[:, 2:]
        num = torch.cat([rg, (den - rg.sum(1, keepdim=True)).clamp_min(0.0)], 1)
        reached = den > EMPTY
        base = torch.where(reached, num / den.clamp_min(EMPTY), torch.full_like(num, 1.0 / 3.0))
        return base.clamp_min(1e-6), reached.to(base.dtype), scales, p_hint, mask, hints

    def _boxes(self, x: torch.Tensor):
        """``box_mean`` of ``x`` (N x ... x H x W) at every hint scale, wide ones through the coarse grid."""
        coarse = None
        for size in self.hint_scales:
            if size <= FINE:
                yield box_mean(x, size)
                continue
            if coarse is None:
                flat = x.flatten(0, -3).unsqueeze(1)  # pooling wants N x C x H x W
                coarse = F.avg_pool2d(flat, COARSE)
            up = F.interpolate(box_mean(coarse, _cells(size)), scale_factor=float(COARSE), mode="nearest")
            yield up.reshape(x.shape)


def chroma_bins(n: int) -> torch.Tensor:
    """K x 3 chromaticities (R : G : B summing to 1) on a grid of ``n`` divisions of the triangle; grey is one
    of them when 3 divides ``n``, and the grid is symmetric, so a uniform distribution's mean is grey."""
    return torch.tensor([(i / n, j / n, (n - i - j) / n) for i in range(n + 1) for j in range(n + 1 - i)],
                        dtype=torch.float32)


def _cells(size: int) -> int:
    return (size // COARSE) | 1
