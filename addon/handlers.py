"""Tasks on render (denoise, up-res, inbetween: every task with an ``on_render`` role in the registry):
render handlers that process each frame the render writes.

``render_write`` runs right after Blender writes a frame: in the render thread when rendering from the UI
(the UI stays live; the render job simply includes the post-process, and Esc on the render stops it after
the current frame), in the main thread in background mode (``blender -b -a``, farms), where processing inside
the handler is what keeps Blender from exiting before the frame is done. The handler reads the settings,
plans the frame with plain data and runs :func:`jobs.process_frame`, which never touches ``bpy``: the tasks
that process a frame (``on_render="frame"``), in registry order, then the one that makes the frames a frame
step skipped (``"skipped_frames"``).

Temporal denoising (a task whose temporal switch is on, ``properties.temporal_values``: denoise with its
"Temporal (animations)" setting) reads frames f - 1 and f + 1 beside frame f, so an animation's frame f cannot
be processed when it is written: it is processed when frame f + 1 is (with frame f - 1 when this render job
rendered it), and the last frame when the render completes or is cancelled (``render_complete`` /
``render_cancel``, in the render thread from the UI and the main thread in background mode, like
``render_write``), its next neighbour absent (:class:`jobs.FrameWindows`). The neighbours are the untouched
renders: a frame's written file until it is processed, then ``original/`` (replace mode) or the written file
(beside mode); nothing is copied. Whether a render job runs temporally is decided at its first written frame,
once, with one message saying why not (frame step above 1, motion blur on, a file without the Vector pass or
Denoising Data, no temporal model, a per-frame model named): then every frame is processed alone, as written.
A still (``write_still``, a one-frame frame range, or a frame with no neighbour rendered in its job, such as
``-f N``) is processed alone, by the per-frame model (the same as a temporal model with both neighbours
absent, and the model its Model field names when that is a per-frame one).

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
from .runtime import Registry
from .runtime.api import check_window_passes, forget_frames, window_models
from .runtime.imageio import pass_names
from .worker import EXPECTED_ERRORS

#: Messages for the main thread: ("report", level, text) or ("render_result", task, "").
_MESSAGES: queue.SimpleQueue = queue.SimpleQueue()
_POLL_SECONDS = 0.5
#: The current render job: whether it wrote a frame file; whether it was decided if its frames are processed
#: with their neighbours (at its first animation frame), and if so the frames waiting for theirs.
_job: dict = {"wrote": False, "decided": False, "windows": None}


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


def plan_frame(scene: bpy.types.Scene, written: str, animation: bool, window: int = 0) -> jobs.FramePlan:
    """The work for one written frame, from the scene settings and the preferences (raises ModelError).

    ``window`` r > 0: the first task that processes the frame reads frames f - r .. f + r (its temporal
    model; the neighbours are filled in by :class:`jobs.FrameWindows`); 0: every task reads the frame alone."""
    settings = scene.postpass
    prefs = preferences.get(bpy.context)

    def step(spec, values, between=(), window=0) -> jobs.Step:
        model = getattr(settings, properties.model_setting(spec))
        if properties.temporal_layout(spec) is not None:  # a named temporal model leaves stills to AUTO
            model = properties.run_model(spec.name, model, prefs.folders(), window)
        return jobs.Step(spec.name, prefs.run_options(spec.name, model, settings.precision, window), values,
                         between, window)

    enabled = [(spec, values) for spec in properties.on_render_specs()
               if (values := properties.render_values(settings, spec)) is not None]
    steps = [step(spec, values, window=window if i == 0 else 0)
             for i, (spec, values) in enumerate((s, v) for s, v in enabled if s.on_render == "frame")]
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
    return jobs.FramePlan(written, output, original, images.render_layer(scene), tuple(steps), key_steps=frame_step,
                          frame=scene.frame_current)


def temporal_window(scene: bpy.types.Scene, written: str) -> tuple[int, str | None]:
    """Whether an animation render's frames are processed with their neighbours, decided at its first written
    frame ``written``: (r, None) for windows of frames f - r .. f + r; (0, None) when the scene does not ask for
    it; (0, why not, one line) when it asks but cannot (each frame is then processed alone)."""
    settings = scene.postpass
    enabled = [spec for spec in properties.on_render_specs("frame")
               if properties.render_values(settings, spec) is not None]
    layout = properties.temporal_values(settings, enabled[0]) if enabled else None
    if layout is None:
        return 0, None
    spec, r = enabled[0], layout.window
    chosen = getattr(settings, properties.model_setting(spec))
    prefs = preferences.get(bpy.context)
    layer = images.render_layer(scene)
    try:
        model = properties.run_model(spec.name, chosen, prefs.folders(), r)
        if model is None:
            return 0, f"model {chosen} {spec.label.lower()}s each frame alone (choose AUTO or a temporal model)"
        if scene.frame_step != 1:
            return 0, (f"Frame Step is {scene.frame_step}: the frames beside a frame must be rendered too "
                       "(Frame Step 1)")
        if scene.render.use_motion_blur:
            return 0, ("motion blur is on, and Cycles writes no Vector pass with it (turn off Render > Motion "
                       "Blur)")
        options = prefs.run_options(spec.name, model, settings.precision, r)
        models = window_models(Registry(options.models_dir), spec.name, r, options.model,
                               precision=options.precision)
        check_window_passes(models, written, pass_names(written, layer), layer)
    except EXPECTED_ERRORS as exc:
        return 0, str(exc).splitlines()[0]
    return r, None


def still_tasks(settings) -> list[str]:
    """The enabled on-render tasks an F12 still (no file written) gets from its Render Result: those that
    process a frame at its size (a switch, not a ``render_scale`` choice)."""
    return [spec.name for spec in properties.on_render_specs("frame")
            if not spec.render_scale and properties.render_values(settings, spec) is not None]


def _run(plan: jobs.FramePlan) -> None:
    """Process one frame as planned; the outcome is a message."""
    try:
        files = jobs.process_frame(plan)
    except EXPECTED_ERRORS as exc:
        _message("ERROR", f"frame {plan.frame}: {str(exc).splitlines()[0]}")
        return
    provider = jobs.LAST_RUN.get("provider", "")
    neighbours = [os.path.basename(f) for f in (*plan.before, *plan.after) if f]
    how = f"with {', '.join(neighbours)}; " if neighbours else ""
    _message("INFO", f"frame {plan.frame}: wrote {', '.join(map(os.path.basename, files))} ({how}{provider})")


def _start_windows(scene: bpy.types.Scene, written: str) -> jobs.FrameWindows | None:
    """At an animation render's first written frame: its frame windows, or None (each frame alone; a message
    says why when the scene asked for temporal processing)."""
    if scene.frame_start == scene.frame_end:  # a one-frame render: a still
        return None
    r, why = temporal_window(scene, written)
    if why:
        _message("WARNING", f"temporal denoising is off for this render: {why}; each frame is denoised alone")
    if not r:
        return None
    _message("INFO", f"frame {scene.frame_current}: rendered; temporal denoising writes each frame once the next "
                     f"one is rendered (the last one when the render ends)")
    return jobs.FrameWindows(r, scene.frame_step)


def _finish_windows() -> None:
    """The render job ended (completed, cancelled, or a new one starts): the frames still waiting for their
    next neighbour are processed without it."""
    windows, _job["windows"], _job["decided"] = _job["windows"], None, False
    if windows is None:
        return
    try:
        for plan in windows.flush():
            _run(plan)
    finally:
        forget_frames()  # the frames the runtime kept decoded for the next window


@persistent
def on_render_init(scene, *_):
    _finish_windows()
    _job["wrote"] = False


@persistent
def on_render_write(scene, *_):
    _job["wrote"] = True
    if not _processing(scene.postpass):
        return
    written, animation = written_file(scene)
    frame = scene.frame_current
    if written is None:
        _message("ERROR", f"frame {frame}: cannot find the file the render wrote")
        return
    if animation and not _job["decided"]:
        _job["decided"] = True
        _job["windows"] = _start_windows(scene, written)
    windows = _job["windows"] if animation else None
    try:
        plan = plan_frame(scene, written, animation)
        windowed = plan_frame(scene, written, animation, windows.window) if windows is not None else None
    except EXPECTED_ERRORS as exc:
        _message("ERROR", f"frame {frame}: {str(exc).splitlines()[0]}")
        return
    if windows is None:
        _run(plan)
        return
    for ready in windows.add(frame, windowed, plan):
        _run(ready)


@persistent
def on_render_complete(scene, *_):
    _finish_windows()
    if _job["wrote"] or bpy.app.background:
        return
    for task in still_tasks(scene.postpass):
        _MESSAGES.put(("render_result", task, ""))


@persistent
def on_render_cancel(scene, *_):
    _finish_windows()


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
            (bpy.app.handlers.render_complete, on_render_complete),
            (bpy.app.handlers.render_cancel, on_render_cancel))


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
