"""``postpass``: denoise, up-res, colorize and inbetween frame sequences from the command line.

One subcommand per registered task (``addon.runtime.tasks``: its summary, options and examples), plus
``models``, ``info`` and ``finetune`` (:mod:`.finetune`, which runs the training Python). The same :func:`main`
runs as the ``postpass`` console command, as ``python -m addon.cli`` and inside Blender as
``blender -b -c postpass ...``; it returns the exit code and never calls ``sys.exit`` or imports bpy.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time

from ..runtime import tasks
from ..runtime.batch import (EXIT_INTERRUPTED, EXIT_USAGE, BatchError, BatchOptions, Summary, plan,
                             run_batch)
from ..runtime.contract import ModelError
from ..runtime.engine import DEFAULT_TILE
from ..runtime.exr import ImageError
from ..runtime.interrupts import interrupted
from ..runtime.sequence import SequenceError
from ..runtime.session import DEVICES
from . import finetune, info, render_guides
from .report import Report

DESCRIPTION = """\
Postpass: networks trained on Cycles renders, run on frames and image sequences.

Frames are named by a pattern (beauty.####.exr or beauty.%04d.exr) or given as files. Every frame is
written atomically, inputs are never overwritten, and a failing frame is reported without stopping the
others. Exit codes: 0 every frame done or skipped, 1 some frame failed or was not run, 2 nothing ran
(bad arguments, no model, output equal to input), 130 interrupted.

  postpass denoise shot/beauty.####.exr -o shot/clean.####.exr --frames 1001-1100
  postpass denoise --help          (each command's options and examples)
"""

COMMON_EPILOG = """
frames and files:
  INPUT is one pattern (# or %0Nd marks the frame number) or one or more files. OUTPUT is a pattern, a
  folder (the inputs' file names), or a file for a single frame; its suffix picks the format: .exr (with
  a multilayer input: every other pass and the header are kept), .png, .tif, .jpg. --frames takes
  1001-1100, 1001-1100x2 (every 2nd), 1001 and comma lists of those; without it every frame on disk runs.

farm behaviour:
  Each frame is written to a hidden temporary file and renamed, so a killed task never leaves half a
  frame; rerun the same command with --skip-existing to resume. Unless --model names one, the first frame
  picks the model by its passes and every other frame uses the same one.
"""

EXAMPLES = {  # of the other commands; a task's are in its spec
    "models": """
examples:
  postpass models                          shipped models: task, scale, inputs, metrics
  postpass models denoise_aux              one model's full metadata (training command, seed, metrics)
  postpass models --models-dir /studio/postpass_models --json
""",
    "info": """
examples:
  postpass info render/beauty.1001.exr     view layers, passes, size, colour space, header
  postpass info render/beauty.####.exr     which frames are on disk, then the first one
  postpass info texture.png --json
""",
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help; callers get a code instead
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except UsageError as exc:
        print(f"{exc.parser.prog}: error: {exc.message}", file=sys.stderr)
        if "--json" in argv:  # nothing was parsed, so the line itself says whether stdout wants JSON
            json_error = exc.parser.get_default("json_error") or usage_json_error
            print(json.dumps(json_error(exc.message)))
        return EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with _log_to_stderr(args.quiet), _sigterm_interrupts():
        try:
            return args.run(args)
        except (BatchError, ModelError, ImageError, SequenceError) as exc:
            print(f"postpass {args.command}: error: {exc}", file=sys.stderr)
            if args.json:  # pipeline tools read stdout: they get the error there too
                print(json.dumps(usage_json_error(str(exc))))
            return EXIT_USAGE
        except BaseException as exc:  # a stop, also one that landed inside a module's init, is 130
            if not interrupted(exc):
                raise
            print(f"postpass {args.command}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def usage_json_error(message: str) -> dict:
    """What ``--json`` prints on stdout for a command refused before any work (exit 2). A command whose JSON
    output has another shape (``finetune``'s events) sets its own as its parser's default ``json_error``."""
    return {"error": message, "exit_code": EXIT_USAGE}


class UsageError(Exception):
    """A command line argparse refused: ``parser`` is the (sub)command's parser, ``message`` what is wrong."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (farm logs keep the last line): what is wrong, and where the options are listed;
    :func:`main` prints it (and with ``--json`` its JSON error on stdout) and returns 2."""

    def error(self, message: str):
        raise UsageError(self, f"{message} (see {self.prog} --help)")


def whole_number(minimum: int):
    """``argparse`` type: a whole number >= ``minimum`` (``--threads``, ``--tile-size``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="postpass", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for spec in tasks.specs():
        sub = commands.add_parser(spec.name, help=spec.summary, description=spec.summary,
                                  epilog=COMMON_EPILOG + spec.examples,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=_process)
        _add_frame_options(sub, spec)
        for option in spec.cli_options:
            sub.add_argument(*option.flags, **option.kwargs)
        _add_run_options(sub)

    models = commands.add_parser("models", help="list the models and their metadata and metrics",
                                 description="List the registered models, or show one model's full metadata.",
                                 epilog=EXAMPLES["models"], formatter_class=argparse.RawDescriptionHelpFormatter)
    models.add_argument("name", nargs="?", metavar="NAME", help="show this model's metadata")
    _add_models_dir(models)
    _add_output_options(models, progress=False)
    models.set_defaults(run=info.models_command)

    describe = commands.add_parser("info", help="passes, size and colour space of an image file",
                               description="Describe an image file or the frames of a pattern.",
                               epilog=EXAMPLES["info"], formatter_class=argparse.RawDescriptionHelpFormatter)
    describe.add_argument("file", metavar="FILE", help="an image file, or a pattern (beauty.####.exr)")
    _add_output_options(describe, progress=False)
    describe.set_defaults(run=info.info_command)
    finetune.add_parser(commands, whole_number)
    render_guides.add_parser(commands)
    return parser


def _add_frame_options(sub: argparse.ArgumentParser, spec: tasks.TaskSpec) -> None:
    sub.add_argument("inputs", nargs="+", metavar="INPUT", help="a frame pattern (beauty.####.exr) or files")
    sub.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                     help="a frame pattern, a folder, or a file (one frame); never an input")
    sub.add_argument("--frames", type=tasks.frame_range, metavar="RANGE",
                     help="frames to write: 1001-1100, 1001-1100x2, 1001, or a comma list "
                          f"(default: {tasks.LAYOUTS[spec.layout]})")
    sub.add_argument("--layer", default="ViewLayer", metavar="NAME",
                     help="view layer of multilayer EXRs to read and write (default: ViewLayer)")
    sub.add_argument("--skip-existing", action="store_true",
                     help="leave frames whose output exists (resume a killed chunk)")
    sub.add_argument("--fail-fast", action="store_true", help="stop at the first failed frame")


def _add_models_dir(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--models-dir", metavar="DIR",
                     help="models folder with registry.json (default: $POSTPASS_MODELS or the add-on's models)")


def _add_output_options(sub: argparse.ArgumentParser, progress: bool = True) -> None:
    sub.add_argument("--json", action="store_true",
                     help="print a JSON summary on stdout (for pipeline tools)" if progress else "print JSON")
    sub.add_argument("-q", "--quiet", action="store_true",
                     help="print only failures (no progress, no per-frame lines, no summary)" if progress
                     else "print only errors")


def _add_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--model", metavar="NAME", help="use this registered model (default: chosen by the passes)")
    _add_models_dir(sub)
    sub.add_argument("--device", choices=DEVICES, default="auto", help="where onnxruntime runs (default: auto)")
    sub.add_argument("--threads", type=whole_number(0), metavar="N",
                     help="CPU threads per process (default or 0: $POSTPASS_THREADS or every core it may use)")
    sub.add_argument("--tile-size", type=whole_number(0), default=DEFAULT_TILE, metavar="PX",
                     help=f"tile size in input pixels, 0 for whole frames (default: {DEFAULT_TILE}; smaller uses "
                          "less memory)")
    sub.add_argument("--bit-depth", type=int, choices=(8, 16, 32), metavar="BITS",
                     help="PNG/TIFF bit depth: 8 or 16 (TIFF also 32, float; JPEG 8); EXR is always 32-bit float "
                          "(default: the input's where the output format has it, else PNG/TIFF 16)")
    sub.add_argument("--scheduler", metavar="ADDRESS",
                     help="run on a Dask distributed cluster, one task per frame (e.g. tcp://farm-head:8786)")
    _add_output_options(sub)


def _process(args: argparse.Namespace) -> int:
    task = args.command
    spec = tasks.get(task)
    jobs = plan(task, args.inputs, args.output, args.frames, bit_depth=args.bit_depth,
                **{o.dest: getattr(args, o.dest) for o in spec.cli_options_to("plan")})
    options = BatchOptions(task, model=args.model, models_dir=args.models_dir, device=args.device,
                           threads=args.threads, tile_size=args.tile_size or None, layer=args.layer,
                           bit_depth=args.bit_depth, skip_existing=args.skip_existing,
                           **{o.dest: getattr(args, o.dest) for o in spec.cli_options_to("run")})
    results = run_batch(jobs, options, scheduler=args.scheduler, fail_fast=args.fail_fast)
    summary = Summary(task, jobs)
    report = Report(task, quiet=args.quiet, as_json=args.json, show_worker=args.scheduler is not None)
    report.start(jobs, args.output)
    start = time.perf_counter()
    # stdout carries only the --json summary: what libraries print there (OpenEXR's warnings) goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            for result in results:
                summary.results.append(result)
                report.frame(result)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - start
            report.close()
    report.finish(summary)
    return summary.exit_code


@contextlib.contextmanager
def _log_to_stderr(quiet: bool):
    """The runtime's warnings (NaN/Inf zeroed, CUDA fallback) as one line each on stderr, while a command runs."""
    logger = logging.getLogger("postpass")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("postpass: %(levelname)s: %(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (how farm managers stop a task) ends a run like Ctrl-C: the frame being written is dropped
    with its temporary file, and the summary says what was done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
