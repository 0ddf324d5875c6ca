"""Colorize: a grey image in, colour out, from optional sparse colour hints: a painted hint image (its alpha,
or a mask, marks the hints) or a list of points (``addon.runtime.hints``).

Without hints the network's colour goes through automatic colour (``addon.runtime.colorize_auto``): the tint
it gives a featureless grey image (its prior) is removed, and where no colour is left the result is the grey
image's colours, with a note (``InferenceResult.notes``; logged by :func:`colorize` and :func:`colorize_file`,
listed with its frames in the ``postpass colorize`` summary). With a hint the network's result is used as it is."""
from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from ..api import PathLike, run, run_files
from ..colorize_auto import automatic_colour, is_automatic, prior_tint
from ..engine import InferenceResult
from ..exr import ImageError
from ..hints import check_hint_points, hint_arrays, image_size, read_hint_points
from . import CliOption, TaskSpec, UiOption, register

log = logging.getLogger("postpass.colorize")


def colorize(gray: np.ndarray, hints: np.ndarray | None = None, mask: np.ndarray | None = None,
             **options) -> np.ndarray:
    """Colour a grey image (H x W, or RGB(A) whose luminance is used) from optional sparse colour ``hints``
    (H x W x 3, linear) where ``mask`` (H x W, 1 = hint given) says so. Without hints: automatic colour, the
    grey image's colours (and a warning on ``postpass.colorize``) where the model has no colour to place."""
    if hints is not None and mask is None:
        raise ImageError("input 'mask'", "needed with hints: H x W, 1 where a hint is given, 0 elsewhere")
    result = run("colorize", {"gray": gray, "hints": hints, "mask": mask}, **options)
    for note in result.notes:
        log.warning("colorize: %s", note)
    return result.image


def colorize_file(src: PathLike, dst: PathLike, *, hints: PathLike | None = None, mask: PathLike | None = None,
                  points: PathLike | list | None = None, **options) -> InferenceResult:
    """Colorize an image file. Hints, optional: ``hints``, an RGB(A) image whose painted pixels (alpha > 0, or
    ``mask`` > 0 where a mask image is given) are colour hints; or ``points``, a JSON points file or a list of
    ``{"x", "y", "rgb"[, "radius"]}`` (pixels from the top-left, sRGB 0..1; see ``hints.py``)."""
    extra, labels = hint_arrays(src, hints=hints, mask=mask, points=points, layer=options.get("layer", "ViewLayer"))
    if labels:
        options["labels"] = {**labels, **options.get("labels", {})}
    result = run_files("colorize", [src], dst, inputs=extra, **options)
    for note in result.notes:
        log.warning("%s: %s", src, note)
    return result


def finish(model, result: InferenceResult, inputs: dict) -> None:
    """Automatic colour (``addon.runtime.colorize_auto``) on ``model``'s result made without hints; a hinted
    result is left as the network made it."""
    if not is_automatic(inputs):
        return
    name = next(iter(result.outputs))
    result.outputs[name], note = automatic_colour(result.outputs[name], prior_tint(model))
    if note:
        result.notes.append(note)


def plan_jobs(jobs: list, options: dict) -> list:
    """Each job's hints in its ``side``: the hint image and mask of its frame (a pattern, or one file for
    every frame), or the points of the ``hint_points`` file, read once here; a point off the first frame, or a
    mask without hints, is a usage error, refused before anything runs."""
    from ..batch import BatchError, frame_file  # batch imports this registry: import it when planning

    hints, mask, points_file = options.get("hints"), options.get("mask"), options.get("hint_points")
    if mask is not None and hints is None and points_file is None:
        raise BatchError(f"{mask}: a hint mask needs hints (--hints) to go with it")
    if points_file is not None:
        if hints is not None or mask is not None:
            raise BatchError(f"{points_file}: give hints as an image (--hints, --mask) or as points, not both")
        points, points_file = read_hint_points(points_file), os.path.abspath(points_file)
        if jobs:
            check_hint_points(points, *image_size(jobs[0].sources[0]), points_file)
        return [dataclasses.replace(job, side=(("points", points), ("points_file", points_file))) for job in jobs]
    return [dataclasses.replace(job, side=tuple((name, path) for name, path in (
        ("hints", frame_file(hints, job.frame)), ("mask", frame_file(mask, job.frame))) if path is not None))
        for job in jobs]


def side_inputs(job, layer: str | None) -> tuple[dict, dict]:
    """The hint and mask arrays of a planned job (none without hints), and their labels."""
    side = dict(job.side)
    return hint_arrays(job.sources[0], hints=side.get("hints"), mask=side.get("mask"), points=side.get("points"),
                       points_label=side.get("points_file"), layer=layer)


def ui_inputs(options: dict) -> dict:
    """The Blender operator's hints: a painted RGBA image (``hints``) gives the colour where painted; painted
    means its ``mask`` > 0.5, or, without a mask, alpha > 0 (a fresh hint image is transparent, so only the
    strokes count). Both are H x W x C arrays or None."""
    hints, mask = options.get("hints"), options.get("mask")
    if hints is None:
        if mask is not None:
            raise ImageError("mask", "a hint mask needs a hint image to go with it")
        return {}
    if mask is not None:
        if mask.shape[:2] != hints.shape[:2]:
            raise ImageError("mask", f"is {mask.shape[1]}x{mask.shape[0]}; the hint image is "
                                     f"{hints.shape[1]}x{hints.shape[0]}")
        painted = mask[..., 0] > 0.5
    elif hints.shape[2] == 4:
        painted = hints[..., 3] > 0
    else:
        raise ImageError("hints", "has no alpha: paint on a transparent image or give a mask")
    return {"hints": np.ascontiguousarray(hints[..., :3]), "mask": painted.astype(np.float32)}


SPEC = register(TaskSpec(
    name="colorize",
    summary="colour grey images, optionally from painted hints",
    label="Colorize",
    icon="COLOR",
    main_input="gray",
    layout="frame",
    order=30,
    cli_options=(
        CliOption(("--hints",), {"metavar": "PATTERN",
                                 "help": "colour hints: an RGB(A) image whose painted pixels (alpha > 0) are hints "
                                         "(a pattern, or one file for every frame)"}),
        CliOption(("--mask",), {"metavar": "PATTERN",
                                "help": "a grey image, non-zero where --hints holds a hint (instead of its alpha)"}),
        CliOption(("--hint-points",), {"metavar": "JSON",
                                       "help": 'colour hints as a JSON list of points, [{"x": 10, "y": 20, "rgb": '
                                               '[1, 0, 0]}, ...] (pixels from the top-left; sRGB 0..1; optional '
                                               '"radius" in pixels), for every frame'}),
    ),
    plan_jobs=plan_jobs,
    side_inputs=side_inputs,
    finish=finish,
    examples="""
examples:
  postpass colorize scans/page.####.png -o colour/page.####.png
  postpass colorize bw.png -o colour.png --hints hints.png           (painted pixels, alpha > 0, are hints)
  postpass colorize bw.####.png -o colour.####.png --hints hints.####.png --mask mask.####.png
  postpass colorize bw.png -o colour.png --hint-points hints.json
      (hints.json: [{"x": 10, "y": 20, "rgb": [1, 0, 0]}, {"x": 64, "y": 40, "rgb": [0.2, 0.5, 0.9], "radius": 3}]
       pixel coordinates from the top-left, sRGB colours in 0..1, optional radius in pixels)
""",
    api=(colorize, colorize_file),
    ui_options=(
        UiOption("hints", "image", "Hints", "Image with painted colour hints (transparent elsewhere), the size of "
                                            "the image; empty: no hints", setting="hint_image", paint=True),
        UiOption("mask", "image", "Mask", "Optional image, white where the hint image holds a hint (default: the "
                                          "hint image's alpha)", setting="hint_mask"),
    ),
    description="Colorize the image from its luminance, guided by colour hints painted on a hint image",
    result="colorized",
    activity="Colorizing",
    ui_inputs=ui_inputs,
))
