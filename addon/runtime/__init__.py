"""Postpass's inference runtime: no bpy, no torch. Numpy in, numpy out; image and sequence IO; ONNX sessions."""
