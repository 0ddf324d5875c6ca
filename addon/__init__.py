"""Postpass add-on package.

``addon.runtime`` is the bpy-free inference core (farms and scripts import it without Blender); the Blender
layer registers only when Blender calls ``register()``, so importing this package never needs ``bpy``.

Blender layer, one module per concern: ``preferences`` (provider, tiles, threads, models folder),
``properties`` (per-scene settings), ``operators`` (``bpy.ops.postpass.*``), ``gui`` (panels), ``handlers``
(tasks on render), ``images`` (bpy images <-> arrays). bpy-free helpers: ``worker`` (the background thread),
``jobs`` (what the jobs run), ``model_picker`` (user and shipped model folders).

Settings, operators and panels are generated from the task registry (``addon.runtime.tasks``) when
``register()`` runs, for the tasks registered then: a task added to the registry before the add-on registers
(a module of ``addon/runtime/tasks/``, or a studio plug-in's ``tasks.register``) gets its
``bpy.ops.postpass.<task>`` operator, its ``scene.postpass`` settings and its panel sections with no edit here.
"""

_registered = {}


def run_cli_command(argv: list[str]) -> int:
    """``blender -b -c postpass ...``: the farm command line inside Blender (imported only when run)."""
    from .cli import main

    return main(argv)


def register():
    import bpy

    from . import gui, handlers, operators, preferences, properties

    classes = preferences.classes + properties.build() + operators.build() + gui.classes
    for cls in classes:
        bpy.utils.register_class(cls)
    _registered["classes"] = classes
    properties.register()
    handlers.register()
    _registered["cli"] = bpy.utils.register_cli_command("postpass", run_cli_command)


def unregister():
    import bpy

    from . import handlers, operators, properties

    bpy.utils.unregister_cli_command(_registered.pop("cli"))
    handlers.unregister()
    operators.unregister()
    properties.unregister()
    for cls in reversed(_registered.pop("classes")):
        bpy.utils.unregister_class(cls)
