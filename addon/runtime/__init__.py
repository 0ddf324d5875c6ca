"""Postpass's inference runtime: no bpy, no torch. Numpy in, numpy out; image and sequence IO; ONNX sessions.

The public API (see ``api.py`` for examples) is re-exported here::

    from addon.runtime import denoise, upres, colorize, inbetween, read_image, write_image

The task functions (``denoise``, ``denoise_file``, ...) are every registered task's (``addon.runtime.tasks``),
looked up by name, so a task added to the registry is importable from here with no edit to this file.
"""
from . import tasks
from .api import run, run_files
from .contract import ModelError
from .engine import DEFAULT_TILE, InferenceResult, Model, load_model
from .exr import ExrImage, ImageError, read_exr, update_exr, write_exr
from .imageio import read_image, write_image
from .registry import Registry

__all__ = [
    "DEFAULT_TILE", "ExrImage", "ImageError", "InferenceResult", "Model", "ModelError", "Registry", "load_model",
    "read_exr", "read_image", "run", "run_files", "update_exr", "write_exr", "write_image",
    *tasks.api_functions(),
]


def __getattr__(name: str):
    return tasks.api_function(name)
