"""Postpass add-on package.

``addon.runtime`` is the bpy-free inference core (farms and scripts import it without Blender); the Blender
layer registers only when Blender calls ``register()``, so importing this package never needs ``bpy``.

Blender layer, one module per concern: ``preferences`` (provider, tiles, threads, models folder),
``properties`` (per-scene settings), ``operators`` (``bpy.ops.postpass.*``), ``gui`` (panels), ``handlers``
(denoise / up-res / inbetween on render), ``images`` (bpy images <-> arrays). bpy-free helpers: ``worker``
(the background thread), ``tasks`` (what the jobs run), ``model_picker`` (user and shipped model folders).
"""

_registered = {}


def run_cli_command(argv: list[str]) -> int:
    """``blender -b -c postpass ...``: the farm command line inside Blender (imported only when run)."""
    from .cli import main

    return main(argv)


def register():
    import bpy

    from . import gui, handlers, operators, preferences, properties

    for module in (preferences, properties, operators, gui):
        for cls in module.classes:
            bpy.utils.register_class(cls)
    properties.register()
    handlers.register()
    _registered["cli"] = bpy.utils.register_cli_command("postpass", run_cli_command)


def unregister():
    import bpy

    from . import gui, handlers, operators, preferences, properties

    bpy.utils.unregister_cli_command(_registered.pop("cli"))
    handlers.unregister()
    operators.unregister()
    properties.unregister()
    for module in (gui, operators, properties, preferences):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
