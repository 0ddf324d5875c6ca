"""Blender image datablocks <-> the runtime's arrays (float32 H x W x C, linear, top-down rows).

Blender stores ``Image.pixels`` bottom-up, so every conversion flips rows. Float buffers hold scene-linear
values; 8-bit buffers hold their colour space's encoded values, so sRGB ones are decoded here and encoded back
when a result replaces them. Neither the Render Result nor a multilayer EXR has readable pixels: the Render
Result is saved as a multilayer EXR (every pass, linear), and both are read by the runtime like any render
file, passes included (a packed multilayer EXR from its packed bytes). Any other image, packed or on disk,
8-bit or float, is read as pixels, alpha included; :func:`source_range` tells the runtime whether they are
display-referred (an 8-bit or 16-bit image: ``ldr``) or scene-linear (``hdr``).
"""
from __future__ import annotations

import os

import bpy
import numpy as np

from .runtime import ImageError
from .runtime.color import srgb_decode, srgb_encode

RENDER_RESULT = "RENDER_RESULT"
MULTILAYER = "MULTILAYER"
#: File formats that hold display-referred integers only: an image read from one is LDR even where Blender keeps
#: it in a float buffer (a 16-bit PNG).
LDR_FORMATS = frozenset({"PNG", "JPEG", "BMP", "TARGA", "TARGA_RAW", "IRIS", "JPEG2000", "WEBP"})


def find_image(name: str, context) -> bpy.types.Image:
    """The image named ``name``, or (name empty) the one shown in the Image Editor the operator runs in."""
    if name:
        image = bpy.data.images.get(name)
        if image is None:
            raise ImageError(name, "no such image in this file")
        return image
    image = getattr(context.space_data, "image", None) if context.space_data else None
    if image is None:
        raise ImageError("image", "none given: open one in the Image Editor or pass image='Name'")
    return image


def _is_srgb_bytes(image: bpy.types.Image) -> bool:
    return not image.is_float and image.colorspace_settings.name == "sRGB"


def image_source(image: bpy.types.Image, scene: bpy.types.Scene, folder: str) -> str | np.ndarray:
    """What the runtime reads for ``image``: a render file with every pass (the Render Result, saved into
    ``folder``, or a multilayer EXR's own file, or its packed bytes written into ``folder``), else the pixels
    as an array."""
    image.size  # noqa: B018 - loads a file image, which is what sets its type (IMAGE or MULTILAYER)
    if image.type == RENDER_RESULT:
        return _save_render_result(image, scene, os.path.join(folder, "render_result.exr"))
    if image.type == MULTILAYER:  # Blender holds no pixels for these: the runtime reads the file itself
        if image.packed_file is not None:
            path = os.path.join(folder, "packed.exr")
            with open(path, "wb") as f:
                f.write(image.packed_file.data)
            return path
        return bpy.path.abspath(image.filepath, library=image.library)
    return read_pixels(image)


def is_render(image: bpy.types.Image) -> bool:
    """Whether ``image`` is a render with passes: the Render Result or a multilayer EXR."""
    return image.type in (RENDER_RESULT, MULTILAYER)


def source_range(image: bpy.types.Image) -> str:
    """``"ldr"`` for display-referred pixels (a byte image, or one read from an integer-only format such as a
    16-bit PNG), else ``"hdr"`` (renders, EXRs, float images): the runtime prefers a model for that range and
    clips an ``ldr`` result to [0, 1]."""
    if is_render(image):
        return "hdr"
    if not image.is_float or (image.source in ("FILE", "SEQUENCE") and image.file_format in LDR_FORMATS):
        return "ldr"
    return "hdr"


def read_pixels(image: bpy.types.Image) -> np.ndarray:
    """The pixels as H x W x C float32, linear, top-down (C as Blender holds it: usually 4, RGBA)."""
    width, height = image.size
    if image.type in (RENDER_RESULT, MULTILAYER) or width == 0 or height == 0:
        where = bpy.path.abspath(image.filepath, library=image.library) if image.filepath else "no file"
        raise ImageError(image.name, f"has no pixels ({where}: missing, unreadable or a multilayer render)")
    channels = image.channels
    flat = np.empty(width * height * channels, np.float32)
    image.pixels.foreach_get(flat)
    pixels = np.ascontiguousarray(flat.reshape(height, width, channels)[::-1])
    if _is_srgb_bytes(image):
        colour = min(channels, 3)
        pixels[..., :colour] = srgb_decode(pixels[..., :colour])
    return pixels


def render_layer(scene: bpy.types.Scene) -> str:
    """The view layer whose passes the runtime reads from a render file: the scene's first rendered one."""
    return next((layer.name for layer in scene.view_layers if layer.use), "ViewLayer")


def _rgba(array: np.ndarray) -> np.ndarray:
    """H x W x 4: grey is repeated, a missing alpha is opaque."""
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 3:
        array = np.concatenate([array, np.ones(array.shape[:2] + (1,), np.float32)], axis=2)
    return array


def _store(image: bpy.types.Image, rgba: np.ndarray) -> None:
    if _is_srgb_bytes(image):
        rgba = rgba.copy()
        rgba[..., :3] = srgb_encode(rgba[..., :3])
    # Blender's pixel buffer has image.channels components per pixel; results are RGBA.
    data = rgba[::-1, :, :image.channels] if image.channels < 4 else rgba[::-1]
    image.pixels.foreach_set(np.ascontiguousarray(data, np.float32).ravel())
    image.update()


def new_image(name: str, array: np.ndarray) -> bpy.types.Image:
    """A new float (scene-linear) RGBA image datablock holding ``array`` (top-down)."""
    rgba = _rgba(array)
    height, width = rgba.shape[:2]
    image = bpy.data.images.new(name, width, height, alpha=True, float_buffer=True)
    _store(image, rgba)
    return image


def replace_pixels(image: bpy.types.Image, array: np.ndarray) -> None:
    """Write ``array`` into ``image`` in place, resizing it when the size differs (up-res)."""
    if image.type in (RENDER_RESULT, MULTILAYER):
        raise ImageError(image.name, "has no editable pixels (a Render Result or multilayer EXR): results from it "
                                     "become new images")
    rgba = _rgba(array)
    height, width = rgba.shape[:2]
    if tuple(image.size) != (width, height):
        image.scale(width, height)
    _store(image, rgba)


def _save_render_result(image: bpy.types.Image, scene: bpy.types.Scene, path: str) -> str:
    """Write the Render Result with every pass to ``path`` (multilayer EXR, 32-bit float, linear).

    Blender looks the render up by the scene given, so the scene that rendered lends its output settings for
    the moment of the save; they are restored right after."""
    fmt = scene.render.image_settings
    saved = [(name, getattr(fmt, name)) for name in ("media_type", "file_format", "color_depth", "exr_codec")]
    try:
        fmt.media_type, fmt.color_depth, fmt.exr_codec = "MULTI_LAYER_IMAGE", "32", "ZIP"
        image.save_render(path, scene=scene)
    except RuntimeError as exc:  # "does not have any image data": nothing rendered yet
        raise ImageError(image.name, f"cannot be saved ({str(exc).strip().splitlines()[0]}); render first") from None
    finally:
        for name, value in saved:
            setattr(fmt, name, value)
    return path
