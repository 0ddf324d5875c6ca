"""Postpass add-on package.

``addon.runtime`` is the bpy-free inference core (farms and scripts import it without Blender); the Blender
layer registers only when Blender calls ``register()``, so importing this package never needs ``bpy``.
"""


def register():
    pass


def unregister():
    pass
