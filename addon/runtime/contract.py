"""What a model needs and gives, as ONNX metadata: the one contract between ``ml_core`` models and the runtime.

Each ``ml_core`` architecture declares a :class:`ModelContract`; export copies it into the ONNX file's
``metadata_props`` (:meth:`ModelContract.to_metadata`) beside provenance keys (:data:`PROVENANCE_KEYS`); the
runtime reads it back (:meth:`ModelContract.from_metadata`) and drives everything from it - input checks,
colour conversion, exposure, padding, tiling, alpha - so it has no per-model code. Torch-free and bpy-free:
``ml_core`` imports this module, the add-on ships it.

Conventions the runtime applies by meaning, never by model name:

* Arrays are float32 H x W x C and linear. An input or output in ``srgb`` space is sRGB-encoded at the model
  boundary (and decoded back); ``linear`` and ``data`` pass unchanged.
* An RGB input given one extra channel carries alpha: alpha is split off before the network and comes back on
  the output named by :class:`AlphaRule`. A ``("Y",)`` input given RGB(A) takes its Rec.709 luminance.
* An input on the ``output`` grid (e.g. full-resolution guides for up-res) is ``scale`` times the input grid.
* An input with ``displacement_gain`` holds pixel offsets that move content by up to gain x |value| pixels;
  the runtime widens the tile overlap by that much so tiles still agree.
* An input with ``estimate`` (an estimator name and the inputs it reads, e.g. ``("optical_flow", "frame0",
  "frame1")``) is computed by the runtime from those inputs, over the whole image before tiling, when the
  caller does not give it (``addon.runtime.estimate``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

CONTRACT_VERSION = 1
COLOR_SPACES = ("linear", "srgb", "data")
GRIDS = ("input", "output")
#: Blender's passes of a render its own denoiser (Cycles' Denoise, on by default) finished, with Denoising Data on:
#: Combined is then the denoised image and the raw render is kept as "Noisy Image". The denoise task reads such a
#: file as its raw render (Combined) and Blender's result under :data:`BLENDER_DENOISED_PASS`, a name only the
#: runtime gives it (:func:`as_raw_render`), which a model that improves on Blender's result names as its input's
#: pass.
RAW_RENDER_PASS = "Noisy Image"
BLENDER_DENOISED_PASS = "Denoised Image"
#: Keys export writes beside the contract; the runtime shows them but never acts on them.
PROVENANCE_KEYS = ("name", "version", "precision", "architecture", "config", "training_command", "seed",
                   "dataset_fingerprint", "metrics", "parity", "exporter")


def _fields(item) -> dict:
    # an empty ``estimate`` or ``warp`` is left out, so models exported before them keep byte-identical metadata
    return {k: v for k, v in asdict(item).items() if not (k in ("estimate", "warp") and not v)}


def raw_render_pass_names(names: set[str] | frozenset[str]) -> set[str]:
    """The pass names :func:`as_raw_render` leaves of a render whose passes are ``names`` (a header's)."""
    names = set(names)
    if RAW_RENDER_PASS not in names:
        return names
    names.discard(RAW_RENDER_PASS)
    if "Combined" in names:
        names.add(BLENDER_DENOISED_PASS)
    names.add("Combined")
    return names


def as_raw_render(passes: dict) -> dict:
    """A render's ``passes`` (name -> H x W x C array) as the denoise task reads them: where Blender's denoiser
    wrote Combined (the raw render kept as :data:`RAW_RENDER_PASS`), Combined is the raw render (with Combined's
    alpha, which the denoiser leaves as rendered) and Blender's result is :data:`BLENDER_DENOISED_PASS` (RGB); the
    other passes as they are. A new dict (the given one is not changed); ``passes`` itself when it holds no raw
    render. The runtime (the denoise task's ``prepare_source``), the datasets and the fine-tune's evaluation all
    read Blender-denoised renders through this."""
    if RAW_RENDER_PASS not in passes:
        return passes
    out = {name: value for name, value in passes.items() if name != RAW_RENDER_PASS}
    raw, combined = passes[RAW_RENDER_PASS][..., :3], passes.get("Combined")
    if combined is not None:
        out[BLENDER_DENOISED_PASS] = combined[..., :3]
        if combined.shape[-1] == 4:
            import numpy as np

            raw = np.concatenate([raw, combined[..., 3:]], -1)
    out["Combined"] = raw
    return out


class ModelError(ValueError):
    """A model cannot be found, verified or used; ``str()`` is one line naming the model or file."""


@dataclass(frozen=True)
class ImageInput:
    """One N x C x H x W network input."""

    name: str  # ONNX input name and the API keyword
    channels: tuple[str, ...]  # meaning of each channel: ("R", "G", "B"), ("X", "Y", "Z"), ("Y",), ...
    color_space: str  # linear | srgb | data
    meaning: str = ""  # one line for people: "noisy beauty render", "camera-space normal"
    hdr: bool = False  # values may exceed 1
    pass_name: str | None = None  # the Blender pass a file provides it from ("Combined", "Denoising Albedo")
    source: int = 0  # which of the task's source files holds that pass (inbetween: frame 0 or 1)
    grid: str = "input"  # "output": sampled at the output resolution (scale x the input grid)
    optional: bool = False  # may be left out; the runtime then feeds ``fill``
    fill: float = 0.0
    displacement_gain: float = 0.0
    #: (estimator, input, ...): computed by the runtime from those inputs when absent (see ``estimate.py``)
    estimate: tuple[str, ...] = ()
    #: (vector input, "prev" | "next"[, chain input, ...]): a neighbouring frame's pass that the runtime moves
    #: onto this frame's pixels along that Blender Vector pass before the network, over the whole image before
    #: tiling (see ``motion.py``; outside the neighbour's frame: zeros). A frame two or more steps away names
    #: the Vector passes of the frames between, nearest first, each an input warped onto this frame itself:
    #: the motion is followed frame by frame (``motion.warp_inputs``)
    warp: tuple[str, ...] = ()

    kind = "image"


@dataclass(frozen=True)
class ScalarInput:
    """One N x 1 network input: a per-image number such as the exposure scale or the time t."""

    name: str
    meaning: str = ""
    default: float | None = None
    #: Computed by the runtime as one exposure scale over these image inputs when the caller gives none.
    exposure_of: tuple[str, ...] = ()

    kind = "scalar"


@dataclass(frozen=True)
class ImageOutput:
    name: str
    channels: tuple[str, ...]
    color_space: str
    meaning: str = ""
    hdr: bool = False
    pass_name: str | None = None  # where file output goes in a multilayer EXR


@dataclass(frozen=True)
class AlphaRule:
    """Where alpha comes back: the alpha of ``sources`` (resized to the output grid), onto ``output``.

    With two sources, ``mix`` names the scalar input that interpolates between them (inbetween's t).
    """

    sources: tuple[str, ...]
    output: str
    mix: str | None = None


@dataclass(frozen=True)
class ModelContract:
    task: str
    inputs: tuple[ImageInput | ScalarInput, ...]
    outputs: tuple[ImageOutput, ...]
    scale: int = 1  # output size / input size
    pad_multiple: int = 1  # input height and width must be multiples of this (the runtime pads)
    tile_overlap: int = 0  # input pixels of context each output pixel needs (receptive-field radius)
    alpha: AlphaRule | None = None
    _by_name: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {i.name: i for i in self.inputs})
        self._validate()

    @property
    def image_inputs(self) -> tuple[ImageInput, ...]:
        return tuple(i for i in self.inputs if i.kind == "image")

    @property
    def scalar_inputs(self) -> tuple[ScalarInput, ...]:
        return tuple(i for i in self.inputs if i.kind == "scalar")

    def input(self, name: str) -> ImageInput | ScalarInput:
        return self._by_name[name]

    @property
    def required(self) -> tuple[str, ...]:
        """Inputs a caller must give: images that are not optional, scalars with neither default nor rule."""
        return tuple(i.name for i in self.inputs if (not i.optional if i.kind == "image"
                                                      else i.default is None and not i.exposure_of))

    def to_metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` for this contract (string values; structures as JSON)."""
        return {
            "postpass_contract": str(CONTRACT_VERSION),
            "task": self.task,
            "inputs": json.dumps([{"kind": i.kind, **_fields(i)} for i in self.inputs]),
            "outputs": json.dumps([asdict(o) for o in self.outputs]),
            "scale": str(self.scale),
            "pad_multiple": str(self.pad_multiple),
            "tile_overlap": str(self.tile_overlap),
            "alpha": json.dumps(asdict(self.alpha) if self.alpha else None),
        }

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str = "model") -> ModelContract:
        """Parse ``metadata_props``; a missing or malformed entry raises :class:`ModelError` naming ``source``."""
        version = props.get("postpass_contract")
        if version != str(CONTRACT_VERSION):
            raise ModelError(f"{source}: not a Postpass model (metadata postpass_contract={version!r}, "
                             f"this runtime reads {CONTRACT_VERSION})")
        try:
            inputs = []
            for entry in json.loads(props["inputs"]):
                kind = entry.pop("kind")
                if kind == "image":
                    inputs.append(ImageInput(**{**entry, "channels": tuple(entry["channels"]),
                                                "estimate": tuple(entry.get("estimate", ())),
                                                "warp": tuple(entry.get("warp", ()))}))
                elif kind == "scalar":
                    inputs.append(ScalarInput(**{**entry, "exposure_of": tuple(entry["exposure_of"])}))
                else:
                    raise ValueError(f"input kind {kind!r}")
            outputs = [ImageOutput(**{**o, "channels": tuple(o["channels"])}) for o in json.loads(props["outputs"])]
            alpha = json.loads(props["alpha"])
            return cls(task=props["task"], inputs=tuple(inputs), outputs=tuple(outputs), scale=int(props["scale"]),
                       pad_multiple=int(props["pad_multiple"]), tile_overlap=int(props["tile_overlap"]),
                       alpha=AlphaRule(**{**alpha, "sources": tuple(alpha["sources"])}) if alpha else None)
        except ModelError:
            raise
        except KeyError as exc:
            raise ModelError(f"{source}: model metadata lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed model metadata ({exc})".splitlines()[0]) from None

    def _validate(self) -> None:
        from .tasks import names  # the task registry's modules import this one: look it up when validating

        problems = []
        if self.task not in names():
            problems.append(f"task {self.task!r} is not one of {', '.join(names())}")
        names = [i.name for i in self.inputs] + [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            problems.append(f"input and output names must all differ: {names}")
        for item in (*self.image_inputs, *self.outputs):
            if item.color_space not in COLOR_SPACES:
                problems.append(f"{item.name}: colour space {item.color_space!r} not in {COLOR_SPACES}")
        for i in self.image_inputs:
            if i.grid not in GRIDS:
                problems.append(f"{i.name}: grid {i.grid!r} not in {GRIDS}")
            if i.estimate and (len(i.estimate) < 2 or any(src not in self._by_name for src in i.estimate[1:])):
                problems.append(f"{i.name}: estimate {i.estimate} needs an estimator and known inputs")
            if i.warp and (len(i.warp) < 2 or any(v not in self._by_name for v in i.warp[:1] + i.warp[2:])
                           or i.warp[1] not in ("prev", "next")):
                problems.append(f"{i.name}: warp {i.warp} needs a known vector input, 'prev' or 'next' and known "
                                "chain inputs")
            elif len(i.warp) > 2 and any(getattr(self._by_name[v], "warp", ())[:2] != i.warp[:2]
                                         or len(self._by_name[v].warp) >= len(i.warp) for v in i.warp[2:]):
                problems.append(f"{i.name}: warp {i.warp}: each chain input must itself be warped the same way, "
                                "by a shorter chain")
        if not any(i.grid == "input" and not i.optional for i in self.image_inputs):
            problems.append("no required input on the input grid (it sets the image size)")
        for s in self.scalar_inputs:
            for src in s.exposure_of:
                if src not in self._by_name:
                    problems.append(f"{s.name}: exposure from unknown input {src!r}")
        if self.alpha:
            if any(s not in self._by_name for s in self.alpha.sources):
                problems.append(f"alpha from unknown input in {self.alpha.sources}")
            if self.alpha.output not in {o.name for o in self.outputs}:
                problems.append(f"alpha onto unknown output {self.alpha.output!r}")
            if (len(self.alpha.sources) == 2) != (self.alpha.mix is not None):
                problems.append("alpha needs a mix scalar exactly when it has two sources")
        if self.scale < 1 or self.pad_multiple < 1 or self.tile_overlap < 0:
            problems.append("scale and pad_multiple must be >= 1, tile_overlap >= 0")
        if problems:
            raise ModelError("invalid model contract: " + "; ".join(problems))
