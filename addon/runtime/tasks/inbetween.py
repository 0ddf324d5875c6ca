"""Inbetween: the frame at time t between two rendered frames, from the renderer's Vector passes when present
(else the runtime estimates the motion)."""
from __future__ import annotations

import numpy as np

from ..api import PathLike, run, run_files
from ..contract import ModelError
from ..engine import InferenceResult
from . import CliOption, TaskSpec, UiOption, frame_range, register


def inbetween(frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5,
              vectors: tuple[np.ndarray, np.ndarray] | None = None, *, depth0: np.ndarray | None = None,
              depth1: np.ndarray | None = None, exposure: float | None = None, key_steps: float = 2,
              **options) -> np.ndarray:
    """The frame at time ``t`` between ``frame0`` (t=0) and ``frame1`` (t=1).

    ``vectors``: the Blender Vector passes (4 channels, pixels) of both frames; with them a model uses the
    renderer's exact motion. ``key_steps``: how many frame steps apart the two frames are (2: rendered every
    other frame; 4 for every 4th, with t = 1/4, 2/4, 3/4 between): a Vector pass holds one step's motion.
    ``depth0`` / ``depth1``: the Denoising Depth passes (H x W or H x W x 1, distance from the camera) of
    ``frame0`` and ``frame1``; with vectors, the vector-guided model (``inbetween_vectors``) weighs the pixels
    that land on the same spot by them, nearer ones winning (as ``inbetween_file`` and ``postpass inbetween``
    do from the EXR passes). Give both or neither; without them that model weighs such pixels alike. The
    image-only model takes no depth (passing it raises :class:`ModelError`).
    """
    if (depth0 is None) != (depth1 is None):
        raise ModelError("inbetween: give depth0 and depth1 together (the Denoising Depth of both frames)")
    vector0, vector1 = vectors if vectors is not None else (None, None)
    return run("inbetween", {"frame0": frame0, "frame1": frame1, "t": t, "vectors0": vector0,
                             "vectors1": vector1, "depth0": depth0, "depth1": depth1, "exposure": exposure},
               key_steps=key_steps, **options).image


def inbetween_file(src0: PathLike, src1: PathLike, dst: PathLike, t: float = 0.5, *, key_steps: float = 2,
                   **options) -> InferenceResult:
    """Write the frame at ``t`` between two render files ``key_steps`` frame steps apart; their Vector passes
    are used when present."""
    return run_files("inbetween", [src0, src1], dst, inputs={"t": t}, key_steps=key_steps, **options)


SPEC = register(TaskSpec(
    name="inbetween",
    summary="make the frames between key frames rendered every Nth frame",
    label="Inbetween",
    icon="SEQUENCE",
    main_input="frame0",
    layout="key_pair",  # its jobs' inputs hold t and key_steps: the frame's place between its keys
    order=40,
    cli_options=(
        CliOption(("--keys",), {"type": frame_range, "metavar": "RANGE",
                                "help": "the rendered key frames, e.g. 1001-1099x2 (default: the frames on disk; "
                                        "give it on farms, so a chunk does not depend on what has been rendered so "
                                        "far)"}),
    ),
    examples="""
The input holds key frames rendered every Nth frame; inbetween writes the frames between them, each from
the key frames on either side (with their Vector passes when the render has them). Key frames outside a
chunk's --frames are read too, so chunks are independent.

examples:
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2 --frames 1011-1020
      (one chunk: writes 1012, 1014, ... 1020 from 1011 ... 1021)
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr     (keys: the frames on disk)
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
