"""Blender extension entry point (the repository root is the extension root): registers ``addon``."""
from . import addon


def register():
    addon.register()


def unregister():
    addon.unregister()
