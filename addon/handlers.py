"""Tasks on render (denoise, up-res, inbetween: every task with an ``on_render`` role in the registry):
render handlers that process each frame the render writes.

``render_write`` runs right after Blender writes a frame: in the render thread when rendering from the UI
(the UI stays live; the render job simply includes the post-process, and Esc on the render stops it after
the current frame), in the main thread in background mode (``blender -b -a``, farms), where processing inside
the handler is what keeps Blender from exiting before the frame is done. The handler reads the settings,
plans the frame with plain data and runs :func:`jobs.process_frame`, which never touches ``bpy``: the tasks
that process a frame (``on_render="frame"``), in registry order, then the one that makes the frames a frame
step skipped (``"skipped_frames"``).

A still rendered from the UI without writing a file (F12) has no frame file: when the render completes, the
main-thread timer runs the operator of each enabled task that processes a frame at its size (a switch, not a
``render_scale``: denoise) on the Render Result instead (a new image, like the Image Editor button). Handler
messages cannot be Blender reports in the render thread, so they go to the console at once and the same timer
turns them into reports.
"""
from __future__ import annotations

import os
import queue
import sys

import bpy
from bpy.app.handlers import persistent

from . import images, jobs, preferences, properties
from .worker import EXPECTED_ERRORS

#: Messages for the main thread: ("report", level, text) or ("render_result", task, "").
_MESSAGES: queue.SimpleQueue = queue.SimpleQueue()
_POLL_SECONDS = 0.5
_job = {"wrote": False}  # whether the current render job wrote a frame file


def _message(level: str, text: str) -> None:
    print(f"Postpass: {text}", file=sys.stderr if level == "ERROR" else sys.stdout, flush=True)
    if not bpy.app.background:  # nothing polls in background mode: the console line is the report
        _MESSAGES.put(("report", level, text))


def _processing(settings) -> bool:
    return any(properties.render_values(settings, spec) is not None for spec in properties.on_render_specs())


def written_file(scene: bpy.types.Scene) -> tuple[str | None, bool]:
    """(the file the render just wrote, whether it is an animation frame).

    An animation frame is written to ``frame_path`` (# replaced by the frame), a still with ``write_still`` to
    the output path as typed; whichever of the two was written last is the one just written.
    """
    frame_file = scene.render.frame_path(frame=scene.frame_current)
    still_file = bpy.path.abspath(scene.render.filepath)
    if scene.render.use_file_extension and not still_file.lower().endswith(scene.render.file_extension.lower()):
        still_file += scene.render.file_extension
    existing = [f for f in (frame_file, still_file) if os.path.isfile(f)]
    if not existing:
        return None, False
    newest = max(existing, key=os.path.getmtime)
    return newest, newest == frame_file and frame_file != still_file


def plan_frame(scene: bpy.types.Scene, written: str, animation: bool) -> jobs.FramePlan:
    """The work for one written frame, from the scene settings and the preferences (raises ModelError)."""
    settings = scene.postpass
    prefs = preferences.get(bpy.context)

    def step(spec, values, between=()) -> jobs.Step:
        model = getattr(settings, properties.model_setting(spec))
        return jobs.Step(spec.name, prefs.run_options(spec.name, model, settings.precision), values, between)

    enabled = [(spec, values) for spec in properties.on_render_specs()
               if (values := properties.render_values(settings, spec)) is not None]
    steps = [step(spec, values) for spec, values in enabled if spec.on_render == "frame"]
    per_frame = bool(steps)
    replace = settings.output_mode == "REPLACE"
    output, original = jobs.frame_output(written, replace) if per_frame else (written, None)

    def processed(frame: int) -> str:
        """Where a frame's processed file goes (its render file itself when frames are not processed)."""
        path = scene.render.frame_path(frame=frame)
        return jobs.frame_output(path, replace)[0] if per_frame else path

    # The frames skipped since the previous rendered frame, once that one is done (the first frame has none),
    # made by the first enabled task that makes skipped frames.
    frame_step, previous = scene.frame_step, scene.frame_current - scene.frame_step
    skipping = [(spec, values) for spec, values in enabled if spec.on_render == "skipped_frames"]
    if (skipping and animation and frame_step > 1 and previous >= scene.frame_start
            and os.path.isfile(processed(previous))):
        between = tuple((processed(previous), k / frame_step, processed(previous + k)) for k in range(1, frame_step))
        steps.append(step(*skipping[0], between))
    return jobs.FramePlan(written, output, original, images.render_layer(scene), tuple(steps), key_steps=frame_step)


def still_tasks(settings) -> list[str]:
    """The enabled on-render tasks an F12 still (no file written) gets from its Render Result: those that
    process a frame at its size (a switch, not a ``render_scale`` choice)."""
    return [spec.name for spec in properties.on_render_specs("frame")
            if not spec.render_scale and properties.render_values(settings, spec) is not None]


@persistent
def on_render_init(scene, *_):
    _job["wrote"] = False


@persistent
def on_render_write(scene, *_):
    _job["wrote"] = True
    if not _processing(scene.postpass):
        return
    written, animation = written_file(scene)
    if written is None:
        _message("ERROR", f"frame {scene.frame_current}: cannot find the file the render wrote")
        return
    try:
        files = jobs.process_frame(plan_frame(scene, written, animation))
    except EXPECTED_ERRORS as exc:
        _message("ERROR", f"frame {scene.frame_current}: {str(exc).splitlines()[0]}")
        return
    provider = jobs.LAST_RUN.get("provider", "")
    _message("INFO", f"frame {scene.frame_current}: wrote {', '.join(map(os.path.basename, files))} ({provider})")


@persistent
def on_render_complete(scene, *_):
    if _job["wrote"] or bpy.app.background:
        return
    for task in still_tasks(scene.postpass):
        _MESSAGES.put(("render_result", task, ""))


def poll_messages() -> float:
    """Main-thread timer: render-thread messages become reports; an F12 still gets its on-render tasks."""
    while True:
        try:
            kind, first, second = _MESSAGES.get_nowait()
        except queue.Empty:
            return _POLL_SECONDS
        window = next(iter(bpy.context.window_manager.windows), None)
        if window is None:
            continue
        with bpy.context.temp_override(window=window):
            if kind == "report":
                bpy.ops.postpass.show_report(level=first, message=second)
            else:
                getattr(bpy.ops.postpass, first)("INVOKE_DEFAULT", image="Render Result")


HANDLERS = ((bpy.app.handlers.render_init, on_render_init), (bpy.app.handlers.render_write, on_render_write),
            (bpy.app.handlers.render_complete, on_render_complete))


def register():
    for handlers, function in HANDLERS:
        handlers.append(function)
    bpy.app.timers.register(poll_messages, first_interval=_POLL_SECONDS, persistent=True)


def unregister():
    for handlers, function in HANDLERS:
        while function in handlers:
            handlers.remove(function)
    if bpy.app.timers.is_registered(poll_messages):
        bpy.app.timers.unregister(poll_messages)
