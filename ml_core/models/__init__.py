"""Small network architectures, one file each, registered by name (BasicSR style): ``build(name, **params)``.

Every module of this package is imported (``ml_core.registry.import_submodules``), so a new architecture is a
new file whose class is decorated with :func:`register`; no list here to edit.

Every architecture is a :class:`PostpassModel`: it records its constructor parameters (so a checkpoint is a
plain state_dict plus JSON) and declares its I/O contract (``addon.runtime.contract``), which export copies
into the ONNX metadata the runtime reads. ``forward`` takes the contract's inputs positionally, in order.
"""
from __future__ import annotations

import torch
from torch import nn

from addon.runtime.contract import ModelContract

from ..registry import Registry, import_submodules

#: architecture name -> :class:`PostpassModel` subclass
ARCHITECTURES: Registry[type[PostpassModel]] = Registry("architecture")


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

    def auxiliary_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """A training loss on the model's own intermediates of its last forward (added to the output's loss),
        or None: e.g. a classification head's cross-entropy against ``batch["target"]``, or a prefilter's error
        against the clean passes the batch also holds."""
        return None

    def named_inputs(self, inputs: tuple) -> dict[str, torch.Tensor]:
        """``forward``'s positional inputs by contract name (variants with optional inputs read them by name)."""
        return dict(zip(self.input_names, inputs))


def register(cls: type[PostpassModel]) -> type[PostpassModel]:
    """Class decorator: register an architecture under its ``architecture`` name."""
    return ARCHITECTURES.add(cls.architecture, cls)


def build(architecture: str, seed: int | None = None, **params) -> PostpassModel:
    """A new model; ``seed`` makes its random initialisation reproducible without touching the global RNG."""
    cls = ARCHITECTURES.get(architecture)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return cls(**params)


import_submodules(__name__)  # noqa: E305  (each architecture registers itself)
