"""Up-res x2 or x4: colour (an HDR render or an sRGB texture) in, a bigger image out; a render model is guided
by full-resolution albedo and normal (cheap to render) when given."""
from __future__ import annotations

import numpy as np

from ..api import PathLike, run, run_files
from ..engine import InferenceResult
from . import CliOption, TaskSpec, UiOption, register


def upres(image: np.ndarray, scale: int = 2, *, albedo: np.ndarray | None = None, normal: np.ndarray | None = None,
          exposure: float | None = None, **options) -> np.ndarray:
    """Up-res ``image`` ``scale`` times; ``albedo``/``normal`` at the output resolution guide render models."""
    return run("upres", {"image": image, "albedo": albedo, "normal": normal, "exposure": exposure},
               scale=scale, **options).image


def upres_file(src: PathLike, dst: PathLike, scale: int = 2, *, guide: PathLike | None = None,
               **options) -> InferenceResult:
    """Up-res an image file; ``guide``: a full-resolution EXR with Denoising Albedo/Normal (cheap to render)."""
    return run_files("upres", [src, guide], dst, scale=scale, **options)


SPEC = register(TaskSpec(
    name="upres",
    summary="up-res frames or textures x2 or x4",
    label="Up-res",
    icon="FULLSCREEN_ENTER",
    main_input="image",
    layout="frame+guides",
    order=20,
    cli_options=(
        CliOption(("--scale",), {"type": int, "choices": (2, 4), "default": 2, "help": "up-res factor (default: 2)"},
                  to="run"),
        CliOption(("--guide",), {"metavar": "PATTERN",
                                 "help": "full-resolution renders with Denoising Albedo/Normal that guide the up-res "
                                         "(a pattern, or one file for every frame)"}),
    ),
    examples="""
examples:
  postpass upres half/beauty.####.exr -o full/beauty.####.exr --scale 2
  postpass upres half/beauty.####.exr -o full/beauty.####.exr --scale 2 --guide gbuffer/aux.####.exr
      (--guide: full-resolution renders holding Denoising Albedo and Normal, cheap to render)
  postpass upres textures/wood.png -o textures/wood_x4.png --scale 4
""",
    api=(upres, upres_file),
    on_render="frame",
    ui_options=(UiOption("scale", "choice", "Scale", "Output size / input size (2 or 4)", default=2, choices=(2, 4)),),
    description="Up-res the image x2 or x4 with a Postpass network",
    result="x{scale}",
    activity="Up-res x{scale}",
    render_scale="scale",
))
