"""The model registry: ``registry.json`` in a models folder maps a name to a file, its sha256 and its contract.

Only models listed here load, and only when the file's sha256 matches, so an unknown or modified file is
refused before onnxruntime parses a byte of it. The folder is ``addon/models/`` unless a caller passes one or
``$POSTPASS_MODELS`` names one (tests and studios keep their own). Export writes entries with :meth:`publish`.

:meth:`Registry.choice` picks a task's model by the inputs present and the source's range (an 8/16-bit sRGB
image prefers a model whose main input is sRGB, a render or float file a linear one) and says why in one line
(:class:`Choice`). A run may also say which of its sources a model reads: its frame (``frame_source``: a
frame alone, or the middle of a window of frames) or every one of its sources exactly (``source_count``:
inbetween's key pair, or the key pair and the made frame's guide render), so a model whose sources are not
given never runs, and one that ignores a source given (the guides) does not either.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .contract import BLENDER_DENOISED_PASS, ImageInput, ModelContract, ModelError
from .files import atomic_output

REGISTRY_FILE = "registry.json"
REGISTRY_FORMAT = 1
MODELS_DIR_ENV = "POSTPASS_MODELS"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
#: The range of a source image: ``ldr``, display-referred [0, 1] sRGB (8- and 16-bit PNG, JPEG, TIFF; Blender's
#: byte images), or ``hdr``, scene-linear and unbounded (EXR renders, float TIFFs and images).
SOURCE_RANGES = ("ldr", "hdr")
#: The colour space of a model's main input that suits each source range (:meth:`Registry.choice` prefers it).
RANGE_COLOR_SPACE = {"ldr": "srgb", "hdr": "linear"}
#: The Blender setting that writes each pass a model may read (View Layer Properties > Passes), for the advice
#: in a choice's reason when a render lacks it.
PASS_SETTINGS = {
    "Denoising Albedo": "Denoising Data",
    "Denoising Normal": "Denoising Data",
    "Denoising Depth": "Denoising Data",
    "Vector": "the Vector pass",
    "Depth": "the Z pass",
    "Normal": "the Normal pass",
    BLENDER_DENOISED_PASS: "Cycles' Denoise (OpenImageDenoise, Accurate, High)",
}


def models_dir(folder: str | os.PathLike | None = None) -> Path:
    """The models folder: ``folder`` if given, else ``$POSTPASS_MODELS``, else the add-on's ``models/``."""
    return Path(folder or os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    path: Path
    sha256: str
    precision: str  # fp32 | fp16
    version: str
    contract: ModelContract
    summary: dict  # what people read in registry.json: task, inputs, scale, metrics, ...


class Registry:
    """The models of one folder, in the order they were published (earlier wins ties in :meth:`choice`)."""

    def __init__(self, folder: str | os.PathLike | None = None, create: bool = False):
        self.folder = models_dir(folder)
        self.path = self.folder / REGISTRY_FILE
        self._raw: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("format") != REGISTRY_FORMAT:
                    raise ValueError(f"format {data.get('format')!r}, expected {REGISTRY_FORMAT}")
                self._raw = dict(data["models"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ModelError(f"{self.path}: unreadable model registry ({exc})".splitlines()[0]) from None
        elif not create:
            raise ModelError(f"{self.path}: no model registry here (export models with `python -m export`)")
        self.entries = {name: self._entry(name, raw) for name, raw in self._raw.items()}

    def _entry(self, name: str, raw: dict) -> RegistryEntry:
        try:
            file = raw["file"]
            if Path(file).name != file:  # entries name files in this folder, never elsewhere
                raise ModelError(f"{self.path}: model {name!r} names a file outside its folder: {file!r}")
            contract = into_window(ModelContract.from_metadata(raw["contract"], f"{self.path} [{name}]"))
            return RegistryEntry(name, self.folder / file, raw["sha256"], raw["precision"], raw["version"],
                                 contract, {k: v for k, v in raw.items() if k != "contract"})
        except KeyError as exc:
            raise ModelError(f"{self.path}: model {name!r} lacks {exc.args[0]!r}") from None

    def get(self, name: str) -> RegistryEntry:
        if name not in self.entries:
            known = ", ".join(self.entries) or "none"
            raise ModelError(f"unknown model {name!r} in {self.path} (known: {known})")
        return self.entries[name]

    def read_verified(self, name: str) -> bytes:
        """The model file's bytes, after checking them against the registry's sha256."""
        entry = self.get(name)
        data, problem = self._read(entry)
        if problem:
            raise ModelError(f"{entry.path}: {problem}")
        return data

    def verify(self, name: str) -> str | None:
        """What is wrong with model ``name``'s file (missing, unreadable, sha256 differs: a tampered or
        replaced file), in a few words; None when it matches the registry."""
        return self._read(self.get(name))[1]

    @staticmethod
    def _read(entry: RegistryEntry) -> tuple[bytes | None, str | None]:
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            return None, f"cannot read model {entry.name!r} ({exc.strerror or exc})"
        digest = sha256_of(data)
        if digest != entry.sha256:
            return None, (f"sha256 {digest[:12]}... does not match the registry's {entry.sha256[:12]}...; "
                          "refusing a modified model file")
        return data, None

    def choice(self, task: str, given: set[str], scale: int | None = None, precision: str = "fp32",
               exact: bool = True, source_range: str | None = None, files: bool = False,
               frame_source: int | None = None, source_count: int | None = None) -> Choice:
        """The model of ``task`` for the inputs ``given``, and why: it must need no input missing from them and,
        when ``exact`` (arrays passed by a caller), take every one of them; files offer more passes than any
        model uses, so for them ``exact`` is off (``files``: the inputs are a file's passes, which the reason
        says). ``frame_source``: only models whose frame (main input) is that source of a run's sources are
        candidates (0: a frame's own file, so a per-frame run never gets a model of windows of frames; r: the
        middle of a window of frames f - r .. f + r); None: any. ``source_count`` n: the run gives sources
        0 .. n - 1 and only models that read exactly those (each one, no other) are candidates (inbetween: 2,
        the key frames; 3, with the made frame's guide render); None: any.

        Among several, the one that uses the most of what was given, then the one whose main input's colour
        space fits ``source_range`` (``"ldr"``: sRGB, ``"hdr"``: linear; None: no preference), then the one
        that requires the most (it was made for those inputs), then the earliest published. So an 8-bit
        texture gets an sRGB model and an EXR a linear one where both fit the inputs, and a source of the other
        range still gets the model that fits its inputs (the reason says so).
        """
        _check_range(source_range)

        def accepts(e: RegistryEntry) -> set[str]:
            return {i.name for i in e.contract.inputs}

        of_kind = [e for e in self.entries.values()
                   if e.contract.task == task and e.precision == precision
                   and (scale is None or e.contract.scale == scale)]
        if frame_source is not None:
            self.check_frames(task, frame_source, of_kind)
            of_kind = [e for e in of_kind if reads_frame(e.contract, frame_source)]
        if source_count is not None:
            self.check_sources(task, source_count, of_kind)
            of_kind = [e for e in of_kind if reads_sources(e.contract, source_count)]
        # the inputs of a window's farther frames (given for the models of wider windows) do not rule out a model
        # of a narrower window: it reads the frames it was made for, and the run gives it only those
        farther = {i.name for e in of_kind for i in e.contract.image_inputs
                   if frame_source is not None and i.source != frame_source}
        fitting = [e for e in of_kind if set(e.contract.required) <= given
                   and (not exact or given <= accepts(e) | farther)]
        if not fitting:
            of_task = [e for e in self.entries.values() if e.contract.task == task]
            tasks_here = sorted({e.contract.task for e in self.entries.values()})
            have = "; ".join(f"{e.name} (x{e.contract.scale} {e.precision}: needs {', '.join(e.contract.required)}"
                             f"; takes {', '.join(sorted(accepts(e)))})" for e in of_task) or \
                f"none; it has models of {', '.join(tasks_here) or 'no task'}"
            want = f"{task}" + (f" x{scale}" if scale else "") + f" {precision}"
            raise ModelError(f"no {want} model in {self.path} fits inputs {', '.join(sorted(given)) or 'none'} "
                             f"(its {task} models: {have})")
        entry = max(fitting, key=lambda e: (len(accepts(e) & given), range_fits(e.contract, source_range),
                                            len(e.contract.required)))
        return _explain(entry, of_kind, given, source_range, files, frame_source=frame_source,
                        source_count=source_count)

    def named(self, name: str, given: set[str] = frozenset(), source_range: str | None = None,
              files: bool = False, frame_source: int | None = None, source_count: int | None = None) -> Choice:
        """Model ``name`` as a caller named it, with the reason (its range note, if any); ``frame_source``,
        ``source_count``: as in :meth:`choice` (a model that reads its frame from another source, or other
        sources than the run gives, is refused)."""
        _check_range(source_range)
        entry = self.get(name)
        if frame_source is not None and not reads_frame(entry.contract, frame_source):
            raise ModelError(f"model {name!r} reads {frames_read(entry.contract)}, not {window_text(frame_source)}")
        if source_count is not None and not reads_sources(entry.contract, source_count):
            raise ModelError(f"model {name!r} reads {frames_read(entry.contract)}, not "
                             f"{sources_text(entry.contract.task, range(source_count))}")
        return _explain(entry, [], given, source_range, files, named=True, frame_source=frame_source,
                        source_count=source_count)

    def check_frames(self, task: str, frame_source: int, entries: list[RegistryEntry] | None = None) -> None:
        """Refuse, in one line, a run of ``task`` on ``frame_source``'s frames (see :meth:`choice`) when no model
        of ``entries`` (default: the task's) reads its frame from there, e.g. windows of frames and only
        per-frame models."""
        entries = [e for e in self.entries.values() if e.contract.task == task] if entries is None else entries
        if entries and not any(reads_frame(e.contract, frame_source) for e in entries):
            have = ", ".join(f"{e.name} ({frames_read(e.contract)})" for e in entries)
            raise ModelError(f"no {task} model in {self.path} reads {window_text(frame_source)} "
                             f"(its {task} models: {have})")

    def check_sources(self, task: str, source_count: int, entries: list[RegistryEntry] | None = None) -> None:
        """Refuse, in one line, a run of ``task`` that gives sources 0 .. ``source_count`` - 1 (see
        :meth:`choice`) when no model of ``entries`` (default: the task's) reads exactly those, e.g. guide
        renders given to inbetween and no model that reads them."""
        entries = [e for e in self.entries.values() if e.contract.task == task] if entries is None else entries
        if entries and not any(reads_sources(e.contract, source_count) for e in entries):
            have = ", ".join(f"{e.name} ({frames_read(e.contract)})" for e in entries)
            raise ModelError(f"no {task} model in {self.path} reads {sources_text(task, range(source_count))} "
                             f"(its {task} models: {have})")

    def publish(self, name: str, file: str, data_sha256: str, metadata: dict[str, str]) -> None:
        """Add or replace one model's entry and rewrite registry.json atomically."""
        contract = ModelContract.from_metadata(metadata, name)
        contract_keys = set(contract.to_metadata())
        self._raw[name] = {
            "file": file,
            "sha256": data_sha256,
            "task": contract.task,
            "version": metadata.get("version", ""),
            "precision": metadata.get("precision", "fp32"),
            "scale": contract.scale,
            "inputs": [i.name for i in contract.inputs],
            "required": list(contract.required),
            "metrics": json.loads(metadata.get("metrics") or "{}"),
            "contract": {k: v for k, v in metadata.items() if k in contract_keys},
        }
        self.entries[name] = self._entry(name, self._raw[name])
        with atomic_output(self.path) as tmp:
            Path(tmp).write_text(json.dumps({"format": REGISTRY_FORMAT, "models": self._raw}, indent=1) + "\n")


@dataclass(frozen=True)
class Choice:
    """The model a run uses and why, for people (the ``postpass`` line, the API's log, Blender's report).

    ``reason``: one line, e.g. "the input has no albedo/normal passes; render with Denoising Data for better
    results". ``better_with``: the passes (Blender pass names) that models of the task read and the input
    lacked: rendered with them, a better-guided model runs (the add-on offers to turn them on).
    ``clip``: the source is display-referred (``ldr``): results are clipped to [0, 1], the range it came in.
    """

    entry: RegistryEntry
    reason: str
    better_with: tuple[str, ...] = ()
    clip: bool = False

    @property
    def line(self) -> str:
        """``denoise: denoise_kpn_color (the input has no albedo/normal passes; ...)``"""
        return f"{self.entry.contract.task}: {self.entry.name} ({self.reason})"


def _check_range(source_range: str | None) -> None:
    if source_range is not None and source_range not in SOURCE_RANGES:
        raise ModelError(f"source_range must be one of {', '.join(SOURCE_RANGES)} or None, not {source_range!r}")


def main_input(contract: ModelContract) -> ImageInput:
    """The input that sets a model's image: its task's main input (``TaskSpec.main_input``: denoise ``color``)
    where the model has it, else its first required image input on the input grid. Its ``source`` is the
    model's frame among a run's sources (a window model's frame f is the middle one)."""
    from . import tasks  # the task modules import this one: look it up when asked

    name = tasks.get(contract.task).main_input if contract.task in tasks.names() else None
    for i in contract.image_inputs:
        if i.name == name and i.grid == "input":
            return i
    return next(i for i in contract.image_inputs if i.grid == "input" and not i.optional)


def into_window(contract: ModelContract) -> ModelContract:
    """``contract`` as a run reads it: a model of windows of frames f - r .. f + r (its frame, the main input,
    source r > 0, every source within 0 .. 2r) whose task runs windows of more frames on each side
    (``TaskSpec.window_runs``: R > r) reads the middle of them, its sources moved up by R - r (sources 1 .. 3
    of a window of 5 for a model of frames f - 1 .. f + 1). Any other contract as it is. The registry's
    entries and the loaded model (``engine.Model``) both hold it so, so they agree."""
    from . import tasks  # the task modules import this one: look it up when asked

    layout = tasks.get(contract.task).window_runs if contract.task in tasks.names() else None
    main = main_input(contract).source
    if layout is None or not 0 < main < layout.window or not sources_read(contract) <= set(range(2 * main + 1)):
        return contract
    shift = layout.window - main
    return replace(contract, inputs=tuple(replace(i, source=i.source + shift) if isinstance(i, ImageInput) else i
                                          for i in contract.inputs))


def reads_frame(contract: ModelContract, frame_source: int) -> bool:
    """Whether the model's frame (its main input) is source ``frame_source`` of a run's sources."""
    return main_input(contract).source == frame_source


def sources_read(contract: ModelContract) -> frozenset[int]:
    """The sources (indices into a run's sources) a model's image inputs come from."""
    return frozenset(i.source for i in contract.image_inputs)


def reads_sources(contract: ModelContract, source_count: int) -> bool:
    """Whether the model reads sources 0 .. ``source_count`` - 1, each of them and no other."""
    return sources_read(contract) == frozenset(range(source_count))


def source_name(task: str, source: int) -> str:
    """What source ``source`` of a ``task`` run is, for people (the task's ``source_names``: inbetween's
    ``key frame``, ``key frame``, ``guide``), else ``source #N``."""
    from . import tasks  # the task modules import this one: look it up when asked

    names = tasks.get(task).source_names if task in tasks.names() else ()
    return names[source] if source < len(names) else f"source #{source}"


def sources_text(task: str, sources) -> str:
    """Sources of a ``task`` run for people, by the task's names: ``key frames alone``, ``key frames and
    guides``; without names ``sources #0, #1``."""
    sources = sorted(sources)
    from . import tasks

    if task not in tasks.names() or len(tasks.get(task).source_names) <= sources[-1]:
        return f"sources {', '.join(f'#{s}' for s in sources)}"
    kinds = list(dict.fromkeys(f"{source_name(task, s)}s" for s in sources))
    return f"{kinds[0]} alone" if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"


def window_text(frame_source: int) -> str:
    """What a run whose frame is source ``frame_source`` gives: ``frame f alone``, ``frames f-1, f, f+1``."""
    if frame_source == 0:
        return "frame f alone"
    return "frames " + ", ".join(_offset(k) for k in range(-frame_source, frame_source + 1))


def frames_read(contract: ModelContract) -> str:
    """The frames a model reads, relative to its frame f: ``frame f alone``, ``frames f-1, f, f+1``; a model
    of several sources that are not a window of frames around its frame (inbetween's key pair) by source."""
    main = main_input(contract).source
    if main == 0:
        sources = sorted({i.source for i in contract.image_inputs})
        return "frame f alone" if sources == [0] else sources_text(contract.task, sources)
    return "frames " + ", ".join(_offset(s - main) for s in sorted({i.source for i in contract.image_inputs}))


def _offset(k: int) -> str:
    return "f" if k == 0 else f"f{k:+d}"


def range_fits(contract: ModelContract, source_range: str | None) -> bool:
    """Whether the model's main input is in the colour space that suits ``source_range`` (None: any fits)."""
    return source_range is None or main_input(contract).color_space == RANGE_COLOR_SPACE[source_range]


def _names(inputs: list[ImageInput]) -> str:
    """Input names for people, ``albedo/normal``; inputs read from one pass of several files once (``vectors``)."""
    by_pass: dict[str, list[str]] = {}
    for i in inputs:
        by_pass.setdefault(i.pass_name or i.name, []).append(i.name)
    return "/".join(names[0] if len(names) == 1 else re.sub(r"\d+$", "", names[0]) for names in by_pass.values())


def _explain(entry: RegistryEntry, of_kind: list[RegistryEntry], given: set[str], source_range: str | None,
             files: bool, named: bool = False, frame_source: int | None = None,
             source_count: int | None = None) -> Choice:
    """The :class:`Choice` of ``entry`` among ``of_kind`` (the task's models of that scale and precision) for
    the inputs ``given``: what it uses, which inputs its task's models read that were not given (and the
    Blender setting that writes them), and whether the source's range fits the model. Only models that read
    their frame from the same source as ``entry`` count (a per-frame choice never advises a temporal model's
    passes). A run on windows of frames (``frame_source`` > 0) says so; one given sources of another kind than
    its frame's (``source_count``: inbetween's guides) says they were given ("guide passes given"), and only
    models that read exactly its sources count."""
    contract, main = entry.contract, main_input(entry.contract)
    of_kind = [e for e in of_kind if reads_frame(e.contract, main.source)]
    parts, better = [], []
    if frame_source:
        parts.append(f"reads {frames_read(contract)}")
    if source_count is not None:
        of_kind = [e for e in of_kind if reads_sources(e.contract, source_count)]
        own = source_name(contract.task, main.source)
        extra = dict.fromkeys(source_name(contract.task, s) for s in range(source_count))
        extra = [k for k in extra if k != own]
        if extra:
            parts.append(f"{' and '.join(extra)} passes given")
    if named:
        parts.append("chosen by name")
    else:
        def guide(i: ImageInput) -> bool:  # not the image itself (nor another frame's: inbetween's frame1)
            return i.name != main.name and (i.pass_name is None or i.pass_name != main.pass_name)

        used = [i for i in contract.image_inputs if i.name in given and guide(i)]
        seen, missing = set(), []
        for other in of_kind:
            for i in other.contract.image_inputs:
                if i.name not in given and i.name not in seen and not i.estimate and guide(i):
                    seen.add(i.name)
                    missing.append(i)
        passes = [i for i in missing if i.pass_name and i.grid == "input"]
        rest = [i for i in missing if i not in passes]
        if used:
            parts.append(f"uses {_names(used)}")
        if passes and source_range != "ldr":  # an 8-bit image has no passes to render: no advice there
            noun = "pass" if len({i.pass_name for i in passes}) == 1 else "passes"
            parts.append(f"the input has no {_names(passes)} {noun}" if files else f"no {_names(passes)} given")
            settings = list(dict.fromkeys(PASS_SETTINGS[i.pass_name] for i in passes if i.pass_name in PASS_SETTINGS))
            if settings:
                parts.append(f"render with {' and '.join(settings)} for better results")
            better = list(dict.fromkeys(i.pass_name for i in passes))
        if rest and source_range != "ldr":
            # output-size passes (up-res guides) come from a separate full-size render: say which, so a user
            # who rendered half size knows what the guided model wants (docs/farm.md's half-size workflow)
            full = [i for i in rest if i.grid == "output"]
            if full:
                parts.append(f"no full-size {_names(full)} given: a full-size render's passes let a guided model run")
            if len(full) < len(rest):
                parts.append(f"no {_names([i for i in rest if i.grid != 'output'])} given")
    space = {"srgb": "sRGB"}.get(main.color_space, main.color_space)
    if source_range == "ldr" and main.color_space != RANGE_COLOR_SPACE["ldr"]:
        parts.append(f"an 8/16-bit sRGB source on this {space} model: it runs on the decoded values, clipped to "
                     "[0, 1]" if named else f"an 8/16-bit sRGB source and no sRGB {contract.task} model fits: this "
                     f"{space} one runs on its decoded values, clipped to [0, 1]")
    elif source_range == "hdr" and main.color_space != RANGE_COLOR_SPACE["hdr"]:
        parts.append(f"an HDR source on this {space} model: values above 1.0 clip")
    elif source_range == "ldr" and not named:
        parts.append("an 8/16-bit sRGB source")  # why an sRGB model ran where a linear one fits the inputs too
    return Choice(entry, "; ".join(parts) or f"{_names([main])} only", tuple(better), clip=source_range == "ldr")
