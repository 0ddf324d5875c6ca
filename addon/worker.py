"""One background thread that runs Postpass jobs so Blender's UI never waits for a network.

A :class:`Job` wraps a function of plain data (numpy arrays, file paths) that never touches ``bpy``: operators
gather their inputs on the main thread, the worker runs the function, and the main thread (a modal operator's
timer) reads the finished job and turns its result into image datablocks. Jobs run one at a time in the
order submitted, so two quick clicks never compete for the CPU. bpy-free, so tests drive it without Blender.
"""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from typing import Any, Callable

from .runtime import ImageError, ModelError

log = logging.getLogger("postpass")

#: Errors whose message is already one line that says what to fix; anything else is a bug and logs a traceback.
EXPECTED_ERRORS = (ModelError, ImageError, OSError)


class Cancelled(Exception):
    """Raised inside a job's function by :meth:`Job.step` once the user has cancelled it."""


class Job:
    """A unit of bpy-free work with progress, cancellation and a one-line error for Blender's reports."""

    def __init__(self, title: str, work: Callable[["Job"], Any], cleanup: Callable[[], None] | None = None):
        self.title = title
        self.work = work
        self.cleanup = cleanup  # runs after the job however it ends, even cancelled before it started
        self.progress = 0.0  # 0..1, written by the worker thread, read by the UI
        self.status = title
        self.result: Any = None
        self.error: str | None = None
        self._cancel = threading.Event()
        self._done = threading.Event()

    def step(self, progress: float, status: str) -> None:
        """Report progress from inside ``work``; raises :class:`Cancelled` once the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled
        self.progress, self.status = progress, status

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def run(self) -> None:
        """Run ``work`` in the calling thread; afterwards exactly one of ``result``/``error``/``cancelled`` holds."""
        try:
            if self._cancel.is_set():
                raise Cancelled
            self.result = self.work(self)
            self.progress = 1.0
        except Cancelled:
            self._cancel.set()
        except EXPECTED_ERRORS as exc:
            self.error = _one_line(exc)
        except Exception as exc:  # a bug: keep the traceback for the console, give the user one line
            log.error("Postpass: %s failed\n%s", self.title, traceback.format_exc())
            self.error = f"{self.title} failed: {type(exc).__name__}: {_one_line(exc)} (details in the console)"
        finally:
            if self.cleanup:
                self.cleanup()
            self._done.set()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text.splitlines()[0] if text else type(exc).__name__


class Worker:
    """A daemon thread running submitted jobs in order."""

    def __init__(self):
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="postpass-worker", daemon=True)
                self._thread.start()
            self._queue.put(job)
        return job

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel queued jobs, let the running one finish (up to ``timeout`` seconds) and end the thread."""
        with self._lock:
            while True:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is not None:
                    pending.cancel()
                    pending.run()  # marks it cancelled and done, so a waiting operator ends
            thread, self._thread = self._thread, None
            if thread is not None and thread.is_alive():
                self._queue.put(None)
                thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
