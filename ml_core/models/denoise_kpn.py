"""Render denoiser by multi-scale kernel prediction (KPCN, Bako et al. 2017; the pyramid of Vogels et al. 2018).

The U-Net of :mod:`.denoise_unet` reads the same inputs, but instead of the clean colour it predicts, at every
level of its decoder, a k x k filter kernel per pixel (softmax weights) and, for all but the coarsest level,
a blend weight. The kernels filter a box-filtered pyramid of the noisy colour itself (linear, exposure
normalised), and the filtered levels are recombined coarse to fine:

    r_coarsest = f_coarsest
    r_s        = f_s + alpha_s * (up(r_s+1) - up(down(f_s)))     (down: 2x2 box, up: nearest)

so the coarse levels replace the low frequencies of the finer ones wherever alpha says so. With ``demodulate``
the same kernels also filter the colour divided by the albedo (texture taken out, as KPCN does for its diffuse
component), which is multiplied back afterwards, and a last per-pixel weight chooses between the two results:
textured surfaces keep their detail, while glass, hair-thin geometry and defocus, where the albedo pass is
itself noisy, keep the plain filter. Each output pixel is
a weighted average of noisy input pixels: whatever the network gets wrong, it cannot invent colour or texture
that is not in the render, and it learns from far fewer scenes than direct prediction (the reason KPCN was
proposed). Filtering linear values keeps the average unbiased (averaging log values would darken sparse,
bright low-spp samples); the network still sees log-encoded colour, and the loss is taken in the log domain.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from addon.runtime.contract import ModelContract

from . import PostpassModel, register
from .blocks import UNet, linear_to_srgb, srgb_to_linear
from .denoise_unet import aux_features, check_aux, denoise_contract


#: added to the albedo before dividing by it: black surfaces stay finite, and their noise is not blown up
DEMODULATION_FLOOR = 0.02
#: ``residual``: the log-domain correction is clamped to +-this (a factor of e^3 at most on 1 + colour)
RESIDUAL_BOUND = 3.0
#: ``outlier_limit`` spares a pixel up to this many times its brightest neighbour (highlights, emitters)
OUTLIER_NEIGHBOUR_RATIO = 10.0
#: ``prefilter``: the weight of the cleaned guides' L1 error against the clean ones, beside the output's loss
PREFILTER_LOSS_WEIGHT = 0.5
#: parameters whose parts a model can grow onto a trained one without them, starting as the same function
GROWN_PARTS = ("residual", "prefilter")


def clamp_outliers(color: torch.Tensor, limit: float) -> torch.Tensor:
    """Scale down isolated outliers of exposure-normalised linear ``color`` (N x 3 x H x W): a pixel whose
    brightest channel exceeds both ``limit`` and :data:`OUTLIER_NEIGHBOUR_RATIO` times the brightest of its 8
    neighbours is scaled to the larger of the two, keeping its hue.

    Why: a kernel predictor's output is an average of its input's pixels, so a caustic sample of 1e4 becomes a
    blob, and a few hundred scenes show such samples too seldom to learn to discard them (training on synthetic
    ones costs real sparse low-spp samples, measured). Far above ``limit`` (in units where the frame's
    log-average is 0.18) a lone sample carries more noise than signal; bright regions, whose neighbours are bright
    too, pass unchanged.
    """
    level = color.amax(dim=1, keepdim=True)
    padded = F.pad(level, (1, 1, 1, 1), mode="replicate")
    h, w = level.shape[-2:]
    neighbours = None
    for dy in range(3):
        for dx in range(3):
            if (dy, dx) != (1, 1):
                shifted = padded[:, :, dy:dy + h, dx:dx + w]
                neighbours = shifted if neighbours is None else torch.maximum(neighbours, shifted)
    bound = torch.clamp(neighbours * OUTLIER_NEIGHBOUR_RATIO, min=limit)
    return color * torch.clamp(bound / torch.clamp(level, min=1e-12), max=1.0)


def apply_kernels(image: torch.Tensor, logits: torch.Tensor, size: int, channels: int | None = None) -> torch.Tensor:
    """Filter ``image`` (N x C x H x W) with per-pixel ``size`` x ``size`` kernels given as softmax logits
    (N x size^2 x H x W, row-major offsets). Borders repeat the edge pixels. ``channels``: C as a plain number,
    for ONNX export (a traced graph reads C from the tensor's shape, and the convolution needs it fixed)."""
    # The softmax written out, normalising once at the end: onnxruntime's Softmax over the channel axis of an
    # NCHW tensor transposes it and was more than half of the whole network's time on the CPU.
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    return weighted_taps(image, weights, size, channels) / weights.sum(dim=1, keepdim=True)


def weighted_taps(image: torch.Tensor, weights: torch.Tensor, size: int, channels: int | None = None) -> torch.Tensor:
    """The sum over taps t of ``weights[:, t]`` times ``image`` shifted by tap t's offset (row-major offsets
    within ``size`` x ``size``, edge pixels repeated), in three large ops whatever the kernel size: a grouped
    convolution with one-hot kernels gives every channel's shifted copy for every tap (N x C size^2 x H x W), one
    multiply weighs them, one sum adds them up; only the order of the additions differs from a slice, a multiply
    and an add per tap (float rounding). The exported graph has 456 nodes instead of 1458 (issue 30), which
    onnxruntime loads faster and runs with all its threads (its Slice copies run on one); the memory traffic is
    about the same, since every tap's copy is still written once."""
    c = int(channels or image.shape[1])
    r, k2 = size // 2, size * size
    padded = F.pad(image, (r, r, r, r), mode="replicate")
    one_hot = torch.eye(k2, dtype=image.dtype, device=image.device).reshape(k2, 1, size, size).repeat(c, 1, 1, 1)
    taps = F.conv2d(padded, one_hot, groups=c)  # channel i * size^2 + t: channel i shifted by tap t
    n, _, h, w = image.shape
    return (taps.reshape(n, c, k2, h, w) * weights.unsqueeze(1)).sum(dim=2)


class GuidePrefilter(nn.Module):
    """Noisy Denoising Albedo and Normal -> cleaned ones (issue 30): what OIDN's Accurate mode does with its own
    albedo and normal networks before the main one. At 4 spp the guides are noisy wherever one pixel sees several
    surfaces (fine textures at grazing angles, defocus, hair, motion blur), and a kernel predictor that reads them
    and divides by the albedo carries that noise into its output.

    A small U-Net on the guides alone (not the colour: a guide is the geometry and texture a shot has, whatever
    its lighting) predicts per pixel a ``kernel`` x ``kernel`` filter of the guides and how much of the filtered
    guides to take (a gate in [0, 1]). Like the denoiser's own kernels, the result is an average of the render's
    guide values: it cannot invent texture. The gate starts at exactly 0 (its head is zero and it is clamped, whose
    gradient passes at the bound), so a model grown from one without a prefilter starts as that model, and Adam
    opens it where filtering helps; the kernels start as box filters, the simplest thing that helps."""

    def __init__(self, widths: list[int], kernel: int = 5):
        super().__init__()
        self.kernel = kernel
        self.unet = UNet(6, kernel * kernel + 1, list(widths))
        with torch.no_grad():
            self.unet.head.weight.zero_()
            self.unet.head.bias.zero_()

    @property
    def receptive_radius(self) -> int:
        return self.unet.receptive_radius + self.kernel // 2

    def forward(self, albedo: torch.Tensor, normal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        guides = torch.cat([albedo.clamp(0.0, 1.0), normal], 1)
        head = self.unet(guides)
        gate = torch.clamp(head[:, -1:], 0.0, 1.0)
        cleaned = guides + gate * (apply_kernels(guides, head[:, :-1], self.kernel, 6) - guides)
        return cleaned[:, :3], cleaned[:, 3:]


@register
class DenoiseKPN(PostpassModel):
    architecture = "denoise_kpn"

    def __init__(self, aux: list[str] = ("albedo", "normal"), widths: list[int] = (16, 32, 48, 64),
                 kernel: int = 5, scales: int | None = None, demodulate: bool = False,
                 finest_kernel: int | None = None, outlier_limit: float | None = None, residual: bool = False,
                 color_space: str = "linear", prefilter: list[int] | None = None):
        check_aux(aux)
        if color_space not in ("linear", "srgb"):
            raise ValueError(f"color_space must be linear or srgb, got {color_space!r}")
        if color_space == "srgb" and aux:
            raise ValueError("an sRGB (8-bit image) denoiser reads the colour only: images carry no passes")
        scales = scales or len(widths)
        if not 1 <= scales <= len(widths):
            raise ValueError(f"scales must be between 1 and the U-Net's {len(widths)} levels, got {scales}")
        for size in (kernel, finest_kernel or kernel):
            if size < 1 or size % 2 == 0:
                raise ValueError(f"kernel sizes must be odd, got {size}")
        if demodulate and "albedo" not in aux:
            raise ValueError("demodulate needs the albedo input")
        if prefilter and tuple(aux) != ("albedo", "normal"):
            raise ValueError("prefilter cleans the albedo and normal together: it needs both inputs")
        params = dict(aux=list(aux), widths=list(widths), kernel=kernel, scales=scales, demodulate=demodulate)
        if finest_kernel:  # only recorded when set, so older checkpoints' params stay as they were
            params["finest_kernel"] = finest_kernel
        if outlier_limit:
            params["outlier_limit"] = outlier_limit
        if residual:
            params["residual"] = True
        if color_space != "linear":
            params["color_space"] = color_space
        if prefilter:
            params["prefilter"] = list(prefilter)
        super().__init__(**params)
        self.prefilter = GuidePrefilter(prefilter) if prefilter else None
        self._cleaned = None  # the last training forward's cleaned guides, for auxiliary_loss
        self.aux, self.kernel, self.scales, self.demodulate = tuple(aux), kernel, scales, demodulate
        self.outlier_limit, self.residual = outlier_limit, residual
        self.srgb = color_space == "srgb"
        # the finest level filters 4x the pixels of the next: a smaller kernel there is most of the filtering's cost
        self.sizes = [finest_kernel or kernel] + [kernel] * (scales - 1)
        self.unet = UNet(3 + 3 * len(aux), 3, list(widths))
        del self.unet.head  # the kernel heads replace the colour head
        # level s predicts its kernel's logits, and (but the coarsest) the blend weight towards the coarser result
        # (the finest level also the demodulated/plain choice and, with ``residual``, a 3-channel correction)
        extra = [int(s < scales - 1) + int(s == 0 and demodulate) + 3 * int(s == 0 and residual)
                 for s in range(scales)]
        self.heads = nn.ModuleList(nn.Conv2d(widths[s], self.sizes[s] ** 2 + extra[s], 1) for s in range(scales))
        with torch.no_grad():  # start near box filters blended half-way: a smooth, stable first output
            for head in self.heads:
                head.weight.mul_(0.1)
                head.bias.zero_()
            if residual:  # the correction starts at exactly zero: the plain kernel predictor's output
                self.heads[0].weight[-3:].zero_()

    def init_from(self, other: PostpassModel) -> None:
        """Also grows from the same model without some of :data:`GROWN_PARTS` (``residual``, ``prefilter``):
        each starts as doing nothing (a zero correction, a closed gate), so training starts from ``other``'s
        output. And starts a model for fewer guide passes (colour only,
        colour + albedo; issue 25) from one trained with more: the first convolution keeps the weights of
        the inputs both have, and without albedo the demodulated branch and its choice channel are dropped.
        The start is not the same function (the dropped passes' features are gone), but every filter the
        network learned is kept, which trains far faster on a CPU than a random start."""
        if other.architecture == self.architecture and self._fewer_guides_of(other):
            return self._init_with_fewer_guides(other)
        if other.architecture == self.architecture and self.srgb and \
                {**other.params, "color_space": "srgb"} == self.params:
            return self.load_state_dict(other.state_dict())  # the sRGB model starts as the linear one
        added = set(self.params) - set(other.params)
        if other.architecture != self.architecture or not added or not added <= set(GROWN_PARTS) \
                or {k: v for k, v in self.params.items() if k not in added} != other.params:
            return super().init_from(other)  # the same parameters, or refused naming both
        state = other.state_dict()
        for name in ("heads.0.weight", "heads.0.bias"):  # new finest-head channels come last, at zero
            grown = torch.zeros_like(self.state_dict()[name])
            grown[:len(state[name])] = state[name]
            state[name] = grown
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("prefilter.") for k in missing):
            raise ValueError(f"cannot grow from {other.params}: {missing + unexpected}")

    def _fewer_guides_of(self, other: PostpassModel) -> bool:
        """Whether this model is ``other`` with a proper ordered subset of its guide passes (and no
        demodulation where albedo is gone), every other parameter equal."""
        mine, theirs = dict(self.params), dict(other.params)
        if not (set(mine["aux"]) < set(theirs["aux"])):
            return False
        if "albedo" not in mine["aux"]:
            theirs["demodulate"] = False
        mine.pop("aux"), theirs.pop("aux")
        return mine == theirs

    def _init_with_fewer_guides(self, other: PostpassModel) -> None:
        state = other.state_dict()
        first = "unet.encoders.0.0.weight"
        channels = [0, 1, 2] + [3 + 3 * i + c for i, name in enumerate(other.params["aux"])
                                if name in self.aux for c in range(3)]
        state[first] = state[first][:, channels]
        if other.params["demodulate"] and not self.demodulate:  # the finest head's last channel is the choice
            for name in ("heads.0.weight", "heads.0.bias"):
                state[name] = state[name][:-1]
        self.load_state_dict(state)

    @property
    def tile_overlap(self) -> int:
        # the U-Net's reach, plus the coarsest kernel's radius and its pooling block, in full-resolution pixels,
        # plus the outlier limit's neighbour: it reads one pixel further before the U-Net
        return (self.unet.receptive_radius + (self.sizes[-1] // 2 + 1) * 2 ** (self.scales - 1)
                + int(bool(self.outlier_limit)) + (self.prefilter.receptive_radius if self.prefilter else 0))

    def contract(self) -> ModelContract:
        return denoise_contract(self.aux, self.unet.pad_multiple, self.tile_overlap, self.params.get("color_space",
                                                                                                     "linear"))

    def auxiliary_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The L1 error of the guides ``prefilter`` cleaned against the clean ones
        (``albedo_clean``, ``normal_clean``: the dataset's ``clean_guides: "supervise"``), so they learn to
        clean them and not only whatever helps the output."""
        if self._cleaned is None:
            return None
        cleaned, self._cleaned = self._cleaned, None
        if "albedo_clean" not in batch:
            raise ValueError("a model that cleans its guides trains on clean ones: set the dataset's clean_guides "
                             "to 'supervise'")
        error = sum((value - batch[f"{name}_clean"]).abs().mean() for name, value in cleaned.items())
        return PREFILTER_LOSS_WEIGHT * error

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.denoise(self.named_inputs(inputs))

    def denoise(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """The output for the inputs by contract name (a frame's colour, its guides, the exposure)."""
        if self.prefilter is not None:
            albedo, normal = self.prefilter(x["albedo"], x["normal"])
            x = {**x, "albedo": albedo, "normal": normal}  # the network reads and demodulates by the cleaned ones
            if self.training:
                self._cleaned = {"albedo": albedo, "normal": normal}
        if self.srgb:
            # The network reads the sRGB values (perceptual steps, as the 8-bit file stores them); the kernels
            # average the decoded linear light, as for renders, and the result is encoded back.
            encoded = x["color"].clamp(0.0, 1.0)
            network_input, color, exposure = encoded, srgb_to_linear(encoded), None
        else:
            exposure = x["exposure"].reshape(-1, 1, 1, 1)
            color = torch.clamp(x["color"] * exposure, min=0.0)
            if self.outlier_limit:
                color = clamp_outliers(color, self.outlier_limit)
            # log1p(color) is hdr_encode of the (exposure-normalised) colour
            network_input = torch.cat([torch.log1p(color), *aux_features(x)], 1)
        features = self.unet.decoder_features(network_input)
        heads = [head(f) for head, f in zip(self.heads, features)]
        correction = None
        if self.residual:
            heads[0], correction = heads[0][:, :-3], heads[0][:, -3:]
        if self.demodulate:  # both images through one pass of the same kernels: half the (memory-bound) ops
            color = torch.cat([color, color / (x["albedo"].clamp(0.0, 1.0) + DEMODULATION_FLOOR)], 1)
        out = self.finish(self.reconstruct(color, heads), x, heads, correction, exposure)
        return out if exposure is not None else linear_to_srgb(out)

    def finish(self, filtered: torch.Tensor, x: dict[str, torch.Tensor], heads: list[torch.Tensor],
               correction: torch.Tensor | None, exposure: torch.Tensor | None) -> torch.Tensor:
        """The reconstruction ``filtered`` as the output: with ``demodulate`` the per-pixel choice between its
        plain and its demodulated half (multiplied back by the albedo), then the residual correction, then the
        exposure undone."""
        if self.demodulate:
            albedo = x["albedo"].clamp(0.0, 1.0) + DEMODULATION_FLOOR
            choice = torch.sigmoid(heads[0][:, -1:])
            filtered = choice * filtered[:, 3:] * albedo + (1.0 - choice) * filtered[:, :3]
        if correction is not None:
            # log1p(out) = log1p(filtered) + correction, written without the log: (1 + filtered) e^c - 1. The
            # kernels can only average noisy samples; this lets the network move the result where the average
            # cannot reach (texture under a noisy albedo, glossy detail), in the domain its input is encoded in.
            gain = torch.exp(torch.clamp(correction, -RESIDUAL_BOUND, RESIDUAL_BOUND))
            filtered = torch.clamp((1.0 + filtered) * gain - 1.0, min=0.0)
        return filtered / exposure if exposure is not None else filtered  # None: an sRGB model's, nothing to undo

    def reconstruct(self, image: torch.Tensor, heads: list[torch.Tensor]) -> torch.Tensor:
        """Filter the box pyramid of ``image`` with each level's kernels and recombine it coarse to fine."""
        channels = 6 if self.demodulate else 3  # colour, and with ``demodulate`` also colour / albedo
        pyramid = [image]
        for _ in range(self.scales - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        result = None
        for s in reversed(range(self.scales)):
            k2 = self.sizes[s] ** 2
            filtered = apply_kernels(pyramid[s], heads[s][:, :k2], self.sizes[s], channels)
            if result is None:
                result = filtered
                continue
            alpha = torch.sigmoid(heads[s][:, k2:k2 + 1])
            up = F.interpolate(result, scale_factor=2.0, mode="nearest")
            low = F.interpolate(F.avg_pool2d(filtered, 2), scale_factor=2.0, mode="nearest")
            result = filtered + alpha * (up - low)
        return result
