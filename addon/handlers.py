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
"Temporal (animations)" setting) reads frames f - r .. f + r beside frame f (denoise: r = 2), so an animation's
frame f cannot be processed when it is written: it is processed when frame f + r is (with the frames before it
that this render job rendered), and the last frames when the render completes or is cancelled
(``render_complete`` / ``render_cancel``, in the render thread from the UI and the main thread in background
mode, like ``render_write``), their later neighbours absent (:class:`jobs.FrameWindows`). The neighbours are the untouched
renders: a frame's written file until it is processed, then ``original/`` (replace mode) or the written file
(beside mode); nothing is copied. Whether a render job runs temporally is decided at its first written frame,
once, with one message saying why not (frame step above 1, motion blur on, a file without the Vector pass or
Denoising Data, no temporal model, a per-frame model named): then every frame is processed alone, as written.
A still (``write_still``, a one-frame frame range, or a frame with no neighbour rendered in its job, such as
``-f N``) is processed alone, by the per-frame model (the same as a temporal model with both neighbours
absent, and the model its Model field names when that is a per-frame one).

Guide passes for skipped frames (issue 28; a skipped-frames task with its guide switch on,
``properties.guides_values``): whether a render job's skipped frames wait for guide renders is decided at its
first written frame, once (:func:`guides_plan`; one message saying why not: no guided model, not Cycles, key
frames without the passes the guided model reads, up-res on render). If they do, each key frame is processed as
written but its skipped frames are kept (``jobs.skipped_frames``) until the render completes: then
``operators.guided_inbetween`` saves a copy of the file as rendered, renders their guides in a background
process into ``guides/`` beside the frames and makes them with the guided model (in background mode before the
handler returns; from the UI the main-thread timer starts it and polls it, so the UI stays live). A failed guide
render makes them from their key frames alone with one warning; a cancelled render makes them so at once.

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

from . import images, jobs, operators, preferences, properties
from .runtime import Registry
from .runtime.api import check_window_passes, forget_frames, prepared_pass_names, window_models
from .runtime.imageio import pass_names
from .worker import EXPECTED_ERRORS

#: Messages for the main thread: ("report", level, text) or ("render_result", task, "").
_MESSAGES: queue.SimpleQueue = queue.SimpleQueue()
_POLL_SECONDS = 0.5
#: The current render job: whether it wrote a frame file; whether it was decided if its frames are processed
#: with their neighbours (at its first animation frame), and if so the frames waiting for theirs.
_job: dict = {"wrote": False, "decided": False, "windows": None, "guides": None, "skipped": []}
#: Skipped frames waiting for the main thread to start their guide render (UI renders): (scene name, samples,
#: [jobs.SkippedFrames]).
_GUIDED: list = []


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
        check_window_passes(models, written, prepared_pass_names(spec.name, written, layer), layer)
    except EXPECTED_ERRORS as exc:
        return 0, str(exc).splitlines()[0]
    return r, None


def guides_plan(scene: bpy.types.Scene, written: str | None = None) -> tuple[int | None, str | None]:
    """Whether an animation render's skipped frames are made with their guide renders, decided at its first
    written frame ``written``: (samples, None) when they are; (None, None) when the scene does not ask for it
    (no skipped frames, or the switch off); (None, why not, one line) when it asks but cannot (no guided model,
    not Cycles, key frames without the passes the guided model reads): then they are made as before."""
    settings = scene.postpass
    for spec in properties.on_render_specs("skipped_frames"):
        samples = properties.guides_values(settings, spec)
        if samples is None or scene.frame_step < 2:
            return None, None
        chosen = getattr(settings, properties.model_setting(spec))
        try:
            entry = properties.guided_model(spec.name, chosen, preferences.get(bpy.context).folders())
        except EXPECTED_ERRORS as exc:
            return None, str(exc).splitlines()[0]
        if entry is None:
            return None, (f"no guided {spec.label.lower()} model is installed" if chosen == "AUTO" else
                          f"model {chosen} reads no guide passes (choose AUTO or a guided model)")
        if scene.render.engine != "CYCLES":
            return None, f"guide renders need Cycles (the scene renders with {scene.render.engine})"
        resizing = properties.resizing_task(settings)
        if resizing is not None:
            return None, (f"{resizing.label} on Render writes the key frames at another size, without the passes "
                          "the guided model reads")
        if written is not None:
            layer = images.render_layer(scene)
            keys, _ = jobs.guide_passes(entry.contract)
            try:
                missing = sorted(keys - pass_names(written, layer))
            except EXPECTED_ERRORS as exc:
                return None, str(exc).splitlines()[0]
            if missing:
                return None, (f"the key frames have no {', '.join(missing)} (turn on Denoising Data in View "
                              "Layer > Passes, and write OpenEXR MultiLayer)")
        return samples, None
    return None, None


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
    later = "next one is" if r == 1 else f"{r} after it are"
    _message("INFO", f"frame {scene.frame_current}: rendered; temporal denoising writes each frame once the {later} "
                     f"rendered (the last ones when the render ends)")
    return jobs.FrameWindows(r, scene.frame_step)


def _start_guides(scene: bpy.types.Scene, written: str) -> int | None:
    """At an animation render's first written frame: the guide renders' samples when its skipped frames wait for
    them (made when the render ends), else None (a message says why when the scene asked for guides)."""
    if scene.frame_start == scene.frame_end:
        return None
    samples, why = guides_plan(scene, written)
    if why:
        _message("WARNING", f"guide passes are off for this render: {why}; skipped frames are made from their key "
                            "frames alone")
    elif samples is not None:
        _message("INFO", f"frame {scene.frame_current}: rendered; the skipped frames are made when the render ends, "
                         f"with their guide renders ({samples} spp, in {jobs.GUIDES_FOLDER}/)")
    return samples


def _finish_skipped(scene: bpy.types.Scene, cancelled: bool = False) -> None:
    """The render job ended: its skipped frames waiting for guides get them (a guide render in the background,
    then the guided model), or, cancelled, are made from their key frames alone."""
    skipped, samples = _job["skipped"], _job["guides"]
    _job["skipped"], _job["guides"] = [], None
    if not skipped:
        return
    if cancelled:
        _message("WARNING", "render cancelled: its skipped frames are made from their key frames alone (no guide "
                            "render)")
        operators.make_skipped_now(skipped, {}, _message)
    elif bpy.app.background:  # farms and scripts: here and now, the render's caller waits
        operators.guided_inbetween(scene, samples, skipped, _message).wait()
    else:  # the UI: the main thread saves the shot's copy and starts the guide render (a render thread may not)
        _GUIDED.append((scene.name, samples, skipped))
        _MESSAGES.put(("guides", "", ""))


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
    _job.update(wrote=False, guides=None, skipped=[])


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
        _job["guides"] = _start_guides(scene, written)
    windows = _job["windows"] if animation else None
    try:
        plan = plan_frame(scene, written, animation)
        windowed = plan_frame(scene, written, animation, windows.window) if windows is not None else None
    except EXPECTED_ERRORS as exc:
        _message("ERROR", f"frame {frame}: {str(exc).splitlines()[0]}")
        return
    if windows is None:
        if animation and _job["guides"] is not None:  # its skipped frames wait for their guide renders
            plan, later = jobs.skipped_frames(plan)
            if later is not None:
                _job["skipped"].append(later)
        if plan.steps:
            _run(plan)
        return
    for ready in windows.add(frame, windowed, plan):
        _run(ready)


@persistent
def on_render_complete(scene, *_):
    _finish_windows()
    _finish_skipped(scene)
    if _job["wrote"] or bpy.app.background:
        return
    for task in still_tasks(scene.postpass):
        _MESSAGES.put(("render_result", task, ""))


@persistent
def on_render_cancel(scene, *_):
    _finish_windows()
    _finish_skipped(scene, cancelled=True)


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
            elif kind == "guides":
                while _GUIDED:
                    name, samples, skipped = _GUIDED.pop(0)
                    scene = bpy.data.scenes.get(name) or bpy.context.scene
                    operators.guided_inbetween(scene, samples, skipped, _message)
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
