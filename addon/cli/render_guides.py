"""``postpass render-guides SHOT.blend -o guides.####.exr --frames 2-98x2``: the guide renders of a shot's
skipped frames (issue 28), for the guided inbetweener (``postpass inbetween --guides``).

A guide render is the frame's Denoising Albedo, Normal, Depth and Vector passes at a few samples
(:mod:`addon.guide_render`). It needs Blender, and this command never imports ``bpy`` (it also runs as the plain
``postpass`` console command), so it checks what it can, then renders in a child process that has ``bpy``
(:func:`guide_python`): the Blender it runs in (``blender -b -c postpass render-guides``), else this Python when
it has the ``bpy`` module, else the training environment's (a Postpass clone's ``.venv``). The child opens the
.blend and refuses, before it renders anything, a file that does not open, a scene without a camera, one that
renders with EEVEE (its key frames have no Denoising Data to inbetween from), or an output that would overwrite
a file that is not a guide render: one line naming the file, exit 2. Then it renders the frames whose guide file
is not there yet (a rerun resumes; files are written atomically), one JSON event per frame on its stdout, which
this command prints as progress; at the end it says the seconds per frame.

The same child, started through :class:`GuideRun`, renders the guides of the Blender extension's "Guide passes
for skipped frames" in the background (its progress read from the events in a thread, cancelled cleanly).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

from ..guide_render import DEFAULT_SAMPLES
from ..runtime import trainer
from ..runtime.interrupts import interrupted
from ..runtime.sequence import SequenceError, format_frames, parse_pattern
from ..runtime.tasks import frame_range

COMMAND = "render-guides"
SUMMARY = "render the guide passes of skipped frames from a saved .blend (for guided inbetweening)"
EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The folder above the add-on package and the package's name (``addon`` in a clone; in an installed extension
#: the extension's folder and ``addon``): the child imports this module from there.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parents[1].name
#: How the child starts: this module's :func:`child_main` on the arguments after ``--``.
CHILD = (f"import sys, importlib; sys.path.insert(0, {str(PACKAGE_ROOT)!r}); "
         f"sys.exit(importlib.import_module({PACKAGE + '.cli.render_guides'!r}).child_main("
         "sys.argv[sys.argv.index('--') + 1:]))")

DESCRIPTION = f"""\
Render the guide passes (Denoising Albedo, Normal, Depth and Vector, at a few samples) of the frames listed,
from the saved .blend, one multilayer EXR per frame: what `postpass inbetween --guides` reads to make the frames
a render every Nth frame skipped far better than from the key frames alone. Frames whose guide file is already
there are skipped (rerun the same command to resume); files are written atomically; nothing else is overwritten.

Rendering needs Blender: inside it (blender -b -c postpass {COMMAND} ...) that Blender renders; the plain
postpass command uses this Python's bpy module, else the training environment's (${trainer.TRAINING_PYTHON_ENV},
else the .venv of the clone this command comes from). Exit codes: 0 done, 1 failed mid-way, 2 bad input (a
.blend that does not open, no camera, EEVEE; nothing rendered), 130 interrupted (rerun to resume).
"""
EXAMPLES = f"""
examples:
  postpass {COMMAND} shot.blend -o guides/guides.####.exr --frames 1002-1098x2
  postpass {COMMAND} shot.blend -o guides/guides.####.exr --frames 1002-1098x2 --samples 4
  blender -b -c postpass {COMMAND} shot.blend -o guides/guides.####.exr --frames 1002-1010x2
  postpass inbetween render/beauty.####.exr -o inb/beauty.####.exr --keys 1001-1099x2 \\
      --guides guides/guides.####.exr

--json: every stdout line is one JSON object: {{"event": "start", "frames", "todo"}}, {{"event": "frame", "frame",
"path", "seconds", "done", "total"}} per rendered frame, then {{"event": "done", "rendered", "skipped",
"seconds_per_frame"}} or {{"event": "error", "message", "exit_code"}}.
"""


class GuideRenderError(Exception):
    """Why the guide render cannot start, one line naming the file (exit code 2)."""


def whole_number_at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_parser(commands) -> argparse.ArgumentParser:
    """The ``render-guides`` subcommand of ``postpass`` (``commands``: its subparsers)."""
    sub = commands.add_parser(COMMAND, help=SUMMARY, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("shot", metavar="SHOT.blend", help="the saved shot (Cycles, with a camera)")
    sub.add_argument("-o", "--output", required=True, metavar="PATTERN",
                     help="the guide files: a pattern ending in .exr (guides.####.exr or guides.%%04d.exr)")
    sub.add_argument("--frames", required=True, type=frame_range, metavar="RANGE",
                     help="the frames to render guides of: 1002-1098x2, 1002, or a comma list")
    sub.add_argument("--samples", type=whole_number_at_least_one, default=DEFAULT_SAMPLES, metavar="N",
                     help=f"samples per pixel (default: {DEFAULT_SAMPLES}, what the guided model was trained on)")
    sub.add_argument("--scene", metavar="NAME", help="the scene to render (default: the file's active scene)")
    sub.add_argument("--json", action="store_true", help="progress and the result as JSON lines on stdout")
    sub.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sub.set_defaults(run=run, json_error=json_error)
    return sub


# ----------------------------------------------------------------------------------------------------------
# Checks before any child starts, and the child's command line
# ----------------------------------------------------------------------------------------------------------
def check_shot(shot: str | os.PathLike) -> Path:
    """The .blend, or :class:`GuideRenderError` naming it: missing, a folder, not a .blend, not a Blender file."""
    try:
        return trainer.check_shot(shot, "guides are rendered from a saved Blender file")
    except trainer.TrainerError as exc:
        raise GuideRenderError(str(exc)) from None


def check_pattern(output: str) -> str:
    """The output pattern with ``#`` for the frame number (``%04d`` accepted), or :class:`GuideRenderError`."""
    try:
        pattern = parse_pattern(output)
    except SequenceError as exc:
        raise GuideRenderError(str(exc)) from None
    if pattern is None:
        raise GuideRenderError(f"{output}: needs a frame number field (guides.####.exr), one file per frame")
    if pattern.suffix.lower() != ".exr" and not pattern.suffix.lower().endswith(".exr"):
        raise GuideRenderError(f"{output}: guide files are multilayer EXRs; end the pattern with .exr")
    if pattern.folder.exists() and not pattern.folder.is_dir():
        raise GuideRenderError(f"{output}: {pattern.folder} is a file, not a folder")
    return str(pattern)


def guide_python(environ: dict | None = None) -> tuple[list[str], dict]:
    """(the command that starts the child up to its arguments, its environment): Blender itself when this runs
    inside Blender, else this Python when it has ``bpy``, else the training environment's Python (which has
    it). Raises :class:`GuideRenderError` when there is none."""
    env = dict(os.environ if environ is None else environ)
    bpy = sys.modules.get("bpy")
    binary = getattr(getattr(bpy, "app", None), "binary_path", "") if bpy is not None else ""
    if binary:  # inside Blender: a background Blender of the same version, without the user's add-ons
        return [binary, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", CHILD, "--"], env
    if bpy is not None or importlib.util.find_spec("bpy") is not None:
        return [sys.executable, "-c", CHILD, "--"], env
    try:
        training = trainer.find_training_python(environ=env)
    except trainer.TrainerError:
        training = None
    if training is not None and training.python != sys.executable:
        return [training.python, "-c", CHILD, "--"], training.env(env)
    raise GuideRenderError(f"rendering guides needs Blender: run it as blender -b -c postpass {COMMAND} ..., or "
                           f"from a Python with the bpy module ({sys.executable} has none; "
                           f"{trainer.HOW_TO_POINT})")


def child_command(shot: str | os.PathLike, pattern: str, frames: list[int], *, samples: int = DEFAULT_SAMPLES,
                  scene: str | None = None, environ: dict | None = None) -> tuple[list[str], dict]:
    """(the child's full command line, its environment) rendering ``frames`` of ``shot`` to ``pattern``."""
    start, env = guide_python(environ)
    args = [str(Path(shot).absolute()), str(Path(pattern).absolute()), format_frames(frames), str(samples)]
    return start + args + ([scene] if scene else []), env


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """Check the inputs, then render in the child; its exit code."""
    try:
        shot = check_shot(args.shot)
        pattern = args.pattern = check_pattern(args.output)
        command, env = child_command(shot, pattern, args.frames, samples=args.samples, scene=args.scene)
    except GuideRenderError as exc:
        return _refuse(str(exc), args.json)
    say = (lambda line: None) if args.quiet or args.json else (lambda line: print(line, file=sys.stderr,
                                                                                   flush=True))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        guide_run = GuideRun(command, env, echo=False)
    except OSError as exc:
        return _refuse(f"{command[0]}: cannot run it ({exc.strerror or exc})", args.json)
    seen = 0
    with _forwarding(guide_run):
        while True:
            try:
                ended = guide_run.wait(0.2)
            except KeyboardInterrupt:
                guide_run.cancel(signal.SIGINT)
                continue
            for event in guide_run.events[seen:]:
                _show(event, args, say)
            seen = len(guide_run.events)
            if ended:
                break
    for event in guide_run.events[seen:]:
        _show(event, args, say)
    code = guide_run.returncode
    if code == EXIT_INTERRUPTED:
        print(f"postpass {COMMAND}: interrupted; rerun the same command to resume", file=sys.stderr)
    elif code != EXIT_DONE:
        message = guide_run.error or f"the guide render exited with code {code}"
        print(f"postpass {COMMAND}: error: {message}", file=sys.stderr)
        if args.json and not any(e.get("event") == "error" for e in guide_run.events):
            print(json.dumps({"event": "error", "message": message, "exit_code": code}), flush=True)
    return code


def _show(event: dict, args: argparse.Namespace, say) -> None:
    if args.json:
        print(json.dumps(event), flush=True)
    kind = event.get("event")
    if kind == "start":  # the child opened and checked the shot: what it renders
        frames = args.frames
        say(f"postpass {COMMAND}: {len(frames)} frame{'s' * (len(frames) != 1)} ({format_frames(frames)}) of "
            f"{args.shot} at {args.samples} spp -> {args.pattern}")
        if event.get("frames", 0) > event.get("todo", 0):
            skipped = event["frames"] - event["todo"]
            say(f"{skipped} guide file{'s' * (skipped != 1)} already there (skipped), {event['todo']} to render")
    elif kind == "frame":
        took = f" in {event['seconds']:.2f} s" if event.get("seconds") is not None else ""
        say(f"guide frame {event['frame']} ({event['done']} of {event['total']}): {event['path']}{took}")
    elif kind == "done":
        rendered, skipped = len(event.get("rendered") or ()), len(event.get("skipped") or ())
        if rendered:
            say(f"postpass {COMMAND}: {rendered} guide frame{'s' * (rendered != 1)} rendered"
                f"{f', {skipped} skipped (already there)' if skipped else ''}: "
                f"{event['seconds_per_frame']:.2f} s per frame")
        else:
            say(f"postpass {COMMAND}: nothing to render, all {skipped} guide files are there: 0 s per frame")


def json_error(message: str) -> dict:
    """The ``--json`` line of a guide render refused before it starts, in the format of the child's events."""
    return {"event": "error", "message": message, "exit_code": EXIT_USAGE}


def _refuse(message: str, as_json: bool) -> int:
    print(f"postpass {COMMAND}: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps(json_error(message)), flush=True)
    return EXIT_USAGE


@contextlib.contextmanager
def _forwarding(guide_run: "GuideRun"):
    """While the child runs: SIGTERM (how farm managers stop a task) is passed on to it once; Ctrl-C raises
    KeyboardInterrupt here, passed on by :func:`run`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: guide_run.cancel(signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------------------------------------
# The child process, from the parent's side
# ----------------------------------------------------------------------------------------------------------
class GuideRun(trainer.ChildRun):
    """The guide render child (:func:`child_command`): its JSON events, frames done, how it ended (see
    :class:`~addon.runtime.trainer.ChildRun`). :meth:`cancel` asks it to stop cleanly after the frame it renders
    (exit 130; what it rendered is kept, and a rerun resumes)."""

    what = "the guide render"

    def __init__(self, command: list[str], env: dict | None = None, *, echo=None):
        self.events: list[dict] = []
        self.total: int | None = None  # frames to render (the start event's)
        self.done_frames = 0
        self.result: dict | None = None  # the done event
        super().__init__(command, env, echo=echo)

    def on_event(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            self.total = int(event.get("todo") or 0)
        elif kind == "frame":
            self.done_frames = int(event.get("done") or 0)
        elif kind == "done":
            self.result = event
        self.events.append(event)

    def ended(self, code: int) -> int:
        return EXIT_FAILED if code == EXIT_DONE and self.result is None else code  # it said nothing of what it did

    def kill(self) -> None:
        """Stop it at once (a render frame cannot be interrupted cleanly: its temporary file may be left)."""
        self.cancelled = True
        if self.process.poll() is None:
            self.process.kill()

    @property
    def fraction(self) -> float:
        return self.done_frames / self.total if self.total else 0.0

    def status(self) -> str:
        if self.returncode is not None:
            return "Guide render done" if self.returncode == EXIT_DONE else \
                f"Guide render failed: {self.error}" if self.returncode != EXIT_INTERRUPTED else "Guide render stopped"
        if self.cancelled:
            return "Stopping the guide render"
        if self.total is None:
            return f"Guide render: starting ({trainer.format_seconds(self.elapsed)})"
        return f"Guide render: frame {min(self.done_frames + 1, self.total)} of {self.total}"


# ----------------------------------------------------------------------------------------------------------
# The child process, inside Blender (or a Python with bpy)
# ----------------------------------------------------------------------------------------------------------
def child_main(argv: list[str]) -> int:
    """``SHOT PATTERN FRAMES SAMPLES [SCENE]``: open the .blend, check it, render the guide frames; JSON events on
    stdout (Blender's own chatter is sent to stderr), the exit code."""
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever Blender or a library prints goes to stderr: stdout carries only the events
    sys.stdout = sys.stderr

    def emit(**event) -> None:
        events.write(json.dumps(event) + "\n")
        events.flush()

    def fail(message: str, code: int) -> int:
        emit(event="error", message=message, exit_code=code)
        return code

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    shot, pattern, frames_text, samples = argv[0], argv[1], argv[2], int(argv[3])
    scene_name = argv[4] if len(argv) > 4 else None
    frames = frame_range(frames_text)
    if "bpy" not in sys.modules:  # the bpy module: never the user's Blender config
        import tempfile
        os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="postpass-guides-blender-"))
    from .. import guide_render

    try:
        import bpy

        try:
            bpy.ops.wm.open_mainfile(filepath=shot, load_ui=False)
        except RuntimeError as exc:
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            return fail(f"{shot}: does not open in Blender {bpy.app.version_string} "
                        f"({lines[-1].strip() if lines else 'unknown error'})", EXIT_USAGE)
        for handlers in (bpy.app.handlers.render_init, bpy.app.handlers.render_write,
                         bpy.app.handlers.render_complete, bpy.app.handlers.render_cancel):
            for function in [f for f in handlers if getattr(f, "__module__", "").split(".")[-2:] ==
                             [PACKAGE, "handlers"]]:
                handlers.remove(function)  # Postpass on render (if enabled here) must not process the guides
        if scene_name is None:
            scene = bpy.context.scene
        elif scene_name in bpy.data.scenes:
            scene = bpy.data.scenes[scene_name]
        else:
            return fail(f"{shot}: has no scene {scene_name!r}", EXIT_USAGE)
        if scene.render.engine != "CYCLES":
            engine = scene.render.engine.replace("BLENDER_", "").replace("_NEXT", "").replace("_", " ")
            return fail(f"{shot}: scene {scene.name!r} renders with {engine}, not Cycles: guide passes (and the "
                        "Denoising Data of its key frames) are Cycles'", EXIT_USAGE)
        if scene.camera is None:
            return fail(f"{shot}: scene {scene.name!r} has no camera", EXIT_USAGE)
        paths = {f: guide_render.guide_path(pattern, f) for f in frames}
        for path in paths.values():  # (render_guide_frames checks this too; here it comes before the start event)
            if os.path.lexists(path) and not guide_render.is_guide_file(path):
                return fail(f"{Path(path).absolute()}: exists and is not a guide render; not overwriting it",
                            EXIT_USAGE)
        todo = [f for f in frames if not guide_render.is_guide_file(paths[f])]
        emit(event="start", frames=len(frames), todo=len(todo), samples=samples, scene=scene.name)
        done = []

        def log(message: str) -> None:  # once per rendered file: "guide frame 7: PATH in 0.42 s"
            frame = todo[len(done)]
            done.append(frame)
            took = re.search(r" in ([0-9.]+) s$", message)
            emit(event="frame", frame=frame, path=str(paths[frame]), seconds=float(took.group(1)) if took else None,
                 done=len(done), total=len(todo))

        try:
            result = guide_render.render_guide_frames(scene, frames, pattern, samples=samples, protect=(shot,),
                                                      bpy=bpy, log=log)
        except guide_render.GuideError as exc:
            return fail(str(exc).splitlines()[0], EXIT_FAILED if done else EXIT_USAGE)
        rendered = result["rendered"]
        per_frame = sum(result["seconds"].values()) / len(rendered) if rendered else 0.0
        emit(event="done", rendered=rendered, skipped=result["skipped"], seconds_per_frame=round(per_frame, 3),
             samples=samples)
        return EXIT_DONE
    except KeyboardInterrupt:
        return fail("interrupted; rerun to resume", EXIT_INTERRUPTED)
    except Exception as exc:  # a bug, or Blender failing mid-way: one line for the parent, the rest on stderr
        if interrupted(exc):  # a stop that landed inside a module's init
            return fail("interrupted; rerun to resume", EXIT_INTERRUPTED)
        import traceback

        traceback.print_exc()
        return fail(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                    EXIT_FAILED)
