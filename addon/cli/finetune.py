"""``postpass finetune SHOT.blend -o MODELS_DIR``: fine-tune the denoiser on one shot (issue 27).

The add-on has no torch, so this command checks its inputs, finds the training Python
(:func:`addon.runtime.trainer.find_training_python`) and runs ``python -m export.finetune`` there with the
same arguments: its output passes through, its exit code is returned, and Ctrl-C or SIGTERM is forwarded to
it once (it runs in its own process group), so it stops cleanly and exits 130; the same command resumes.
Inputs that would make it fail at once (no such file, not a .blend, an output folder that cannot be
written, no training Python) are refused before a training interpreter starts: exit 2, one line.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import threading

from ..runtime import trainer

SUMMARY = "fine-tune the denoiser on one shot's own renders (needs the training environment)"
DESCRIPTION = f"""\
Fine-tune the denoiser on a shot: render it from the saved .blend (noisy frames and references), train the
shipped denoiser on them for a time budget, and keep the result only when it beats the shipped one on
held-out frames. MODELS_DIR becomes a complete models folder (registry.json, the models, finetune.json, the
report); use it with --models-dir, or in Blender as postpass_models/ beside the .blend.

Training runs in Postpass's training environment (torch and ml_core), found in this order:
${trainer.TRAINING_PYTHON_ENV}; this Python when it has torch and ml_core; the .venv of the clone this
command comes from. Exit codes: 0 done (the report says whether the fine-tuned model or the shipped ones
were kept), 1 failed mid-way, 2 bad input (nothing ran), 130 interrupted (run the same command to resume).
"""
EXAMPLES = """
examples:
  postpass finetune shots/sh010.blend -o shots/postpass_models
  postpass finetune sh010.blend -o sh010_models --minutes 30 --json     progress as JSON lines
  blender -b -c postpass finetune sh010.blend -o sh010_models           the same inside Blender

--json: every stdout line is one JSON object: {"event": "progress", "stage": "render"|"train"|"export"|
"evaluate", "fraction": 0..1, "elapsed_s", "remaining_s", "message"}, then {"event": "done", "report": {...}}
or {"event": "error", "message", "exit_code"}; skip lines that do not parse.
"""


def minutes(text: str) -> float:
    """``argparse`` type: a time budget in minutes, above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of minutes above 0, not {text}")
    return value


def add_parser(commands, whole_number) -> argparse.ArgumentParser:
    """The ``finetune`` subcommand of ``postpass`` (``commands``: its subparsers)."""
    sub = commands.add_parser("finetune", help=SUMMARY, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("shot", metavar="SHOT.blend", help="the saved shot to fine-tune on (its scene and camera)")
    sub.add_argument("-o", "--output", required=True, metavar="MODELS_DIR",
                     help="the models folder to write (made if needed)")
    sub.add_argument("--minutes", type=minutes, metavar="N",
                     help=f"time budget for the whole run, rendering included (default: {trainer.DEFAULT_MINUTES:g})")
    sub.add_argument("--work", metavar="DIR",
                     help="folder for the renders and checkpoints, read again to resume (default: the trainer's)")
    sub.add_argument("--general", metavar="DIR|none",
                     help="general training data mixed in with the shot's, or none (default: the trainer's)")
    sub.add_argument("--target", choices=("denoised", "raw"),
                     help="training targets: the references denoised by Blender's OIDN, or raw (default: denoised)")
    sub.add_argument("--seed", type=int, metavar="N", help="random seed (default: 0)")
    sub.add_argument("--threads", type=whole_number(0), metavar="N", help="CPU threads (default or 0: every core)")
    sub.add_argument("--json", action="store_true", help="progress and the report as JSON lines on stdout")
    sub.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sub.set_defaults(run=run, json_error=json_error)
    return sub


def run(args: argparse.Namespace) -> int:
    """Check the inputs, then run ``export.finetune`` in the training Python; its exit code."""
    try:
        trainer.check_shot(args.shot)
        trainer.check_models_dir(args.output)
        training = trainer.find_training_python()
        trainer.check_training_python(training)
    except trainer.TrainerError as exc:
        return _refuse(str(exc), args.json)
    command = trainer.finetune_command(training.python, args.shot, args.output, minutes=args.minutes,
                                       work=args.work, general=args.general, target=args.target, seed=args.seed,
                                       threads=args.threads, as_json=args.json, quiet=args.quiet)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        process = subprocess.Popen(command, env=training.env(), **trainer.popen_group())
    except OSError as exc:
        return _refuse(f"{training.python}: cannot run it ({exc.strerror or exc})", args.json)
    with _forwarding(process):
        while True:
            try:
                return trainer.exit_code(process.wait())
            except KeyboardInterrupt:  # not in the main thread: no handler of ours, Python's own
                trainer.interrupt(process, signal.SIGINT)


def json_error(message: str) -> dict:
    """The ``--json`` line of a fine-tune refused before it starts, in the format of the child's events."""
    return {"event": "error", "message": message, "exit_code": trainer.EXIT_USAGE}


def _refuse(message: str, as_json: bool) -> int:
    print(f"postpass finetune: error: {message}", file=sys.stderr)
    if as_json:  # pipeline tools read stdout: the error is there too
        print(json.dumps(json_error(message)), flush=True)
    return trainer.EXIT_USAGE


@contextlib.contextmanager
def _forwarding(process: subprocess.Popen):
    """While the child runs: Ctrl-C (SIGINT) and SIGTERM are passed on to it, and we wait for it to stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])

    def forward(signum, frame):
        trainer.interrupt(process, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
