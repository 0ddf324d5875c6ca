"""Telling a stop request from a failure, wherever the request landed."""

from __future__ import annotations


def interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a stop request (Ctrl-C, or SIGTERM turned into KeyboardInterrupt) or came of one.

    Python raises the signal handler's KeyboardInterrupt wherever the main thread is, and some code wraps it: a C
    extension's module init turns it into ``ImportError: initialization failed`` with the interrupt as its cause
    (a first ``import OpenEXR`` or ``import onnxruntime`` when the signal comes), and cleanup that fails while it
    unwinds carries it as its context. Such an error is the stop, to be reported as interrupted and resumed, not
    a failed frame or a crash."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
