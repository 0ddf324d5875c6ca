"""Render presets of each task, one file per task, registered in ``ml_core.render.PRESETS`` by name.

``ml_core.render`` imports every module here (``import_submodules``), so a new task's ``presets/<task>.py``
adds its presets without editing a list. These modules import nothing but ``ml_core.render``: rendering runs in
processes with Blender's bundled libraries, which must not load torch or OpenEXR (the torch datasets do), so a
task's presets live here rather than beside its dataset class.
"""
