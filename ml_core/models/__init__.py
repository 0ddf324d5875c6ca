"""Small network architectures, one file each, registered by name (BasicSR style): ``build(name, **params)``.

Every architecture is a :class:`PostpassModel`: it records its constructor parameters (so a checkpoint is a
plain state_dict plus JSON) and declares its I/O contract (``addon.runtime.contract``), which export copies
into the ONNX metadata the runtime reads. ``forward`` takes the contract's inputs positionally, in order.
"""
from __future__ import annotations

import torch
from torch import nn

from addon.runtime.contract import ModelContract

ARCHITECTURES: dict[str, type[PostpassModel]] = {}


class PostpassModel(nn.Module):
    architecture: str = ""  # registry name, set by each subclass

    def __init__(self, **params):
        super().__init__()
        self.params = params  # JSON-able constructor arguments: what a checkpoint stores to rebuild the model

    def contract(self) -> ModelContract:
        raise NotImplementedError

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.contract().inputs)

    def init_from(self, other: "PostpassModel") -> None:
        """Take a trained model's weights (``train.init``, fine-tuning). The same architecture and parameters,
        not just fitting shapes: e.g. inbetween_splat's leak or mismatch_gain change no layer. An architecture
        that can grow from a smaller variant of itself overrides this."""
        if (other.architecture, other.params) != (self.architecture, self.params):
            raise ValueError(f"it is {other.architecture} {other.params}, the config's model "
                             f"{self.architecture} {self.params}")
        self.load_state_dict(other.state_dict())

    def auxiliary_loss(self, target: torch.Tensor) -> torch.Tensor | None:
        """A training loss on the model's own intermediates of its last forward (added to the output's loss),
        or None: e.g. a classification head's cross-entropy."""
        return None

    def named_inputs(self, inputs: tuple) -> dict[str, torch.Tensor]:
        """``forward``'s positional inputs by contract name (variants with optional inputs read them by name)."""
        return dict(zip(self.input_names, inputs))


def register(cls: type[PostpassModel]) -> type[PostpassModel]:
    if cls.architecture in ARCHITECTURES:
        raise ValueError(f"architecture {cls.architecture!r} registered twice")
    ARCHITECTURES[cls.architecture] = cls
    return cls


def build(architecture: str, seed: int | None = None, **params) -> PostpassModel:
    """A new model; ``seed`` makes its random initialisation reproducible without touching the global RNG."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}: choose one of {', '.join(sorted(ARCHITECTURES))}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return ARCHITECTURES[architecture](**params)


from . import colorize_unet, denoise_kpn, denoise_unet, inbetween_net, inbetween_splat, upres_net  # noqa: E402,F401  (registers them)
