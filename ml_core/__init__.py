"""Postpass's machine-learning core: procedural scenes -> Cycles renders -> datasets -> models -> training.

Data flows one way: ``scenes`` -> ``render`` -> ``data`` (dataset cache) -> ``datasets`` (torch) -> models/train.
This package may import ``bpy`` (it renders) and ``torch``; the add-on never imports it.
"""
