"""Inbetween: the frame at time t between two rendered key frames, from the renderer's Vector passes when present
(else the runtime estimates the motion), or, given the made frame's own cheap guide render (issue 28: its
Denoising Albedo, Normal, Depth and Vector passes at a few samples), by the guided model, which reads both keys
at exactly the right place along the guide's Vector pass.

A run says which sources it gives (``source_count``): the key frames alone (2) never get a model that reads
guides, the key frames and the guide render (3) always get one (or are refused in one line before anything
runs), so a guide render is never silently ignored.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..api import PathLike, run, run_files
from ..contract import ModelError
from ..engine import InferenceResult
from ..exr import ExrImage
from . import CliOption, TaskSpec, UiOption, frame_range, register

#: A key frame's arrays (``frame0`` / ``frame1`` given as a dict) by key, and the pass of a file each comes from.
KEY_PASSES = {"color": "Combined", "albedo": "Denoising Albedo", "normal": "Denoising Normal",
              "depth": "Denoising Depth", "vector": "Vector"}
#: The made frame's guide passes (``guides``) by key (the guided model's input names) and their pass names.
GUIDE_PASSES = {"albedo": "Denoising Albedo", "normal": "Denoising Normal", "depth": "Denoising Depth",
                "vectors": "Vector"}
#: The sources of an inbetween run: the key frames before and after, then (with guides) the made frame's guide.
KEYS, GUIDED = 2, 3


def inbetween(frame0: np.ndarray | Mapping | ExrImage, frame1: np.ndarray | Mapping | ExrImage, t: float = 0.5,
              vectors: tuple[np.ndarray, np.ndarray] | None = None, *, depth0: np.ndarray | None = None,
              depth1: np.ndarray | None = None, exposure: float | None = None, key_steps: float = 2,
              guides: Mapping | ExrImage | None = None, **options) -> np.ndarray:
    """The frame at time ``t`` between ``frame0`` (t=0) and ``frame1`` (t=1).

    ``frame0`` / ``frame1``: the key frames' colour (Combined), or, as the temporal denoiser's ``prev`` /
    ``next``, a :func:`read_image` result of the key frame's file or a dict of its arrays ``{"color", "albedo",
    "normal", "depth", "vector"}`` (Combined, Denoising Albedo / Normal / Depth, Vector; any but ``color`` may
    be left out). ``vectors``: the Blender Vector passes (4 channels, pixels) of both frames; with them a model
    uses the renderer's exact motion (from read_image results or dicts their ``Vector`` is used when
    ``vectors`` is None). ``key_steps``: how many frame steps apart the two frames are (2: rendered every
    other frame; 4 for every 4th, with t = 1/4, 2/4, 3/4 between): a Vector pass holds one step's motion.
    ``depth0`` / ``depth1``: the Denoising Depth passes (H x W or H x W x 1, distance from the camera) of
    ``frame0`` and ``frame1`` (or ``depth`` of their dicts); with vectors, the vector-guided model
    (``inbetween_vectors``) weighs the pixels that land on the same spot by them, nearer ones winning (as
    ``inbetween_file`` and ``postpass inbetween`` do from the EXR passes). Give both or neither; without them
    that model weighs such pixels alike. The image-only model takes no depth (passing it raises
    :class:`ModelError`).

    ``guides``: the made frame's own guide passes (a cheap render of that frame with Denoising Data and the
    Vector pass), a :func:`read_image` result of its file or a dict ``{"albedo", "normal", "depth",
    "vectors"}`` (Denoising Albedo, Normal, Depth, Vector). Then a model that reads guides runs
    (``inbetween_guided``; none in the models folder: a one-line :class:`ModelError`), and it needs the key
    frames' Denoising Data too: give ``frame0`` and ``frame1`` as read_image results or dicts with ``color``,
    ``albedo``, ``normal`` and ``depth``. Both keys are read along the guide's Vector pass, ``t * key_steps``
    steps back and ``(1 - t) * key_steps`` ahead; the keys' own vectors are not used (``vectors`` with
    ``guides`` raises). Without ``guides`` a model that reads guides never runs. Keys more than one step from
    the made frame: ``key_chains={"prev": [...], "next": [...]}`` (an option of :func:`run`) gives the Vector
    passes of the guide renders of the frames in between, nearest first; that key is then moved along each
    frame's own vectors in turn (curves, acceleration), not along the made frame's scaled ones.
    """
    _check_time(t)
    key = [_key(f"frame{i}", frame, guided=guides is not None) for i, frame in enumerate((frame0, frame1))]
    if guides is None:
        if any("albedo" in k or "normal" in k for k in key):
            raise ModelError("inbetween: the key frames' albedo/normal are read only with guides= (the made "
                             "frame's guide passes)")
        if vectors is None and all("vector" in k for k in key):
            vectors = (key[0]["vector"], key[1]["vector"])
        depth0 = key[0].get("depth") if depth0 is None else depth0
        depth1 = key[1].get("depth") if depth1 is None else depth1
        if (depth0 is None) != (depth1 is None):
            raise ModelError("inbetween: give depth0 and depth1 together (the Denoising Depth of both frames)")
        vector0, vector1 = vectors if vectors is not None else (None, None)
        return run("inbetween", {"frame0": key[0]["color"], "frame1": key[1]["color"], "t": t, "vectors0": vector0,
                                 "vectors1": vector1, "depth0": depth0, "depth1": depth1, "exposure": exposure},
                   key_steps=key_steps, source_count=KEYS, **options).image
    if vectors is not None:
        raise ModelError("inbetween: vectors= are the key frames' Vector passes, for runs without guides; with "
                         "guides= the made frame's Vector pass (its 'vectors') moves both keys")
    inputs = {"t": t, "exposure": exposure}
    for i, depth in enumerate((depth0, depth1)):
        passes = dict(key[i], **({"depth": depth} if depth is not None else {}))
        missing = [name for name in ("albedo", "normal", "depth") if name not in passes]
        if missing:
            raise ModelError(f"inbetween: with guides= the key frames need their Denoising Data too: frame{i} has "
                             f"no {', '.join(missing)} (give it as a read_image result or a dict of color, albedo, "
                             "normal, depth)")
        inputs.update({f"{'frame' if name == 'color' else name}{i}": value for name, value in passes.items()
                       if name != "vector"})
    inputs.update(_guides(guides))
    return run("inbetween", inputs, key_steps=key_steps, source_count=GUIDED, **options).image


def inbetween_file(src0: PathLike, src1: PathLike, dst: PathLike, t: float = 0.5, *, key_steps: float = 2,
                   guides: PathLike | None = None, **options) -> InferenceResult:
    """Write the frame at ``t`` between two render files ``key_steps`` frame steps apart; their Vector passes
    are used when present.

    ``guides``: the made frame's guide render (a file with Denoising Albedo, Normal, Depth and the Vector
    pass); then a model that reads it runs (``inbetween_guided``), which needs the key frames' Denoising Data
    too: a file without those passes is refused in one line naming it (:class:`ImageError`) before the model
    runs, as is a models folder without such a model or a ``model=`` that does not read guides
    (:class:`ModelError`). Without ``guides`` a model that reads guides never runs. The result's ``choice`` says
    which model ran and why (``guide passes given``). ``key_chains={"prev": [files], "next": [files]}``: the
    guide renders of the frames between the made frame and a key, nearest first (see :func:`inbetween`);
    ``postpass inbetween --guides`` finds them itself."""
    _check_time(t)
    sources = [src0, src1] if guides is None else [src0, src1, guides]
    return run_files("inbetween", sources, dst, inputs={"t": t}, key_steps=key_steps, source_count=len(sources),
                     **options)


def _check_time(t) -> None:
    """A made frame lies between its keys: 0 <= t <= 1 (the models never learned to extrapolate)."""
    try:
        inside = 0.0 <= float(t) <= 1.0
    except (TypeError, ValueError):
        inside = False
    if not inside:
        raise ModelError(f"inbetween: t={t!r}; the made frame lies between frame0 (t=0) and frame1 (t=1), so "
                         "0 <= t <= 1")


def _key(name: str, frame, guided: bool) -> dict[str, np.ndarray]:
    """A key frame's arrays by :data:`KEY_PASSES` key; an array is its colour. From a read_image result: the
    passes a run of its kind reads (with guides Denoising Albedo, Normal and Depth, which must be there; without,
    Denoising Depth and Vector where present)."""
    if isinstance(frame, ExrImage):
        wanted = ("albedo", "normal", "depth") if guided else ("depth", "vector")
        passes = {"color": frame.get("Combined")}
        for key in wanted:
            if guided or KEY_PASSES[key] in frame.passes:
                passes[key] = frame.get(KEY_PASSES[key])  # missing: an ImageError naming the file
        return passes
    if isinstance(frame, Mapping):
        unknown = sorted(set(frame) - set(KEY_PASSES))
        if unknown:
            raise ModelError(f"inbetween: {name} takes {', '.join(KEY_PASSES)}, not {', '.join(unknown)}")
        if frame.get("color") is None:
            raise ModelError(f"inbetween: {name} needs its colour: a dict with 'color' (its Combined pass)")
        return {key: value for key, value in frame.items() if value is not None}
    if frame is None:
        raise ModelError(f"inbetween: {name} is a key frame: an array, a dict of its passes or a read_image result")
    return {"color": frame}


def _guides(guides) -> dict[str, np.ndarray]:
    """The made frame's guide inputs (``albedo``, ``normal``, ``depth``, ``vectors``) from a read_image result
    or a dict of them."""
    if isinstance(guides, ExrImage):
        return {key: guides.get(pass_name) for key, pass_name in GUIDE_PASSES.items()}
    if not isinstance(guides, Mapping):
        raise ModelError(f"inbetween: guides is the made frame's guide passes: a dict of {', '.join(GUIDE_PASSES)} "
                         f"arrays or a read_image result, not {type(guides).__name__}")
    unknown = sorted(set(guides) - set(GUIDE_PASSES))
    missing = [key for key in GUIDE_PASSES if guides.get(key) is None]
    if unknown or missing:
        problem = f"not {', '.join(unknown)}" if unknown else f"{', '.join(missing)} missing"
        raise ModelError(f"inbetween: guides takes {', '.join(GUIDE_PASSES)} ({problem})")
    return dict(guides)


SPEC = register(TaskSpec(
    name="inbetween",
    summary="make the frames between key frames rendered every Nth frame",
    label="Inbetween",
    icon="SEQUENCE",
    main_input="frame0",
    layout="key_pair",  # its jobs' inputs hold t and key_steps: the frame's place between its keys
    source_names=("key frame", "key frame", "guide"),
    order=40,
    cli_options=(
        CliOption(("--keys",), {"type": frame_range, "metavar": "RANGE",
                                "help": "the rendered key frames, e.g. 1001-1099x2 (default: the frames on disk; "
                                        "give it on farms, so a chunk does not depend on what has been rendered so "
                                        "far)"}),
        CliOption(("--guides",), {"metavar": "PATTERN",
                                  "help": "guide renders of the frames to make (guides.####.exr; one file for a "
                                          "single frame): cheap renders with Denoising Data and the Vector pass; "
                                          "a model that reads them runs (inbetween_guided); the key frames need "
                                          "Denoising Data too"}),
    ),
    examples="""
The input holds key frames rendered every Nth frame; inbetween writes the frames between them, each from
the key frames on either side (with their Vector passes when the render has them). Key frames outside a
chunk's --frames are read too, so chunks are independent. With --guides each frame made also reads its own
guide render (a few samples, Denoising Data and the Vector pass): the guided model moves both keys along it.

examples:
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2 --frames 1011-1020
      (one chunk: writes 1012, 1014, ... 1020 from 1011 ... 1021)
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr     (keys: the frames on disk)
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2 --guides g.####.exr
      (each frame made, 1002, 1004, ... 1098, also from its guide render g.1002.exr, ...)
""",
    api=(inbetween, inbetween_file),
    on_render="skipped_frames",
    acts_on="sequence",
    ui_options=(UiOption("factor", "int", "Factor", "Output frames per input frame: 2 doubles the frame rate",
                         default=2, min=2, max=8),),
    description="Make an image sequence's in-between frames: write the sequence with factor-1 new frames after "
                "each frame into a folder beside it, and load that as a new image sequence",
    operator_label="Inbetween Sequence",
    result="x{factor}",
    activity="Inbetween x{factor}",
))
