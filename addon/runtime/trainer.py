"""Fine-tuning the denoiser on an artist's own shot, from the add-on's side (issue 27): which Python trains,
the ``python -m export.finetune`` command (:data:`FINETUNE_MODULE`), its ``--json`` progress, and the shot's
models folder.

The add-on never imports torch or ``ml_core`` (Blender's Python has no torch): training runs in a child
process, the *training Python*, found by :func:`find_training_python`. ``postpass finetune`` runs it with
its output passed through; the Blender button runs it with ``--json`` through :class:`FinetuneRun`, which
reads the progress lines in a thread. The result is a complete models folder beside the .blend,
``postpass_models/`` (``registry.json``, the models, and the report ``finetune.json``), which the add-on
then searches first for that file (:func:`shot_models_dir`). bpy-free.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from .registry import DEFAULT_MODELS_DIR, REGISTRY_FILE

#: The interpreter to train with, when set (else the preference, then auto: see :func:`find_training_python`).
TRAINING_PYTHON_ENV = "POSTPASS_TRAINING_PYTHON"
#: The command the training Python runs (``python -m ...``), and what that Python must be able to import.
FINETUNE_MODULE = "export.finetune"
TRAINING_MODULES = tuple(dict.fromkeys(("torch", "ml_core", FINETUNE_MODULE.partition(".")[0])))
#: The shot's models folder beside its .blend (Blender's ``//postpass_models``) and the report in it.
SHOT_MODELS_FOLDER = "postpass_models"
REPORT_FILE = "finetune.json"
DEFAULT_MINUTES = 15.0
#: How a .blend file starts: plain, zstd- or gzip-compressed.
BLEND_MAGICS = (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")
#: ``export.finetune``'s exit codes: finished, failed mid-way, bad input before any work, interrupted.
EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The folder above the ``addon`` package: a clone's root (with ``ml_core/`` and ``.venv/``), or the
#: installed extension's folder (with neither).
ADDON_ROOT = Path(__file__).resolve().parents[2]
#: Where the add-on's preference lives, for messages.
PREFERENCE = "Preferences > Add-ons > Postpass > Training Python"
HOW_TO_POINT = (f"set {TRAINING_PYTHON_ENV} (or {PREFERENCE}) to the python of a Postpass clone's .venv "
                "(bash scripts/env.sh makes it)")


class TrainerError(Exception):
    """Why fine-tuning cannot start, in one line naming the file (exit code 2)."""


# ----------------------------------------------------------------------------------------------------------
# The training Python
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingPython:
    """An interpreter that can run ``export.finetune``; ``source`` says how it was found (for messages);
    ``paths``: folders put first on its ``PYTHONPATH`` (a clone's root, so that clone's ``ml_core`` runs)."""

    python: str
    source: str
    paths: tuple[str, ...] = ()

    def env(self, base: dict | None = None) -> dict:
        """The child's environment: ``base`` (default: this process's) with :attr:`paths` on ``PYTHONPATH``."""
        env = dict(os.environ if base is None else base)
        if self.paths:
            env["PYTHONPATH"] = os.pathsep.join([*self.paths, *filter(None, [env.get("PYTHONPATH")])])
        return env


def clone_python(root: Path = ADDON_ROOT) -> Path:
    """Where a clone's virtual environment keeps its interpreter (``scripts/env.sh`` makes ``.venv``)."""
    return root / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _clone_paths(root: Path = ADDON_ROOT) -> tuple[str, ...]:
    return (str(root),) if (root / "ml_core" / "__init__.py").is_file() else ()


def _importable(name: str) -> Path | None:
    """The file this interpreter would import top-level module ``name`` from (without importing it), or None.
    A namespace package (a folder of that name without ``__init__.py`` on ``sys.path``, such as a tests folder)
    is not the package."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("namespace", "frozen", "built-in"):
        return None
    return Path(spec.origin)


def find_training_python(configured: str | None = None, environ: dict | None = None) -> TrainingPython:
    """The Python that trains, in this order: ``configured`` (the add-on preference), ``$POSTPASS_TRAINING_PYTHON``,
    this interpreter when torch and ``ml_core`` are importable, a clone's ``.venv`` in the folder above the
    ``addon`` package. A named interpreter that does not exist, or none found: :class:`TrainerError`."""
    environ = os.environ if environ is None else environ
    for value, source in ((configured, f"the preference {PREFERENCE}"),
                          (environ.get(TRAINING_PYTHON_ENV), TRAINING_PYTHON_ENV)):
        if value:
            if not Path(value).is_file():
                raise TrainerError(f"{value}: no such Python (set by {source}); finetune needs Postpass's "
                                   f"training environment (torch and ml_core): {HOW_TO_POINT}")
            return TrainingPython(value, source, _clone_paths())
    found = {name: _importable(name) for name in TRAINING_MODULES}
    if sys.executable and all(found.values()):
        return TrainingPython(sys.executable, "this Python", (str(found["ml_core"].parent.parent),))
    venv = clone_python()
    if venv.is_file():
        return TrainingPython(str(venv), f"the clone's {venv}", _clone_paths())
    lacking = " and ".join(name for name, where in found.items() if not where)
    raise TrainerError(f"finetune needs Postpass's training environment (torch and ml_core); this Python "
                       f"({sys.executable or 'unknown'}) has no {lacking} and there is no {venv}: {HOW_TO_POINT}")


_PROBE = ("import importlib.util, sys\n"
          "missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\n"
          "print(' and '.join(missing)); sys.exit(3 if missing else 0)\n")


def check_training_python(training: TrainingPython, timeout: float = 60.0) -> None:
    """Refuse (:class:`TrainerError`) an interpreter that does not start or lacks torch or ``ml_core``,
    before any training starts (a fraction of a second: nothing is imported)."""
    if training.source == "this Python":
        return  # checked in this process already
    try:
        probe = subprocess.run([training.python, "-c", _PROBE, *TRAINING_MODULES], env=training.env(),
                               capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TrainerError(f"{training.python}: cannot run it ({getattr(exc, 'strerror', None) or exc}; set by "
                           f"{training.source}): {HOW_TO_POINT}") from None
    if probe.returncode != 0:
        lacking = probe.stdout.strip() or (probe.stderr.strip().splitlines() or ["it failed to start"])[-1]
        raise TrainerError(f"{training.python}: not Postpass's training environment, it has no {lacking} (set by "
                           f"{training.source}): {HOW_TO_POINT}")


# ----------------------------------------------------------------------------------------------------------
# Inputs, checked before a training interpreter starts
# ----------------------------------------------------------------------------------------------------------
def check_shot(shot: str | os.PathLike, why: str = "the shot to fine-tune on is a saved Blender file") -> Path:
    """The shot file, or :class:`TrainerError` naming it: missing, a folder, not a .blend (``why``: what the
    command reads it for, said when it is not one)."""
    path = Path(shot)
    if not path.exists():
        raise TrainerError(f"{shot}: no such file")
    if path.is_dir():
        raise TrainerError(f"{shot}: is a folder, not a .blend file")
    if path.suffix.lower() != ".blend":
        raise TrainerError(f"{shot}: not a .blend file ({why})")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise TrainerError(f"{shot}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise TrainerError(f"{shot}: empty file (0 bytes)")
    if not head.startswith(BLEND_MAGICS):
        raise TrainerError(f"{shot}: not a Blender file (no BLENDER header)")
    return path


def check_models_dir(models_dir: str | os.PathLike) -> Path:
    """The output models folder, or :class:`TrainerError` naming it when it cannot be written: a file, under a
    file, not writable, the shipped models folder, or a folder holding something other than an earlier
    fine-tune's models (which would be replaced). Nothing is created."""
    path = Path(models_dir)
    if path.exists() and not path.is_dir():
        raise TrainerError(f"{models_dir}: is a file, not a folder")
    if path.resolve() == DEFAULT_MODELS_DIR.resolve():
        raise TrainerError(f"{models_dir}: is the shipped models folder; write the shot's models to another folder")
    if path.is_dir() and any(path.iterdir()) and not (path / REPORT_FILE).is_file():
        raise TrainerError(f"{models_dir}: holds files and is not a fine-tune's models folder (no {REPORT_FILE}); "
                           "choose an empty or new folder")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise TrainerError(f"{models_dir}: {existing} is a file, not a folder")
    try:  # root may write where the mode bits say no; a read-only file system refuses everyone: try it
        handle, probe = tempfile.mkstemp(prefix=".postpass-write-test-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        where = "" if existing == path.absolute() else f" ({existing})"
        raise TrainerError(f"{models_dir}: not writable{where}: {exc.strerror or exc}") from None
    return path


def finetune_command(python: str, shot: str | os.PathLike, models_dir: str | os.PathLike, *,
                     minutes: float | None = None, work: str | None = None, general: str | None = None,
                     target: str | None = None, seed: int | None = None, threads: int | None = None,
                     as_json: bool = False, quiet: bool = False) -> list[str]:
    """``PYTHON -m export.finetune SHOT -o MODELS_DIR [options]``; options left None are the child's defaults."""
    command = [python, "-m", FINETUNE_MODULE, str(shot), "-o", str(models_dir)]
    for flag, value in (("--minutes", minutes), ("--work", work), ("--general", general), ("--target", target),
                        ("--seed", seed), ("--threads", threads)):
        if value is not None:
            command += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return command + ["--json"] * as_json + ["--quiet"] * quiet


# ----------------------------------------------------------------------------------------------------------
# The child process: its own process group, so an interrupt reaches it once, from us
# ----------------------------------------------------------------------------------------------------------
def popen_group() -> dict:
    """``Popen`` keywords that start the child in its own process group: Ctrl-C at a terminal reaches only the
    parent, which forwards it (:func:`interrupt`) so the child gets exactly one signal and stops cleanly."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"process_group": 0}


def interrupt(process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    """Ask the child to stop cleanly (it saves what it has and exits 130); a child already gone is fine."""
    if process.poll() is not None:
        return
    try:
        if os.name == "nt":
            process.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, OSError):
        pass


def exit_code(returncode: int) -> int:
    """The child's exit code; killed by a signal (negative on POSIX): 130 for SIGINT/SIGTERM, else 1."""
    if returncode >= 0:
        return returncode
    return EXIT_INTERRUPTED if -returncode in (signal.SIGINT, signal.SIGTERM) else EXIT_FAILED


def parse_event(line: str) -> dict | None:
    """One ``--json`` stdout line as an event (a dict with ``event``), or None for a line some library printed."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def progress_line(event: dict) -> str:
    """A progress event in words: ``Training: 42%, 8 min 20 s left``."""
    stage = str(event.get("stage") or "working")
    stage = {"render": "Rendering", "train": "Training", "export": "Exporting",
             "evaluate": "Evaluating"}.get(stage, stage.capitalize())
    text = f"{stage}: {round(100 * float(event.get('fraction') or 0.0))}%"
    if event.get("remaining_s") is not None:
        text += f", {format_seconds(float(event['remaining_s']))} left"
    return text


class ChildRun:
    """A Postpass child process that reports JSON events on stdout (``--json``), as a run in this process: the
    base of :class:`FinetuneRun` and the guide render's ``GuideRun`` (``addon.cli.render_guides``).

    Two daemon threads read the child's stdout (events, passed to :meth:`on_event`) and stderr (kept, the last
    lines, and echoed to ``echo``: default this process's stderr, False: nowhere); every attribute may be read
    from any thread. :meth:`cancel` asks the child to stop cleanly (exit 130); the same command run again
    resumes."""

    #: what the child is, in thread names and in the error of a child that died without saying why
    what = "child"

    def __init__(self, command: list[str], env: dict | None = None, *, echo=None):
        self.command = command
        self.error: str | None = None  # the error event's message, or the last stderr line of a failed child
        self.returncode: int | None = None
        self.cancelled = False
        self._exited: float | None = None  # when the child was first seen exited
        self.started = time.monotonic()
        self._stderr: deque[str] = deque(maxlen=20)
        self._echo = sys.stderr if echo is None else echo
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                                        bufsize=1, **popen_group())
        name = self.what.split()[0].split(".")[-1]
        self._readers = [threading.Thread(target=self._read_events, daemon=True, name=f"postpass-{name}-out"),
                         threading.Thread(target=self._read_errors, daemon=True, name=f"postpass-{name}-err")]
        for reader in self._readers:
            reader.start()

    def on_event(self, event: dict) -> None:
        """One event of the child's (an "error" event's message is already in :attr:`error`)."""

    def ended(self, code: int) -> int:
        """The run's exit code from the child's (a subclass checks what the child said it did)."""
        return code

    def _read_events(self) -> None:
        for line in self.process.stdout:
            event = parse_event(line)
            if event is None:
                continue
            if event["event"] == "error":
                self.error = str(event.get("message") or "").strip() or None
            self.on_event(event)

    def _read_errors(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line.rstrip("\n"))
            if self._echo is not False:
                try:
                    self._echo.write(line)
                    self._echo.flush()
                except (OSError, ValueError, AttributeError):
                    pass

    def cancel(self, signum: int = signal.SIGTERM) -> None:
        self.cancelled = True
        interrupt(self.process, signum)

    @property
    def done(self) -> bool:
        """The child has exited and its output has been read (or, should a process it started still hold its
        pipes, 5 seconds have passed since it exited)."""
        if self.returncode is None and self.process.poll() is not None:
            self._exited = self._exited or time.monotonic()
            if not any(r.is_alive() for r in self._readers) or time.monotonic() - self._exited > 5:
                self._end()
        return self.returncode is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the child (up to ``timeout`` seconds); whether it has ended."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        for reader in self._readers:  # the child has exited: its last lines are being read
            reader.join(5)
        if self.returncode is None:
            self._end()
        return True

    def _end(self) -> None:
        code = self.ended(exit_code(self.process.returncode))
        if code not in (EXIT_DONE, EXIT_INTERRUPTED) and not self.error:
            self.error = next((line for line in reversed(self._stderr) if line.strip()),
                              f"{self.what} exited with code {code}")
        self.returncode = code

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class FinetuneRun(ChildRun):
    """``python -m export.finetune ... --json`` as a child: its latest progress event, its report, how it
    ended."""

    what = FINETUNE_MODULE

    def __init__(self, command: list[str], env: dict | None = None, *, shot: str = "", models_dir: str = "",
                 echo=None):
        self.shot, self.models_dir = shot, models_dir
        self.progress: dict | None = None  # the latest progress event
        self.report: dict | None = None  # the done event's report
        super().__init__(command, env, echo=echo)

    def on_event(self, event: dict) -> None:
        if event["event"] == "progress":
            self.progress = event
        elif event["event"] == "done":
            self.report = event.get("report")

    def ended(self, code: int) -> int:
        if code == EXIT_DONE and self.report is None and self.models_dir:
            self.report = read_report(self.models_dir)
        return code

    def status(self) -> str:
        """What it is doing now, in words."""
        if self.returncode is not None:
            return outcome(self)[1]
        if self.cancelled:
            return "Stopping (what is done is kept; run it again to resume)"
        if self.progress is None:
            return f"Starting ({format_seconds(self.elapsed)})"
        return progress_line(self.progress)

    @property
    def fraction(self) -> float:
        return float((self.progress or {}).get("fraction") or 0.0)


def outcome(run: FinetuneRun) -> tuple[str, str]:
    """(report level, one line) for a finished run: INFO kept a fine-tuned model, WARNING kept the shipped
    ones (it did not help), INFO cancelled, ERROR failed."""
    code = run.returncode
    if code == EXIT_INTERRUPTED:
        return "INFO", "Fine-tune stopped; run it again to resume where it stopped"
    if code != EXIT_DONE:
        return "ERROR", f"Fine-tune failed: {run.error or f'exit code {code}'}"
    report = run.report or {}
    helped = report.get("kept") != "shipped" or bool(report.get("residual_model"))
    return ("INFO" if helped else "WARNING"), f"Fine-tune done: {report_line(report)}"


# ----------------------------------------------------------------------------------------------------------
# The shot's models folder
# ----------------------------------------------------------------------------------------------------------
def shot_models_path(blend_file: str | os.PathLike) -> Path:
    """``postpass_models/`` beside the .blend (where the fine-tune writes, whether or not it exists yet)."""
    return Path(blend_file).absolute().parent / SHOT_MODELS_FOLDER


def shot_models_dir(blend_file: str | os.PathLike | None) -> Path | None:
    """The shot's models folder when the saved .blend has one with a ``registry.json``; None otherwise."""
    if not blend_file:
        return None
    folder = shot_models_path(blend_file)
    return folder if (folder / REGISTRY_FILE).is_file() else None


def read_report(models_dir: str | os.PathLike) -> dict | None:
    """``finetune.json`` of a models folder, or None when it has none (or it cannot be read)."""
    try:
        report = json.loads((Path(models_dir) / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _gain(report: dict) -> float | None:
    try:
        return float(report["held_out"]["gain_db"])
    except (KeyError, TypeError, ValueError):
        return None


def report_line(report: dict | None) -> str:
    """What a fine-tune's report means for denoising, in one line: ``denoise_kpn_shot (+0.84 dB on held-out
    frames)``, or that it did not help and the shipped models run; led by its correction of Blender's denoised
    render when it kept one (``denoise_oidn_residual_shot (+1.30 dB over Blender's denoiser on held-out frames)
    on renders with Cycles' Denoise and Denoising Data; ...``)."""
    if not report:
        return "no report (finetune.json) in the shot's models folder"
    gain = _gain(report)
    figure = f"{gain:+.2f} dB on held-out frames" if gain is not None else "no held-out figure"
    residual = report.get("residual_model")
    if residual:
        try:
            over = f"{float(report['held_out']['residual_gain_db']):+.2f} dB over Blender's denoiser on held-out frames"
        except (KeyError, TypeError, ValueError):
            over = "no held-out figure"
        other = "the shipped models" if report.get("kept") == "shipped" else \
            f"{report.get('model') or 'fine-tuned model'} ({figure})"
        return f"{residual} ({over}) on renders with Cycles' Denoise and Denoising Data; {other} on others"
    if report.get("kept") == "shipped":
        return f"none, the fine-tune did not help ({figure}); the shipped models run"
    return f"{report.get('model') or 'fine-tuned model'} ({figure})"
