"""Pieces the architectures share: the OIDN-style U-Net, the HDR transfer and backward warping.

Everything here exports to ONNX with dynamic height and width (sizes are read from tensors, coordinates are
built in float32 so the half-precision variant exports too).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: log1p of this is the largest transformed value decoded; e^11 keeps results finite in half precision too.
MAX_LOG = 11.0
RGB = ("R", "G", "B")


def conv_pair(cin: int, cout: int, leak: float = 0.0) -> nn.Sequential:
    """Two 3x3 convolutions with ReLU (``leak`` > 0: leaky ReLU of that slope): receptive-field radius 2 at
    their resolution."""
    def act():
        return nn.LeakyReLU(leak, inplace=True) if leak else nn.ReLU(inplace=True)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), act(), nn.Conv2d(cout, cout, 3, padding=1), act())


class UNet(nn.Module):
    """Direct-prediction U-Net in OIDN's family: conv pairs, max-pool down, nearest up, skip concatenation.

    ``widths`` lists the channels per level; len(widths) levels means len(widths) - 1 poolings. ``leak``: the
    slope of leaky ReLUs (0: plain ReLU). Behind a near-zero head (networks that start from a hand-made
    output) the last decoder's ReLUs can all die in training, leaving only the head's bias to learn: leaky
    units cannot die.
    """

    def __init__(self, cin: int, cout: int, widths: list[int], leak: float = 0.0):
        super().__init__()
        if len(widths) < 2:
            raise ValueError("a U-Net needs at least two levels")
        self.encoders = nn.ModuleList(conv_pair(cin if i == 0 else widths[i - 1], w, leak) for i, w in enumerate(widths))
        self.decoders = nn.ModuleList(conv_pair(widths[i + 1] + widths[i], widths[i], leak)
                                      for i in range(len(widths) - 1))
        self.head = nn.Conv2d(widths[0], cout, 1)

    @property
    def pad_multiple(self) -> int:
        """Input sizes must divide by this so every pooling halves exactly."""
        return 2 ** (len(self.encoders) - 1)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can influence one output pixel (an upper bound; tests measure it).

        Per level i above the bottom (scale 2^i): encoder pair 2, pooling 1, nearest upsampling 1, decoder pair
        2, all times 2^i; the bottleneck pair adds 2 x 2^(L-1).
        """
        bottom = len(self.encoders) - 1
        return sum(6 * 2 ** i for i in range(bottom)) + 2 * 2 ** bottom

    def decoder_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every decoder level's output, finest first (level i is at 1 / 2^i of the input's size); the
        bottleneck's is last. Kernel-predicting heads read several of them.

        Each decoder reads [upsampled coarser level, skip]; its first convolution is applied as the sum of one
        convolution over each part (its weight split along the input channels) instead of to their
        concatenation, which copied the widest tensor at every level (48 channels at full resolution in the
        denoiser: 0.5 s of a 1080p frame's 4 s on one thread). The same function of the same parameters."""
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x)
            if i < len(self.encoders) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        levels = [x]
        for decoder, skip in zip(reversed(self.decoders), reversed(skips)):
            conv = decoder[0]
            coarse = conv.in_channels - conv.out_channels  # the upsampled level comes first
            up = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = decoder[1:](F.conv2d(skip, conv.weight[:, coarse:], conv.bias, padding=1)
                            + F.conv2d(up, conv.weight[:, :coarse], None, padding=1))
            levels.append(x)
        return levels[::-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder_features(x)[0])


def hdr_encode(x: torch.Tensor, exposure: torch.Tensor) -> torch.Tensor:
    """Linear HDR -> log domain after normalising exposure (N x 1 per image), so networks see a tame range."""
    return torch.log1p(torch.clamp(x * exposure.reshape(-1, 1, 1, 1), min=0.0))


def hdr_decode(y: torch.Tensor, exposure: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hdr_encode`, back to the input's own scale (exp - 1: ONNX has no expm1)."""
    clamped = torch.clamp(y, 0.0, MAX_LOG)
    if y.requires_grad:  # training: pass gradients straight through the clamp, or outputs stuck below 0 never recover
        clamped = y + (clamped - y).detach()
    return (torch.exp(clamped) - 1.0) / exposure.reshape(-1, 1, 1, 1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at p + flow(p) (flow N x 2 x H x W in pixels, x right, y down), bilinear, edges clamped."""
    h, w = image.shape[-2:]
    xs = torch.arange(w, dtype=torch.float32, device=image.device).reshape(1, 1, -1)
    ys = torch.arange(h, dtype=torch.float32, device=image.device).reshape(1, -1, 1)
    # grid_sample's normalised coordinates with align_corners=False: pixel p -> (2p + 1) / size - 1
    gx = (2.0 * (xs + flow[:, 0].float()) + 1.0) / w - 1.0
    gy = (2.0 * (ys + flow[:, 1].float()) + 1.0) / h - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def splat(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Forward bilinear splatting: each pixel p of ``values`` (N x C x H x W) is added, with bilinear weights,
    at p + flow(p) (N x 2 x H x W, pixels, x right, y down); what lands outside the image is dropped. Returns
    the N x C x H x W sums (ONNX: ScatterElements with add, opset 16+)."""
    n, c, h, w = values.shape
    xs = torch.arange(w, dtype=torch.float32, device=values.device).reshape(1, 1, -1)
    ys = torch.arange(h, dtype=torch.float32, device=values.device).reshape(1, -1, 1)
    x, y = xs + flow[:, 0].float(), ys + flow[:, 1].float()
    x0, y0 = torch.floor(x), torch.floor(y)
    out = torch.zeros(n, c, h * w, dtype=values.dtype, device=values.device)
    flat = values.reshape(n, c, h * w)
    for dx in (0.0, 1.0):
        for dy in (0.0, 1.0):
            xi, yi = x0 + dx, y0 + dy
            weight = (1.0 - (x - xi).abs()) * (1.0 - (y - yi).abs())
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            weight = torch.where(inside, weight, torch.zeros_like(weight)).to(values.dtype)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long().reshape(n, 1, h * w).expand(n, c, h * w)
            out = out.scatter_add(2, index, flat * weight.reshape(n, 1, h * w))
    return out.reshape(n, c, h, w)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded [0, 1] -> linear [0, 1] (``addon.runtime.color.srgb_decode`` in torch)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (``addon.runtime.color.srgb_encode`` in torch)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)
