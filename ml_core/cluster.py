"""One task per scene, in this process or on a Dask distributed cluster: what both scene builders share
(``python -m ml_core.data build`` and ``python -m ml_core.authored build``, each with ``--scheduler``).

    with cluster.runner(scheduler) as run:          # None: this process; else tcp://HOST:PORT or a scheduler file
        version = run.call(blender_version)          # one task, its result (ClusterError when it fails)
        for outcome in run.map(render_one, {seed: (out, seed, ...)}, retries=2, desc="render train"):
            ...                                      # each task's result or one-line reason, as they finish

On a cluster each task is submitted with Dask's ``retries=`` (a task that raises is run again, up to that many
times), and a task whose worker dies is rescheduled by Dask on another worker (up to
``distributed.scheduler.allowed-failures`` times, then it fails with ``KilledWorker``). The results come back
in the order they finish, with a progress bar; tasks not finished when the caller stops (Ctrl-C) are cancelled.
In this process the same ``retries`` apply, one task after the other. Nothing here stops at a failed task:
the caller gets every outcome and reports the failed ones.

Blender in a Dask worker: tasks run in Dask's executor threads, never in the process's main thread, and bpy is
not made for threads (measured with bpy 5.0.1: imported in the main thread and rendering in another, Cycles
segfaults). So on a worker every task runs in one render thread of this module, the same thread for the life of
the process, where bpy is imported and every scene renders; it also keeps two tasks from using bpy at once when
a worker has several threads (``dask worker --nthreads 1`` is the sensible setting; more threads only wait).
A worker process that imported bpy this way dies with SIGSEGV when it exits, after its work (its nanny logs
"killed by signal 11" at shutdown): bpy's exit handler runs in the main thread. Nothing is lost (every file is
renamed into place, scenes whole). This module imports nothing heavy at import time: workers import it to run
tasks, and a rendering process must import bpy before torch or OpenEXR.

Workers and the submitting process must see the dataset folder (and the mesh folder) at the same path, e.g. on
shared storage; the submitting process passes absolute paths.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

#: exit code of a build where some scenes failed (2 is a bad argument, as in ``postpass``)
EXIT_FAILED = 1


class ClusterError(ValueError):
    """The scheduler cannot be reached or named file is not a scheduler file; printed as one line."""


class TasksFailed(ValueError):
    """Some scenes of a build failed (the others are done): the build's ``summary`` and each failed scene's
    ``(label, reason)``; the message names them in one line."""

    def __init__(self, summary: dict, failures: list[tuple[str, str]], total: int):
        self.summary, self.failures, self.total = summary, failures, total
        named = "; ".join(f"{label}: {why}" for label, why in failures[:3]) + ("; ..." if len(failures) > 3 else "")
        super().__init__(f"{len(failures)} of {total} scenes failed: {named}")

    def report(self, prog: str) -> str:
        """The failures for stderr: a line, then one per failed scene with its reason."""
        return "\n".join([f"{prog}: {len(self.failures)} of {self.total} scenes failed:"]
                         + [f"  {label}: {why}" for label, why in self.failures])


@dataclass(frozen=True)
class Outcome:
    """What became of one task: its result, or why it failed (one line)."""

    label: Any  # the caller's name for the task: a seed, a scene name
    result: Any = None
    reason: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.reason)


def reason(exc: BaseException) -> str:
    """One line naming the problem: ``PATH: what`` for OS errors, else ``Type: message``."""
    if isinstance(exc, OSError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text.strip().splitlines()[0]


@contextmanager
def runner(scheduler: str | None, *, name: str = "task"):
    """A :class:`LocalRunner`, or a :class:`DaskRunner` connected to ``scheduler`` (closed on exit).

    ``name`` prefixes the Dask task keys (``postpass-NAME-LABEL-RUN``), which the dashboard shows."""
    if not scheduler:
        yield LocalRunner()
        return
    client = connect(scheduler)
    try:
        yield DaskRunner(client, name)
    finally:
        client.close()


def connect(scheduler: str):
    """A Dask client of ``scheduler``: an address (``tcp://HOST:PORT``, ``HOST:PORT``) or the path of a
    scheduler file (JSON with an ``address``, as ``dask scheduler --scheduler-file`` writes). Raises
    :class:`ClusterError` with one line. Connecting waits up to ``distributed.comm.timeouts.connect`` (30 s;
    the environment variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT`` sets it)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ClusterError("--scheduler needs Dask distributed: pip install 'postpass[farm]'") from None
    where = {"address": scheduler}
    if "://" not in scheduler and (scheduler.endswith(".json") or os.path.sep in scheduler
                                   or Path(scheduler).exists()):
        _check_scheduler_file(Path(scheduler))
        where = {"scheduler_file": scheduler}
    try:
        return Client(**where, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({exc})".splitlines()[0]) from None


def _check_scheduler_file(path: Path) -> None:
    """Dask's Client waits for a missing scheduler file to appear: refuse a missing or malformed one at once."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ClusterError(f"{path}: no such scheduler file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClusterError(f"{path}: not a Dask scheduler file ({reason(exc)})") from None
    if not isinstance(record, dict) or not isinstance(record.get("address"), str):
        raise ClusterError(f"{path}: not a Dask scheduler file (no \"address\")")


def _progress(items, total: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(items, total=total, desc=desc, unit="scene", disable=not progress, dynamic_ncols=True)


class LocalRunner:
    """Tasks in this process, one after the other."""

    where = "this process"

    def call(self, fn: Callable, *args):
        return fn(*args)

    def map(self, fn: Callable, tasks: dict[Any, tuple], *, retries: int = 0, desc: str = "",
            progress: bool = True) -> Iterator[Outcome]:
        bar = _progress(tasks.items(), len(tasks), desc, progress)
        failed = 0
        for label, args in bar:
            for attempt in range(retries + 1):
                try:
                    outcome = Outcome(label, fn(*args))
                    break
                except Exception as exc:  # a failed scene fails only itself; the build goes on
                    outcome = Outcome(label, reason=reason(exc))
            failed += outcome.failed
            if failed:
                bar.set_postfix(failed=failed)
            yield outcome


class DaskRunner:
    """Tasks on a Dask distributed cluster, one per label, results as they finish."""

    def __init__(self, client, name: str):
        self.client = client
        self.name = name
        self.where = f"Dask scheduler {client.scheduler.address}"

    def call(self, fn: Callable, *args):
        """Run one task on a worker (waiting for one to join if there is none yet) and return its result."""
        if not self.client.scheduler_info().get("workers"):
            print(f"waiting for a worker to join the {self.where}", file=sys.stderr, flush=True)
        future = self.client.submit(in_render_thread, fn, *args, pure=False,
                                    key=f"postpass-{self.name}-{getattr(fn, '__name__', 'call')}-{_run_id()}")
        try:
            return future.result()
        except Exception as exc:
            raise ClusterError(f"a worker of the {self.where} failed: {reason(exc)}") from None

    def map(self, fn: Callable, tasks: dict[Any, tuple], *, retries: int = 0, desc: str = "",
            progress: bool = True) -> Iterator[Outcome]:
        from dask.distributed import as_completed

        run = _run_id()
        futures = {}
        failed = 0
        try:
            for label, args in tasks.items():
                futures[self.client.submit(in_render_thread, fn, *args, pure=False, retries=retries,
                                           key=f"postpass-{self.name}-{label}-{run}")] = label
            bar = _progress(as_completed(futures, loop=self.client.loop), len(futures), desc, progress)
            for future in bar:
                label = futures[future]
                try:
                    outcome = Outcome(label, future.result())
                except Exception as exc:
                    lost = type(exc).__name__ == "KilledWorker"  # its workers died each time it ran
                    outcome = Outcome(label, reason=("lost on the cluster: " if lost else "") + reason(exc))
                future.release()
                failed += outcome.failed
                if failed:
                    bar.set_postfix(failed=failed)
                yield outcome
        finally:  # stopped early (Ctrl-C, an error here): take the rest back from the cluster
            self.client.cancel([f for f in futures if not f.done()])


def _run_id() -> str:
    return uuid.uuid4().hex[:8]


# -- on the worker ----------------------------------------------------------------------------------------------
_RENDER_THREAD: ThreadPoolExecutor | None = None
_RENDER_THREAD_MADE = threading.Lock()


def in_render_thread(fn: Callable, *args):
    """Run ``fn(*args)`` in this process's render thread (the task Dask runs; see the module docstring)."""
    global _RENDER_THREAD
    with _RENDER_THREAD_MADE:  # the first task makes it, whichever of the worker's threads runs it
        if _RENDER_THREAD is None:
            _RENDER_THREAD = ThreadPoolExecutor(1, thread_name_prefix="postpass-render")
    return _RENDER_THREAD.submit(fn, *args).result()


def worker_name() -> str:
    """``host:pid`` of the process running a task (summaries say where each scene rendered)."""
    return f"{socket.gethostname()}:{os.getpid()}"
