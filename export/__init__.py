"""Export: a trained ``ml_core`` checkpoint -> a verified ONNX model published to a models folder.

``python -m export CHECKPOINT --out addon/models/`` or :func:`export_checkpoint`.
"""
from .onnx_export import OPSET, ExportError, ExportReport, export_checkpoint

__all__ = ["OPSET", "ExportError", "ExportReport", "export_checkpoint"]
