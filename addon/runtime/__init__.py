"""Postpass's inference runtime: no bpy, no torch. Numpy in, numpy out; image and sequence IO; ONNX sessions.

The public API (see ``api.py`` for examples) is re-exported here::

    from addon.runtime import denoise, upres, colorize, inbetween, read_image, write_image
"""
from .api import (colorize, colorize_file, denoise, denoise_file, inbetween, inbetween_file, run, run_files, upres,
                  upres_file)
from .contract import ModelError
from .engine import DEFAULT_TILE, InferenceResult, Model, load_model
from .exr import ExrImage, ImageError, read_exr, update_exr, write_exr
from .imageio import read_image, write_image
from .registry import Registry

__all__ = [
    "DEFAULT_TILE", "ExrImage", "ImageError", "InferenceResult", "Model", "ModelError", "Registry", "colorize",
    "colorize_file", "denoise", "denoise_file", "inbetween", "inbetween_file", "load_model", "read_exr",
    "read_image", "run", "run_files", "update_exr", "upres", "upres_file", "write_exr", "write_image",
]
