"""onnxruntime sessions: which execution provider really runs, and how many threads it may use.

CUDA is tried only when the installed onnxruntime has the CUDA provider (the ``onnxruntime-gpu`` package).
onnxruntime quietly falls back to the CPU when CUDA libraries or the driver are missing, so the provider is
read back from the session, and a fallback is reported in words instead of silently running slower.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda")
THREADS_ENV = "POSTPASS_THREADS"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
log = logging.getLogger("postpass.runtime")


def default_threads() -> int:
    """``$POSTPASS_THREADS``, else the cores this process may run on (respects taskset/cgroup affinity)."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit():
            from .contract import ModelError

            raise ModelError(f"${THREADS_ENV}={env!r}: threads must be a whole number >= 0")
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass
class Session:
    """An onnxruntime session and the provider it actually runs on."""

    ort: object  # onnxruntime.InferenceSession
    provider: str
    fallback: str | None  # why it runs on the CPU although the GPU was asked for (None: no fallback)
    threads: int


def open_session(model: bytes, label: str, device: str = "auto", threads: int | None = None) -> Session:
    """A session for the serialized model ``model``.

    ``device``: ``cpu``; ``cuda`` (falls back to the CPU, saying why); ``auto`` (CUDA when it works, else the
    CPU; a missing ``onnxruntime-gpu`` is not a fallback, just a CPU install).
    """
    import onnxruntime as ort

    from .contract import ModelError

    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    threads = threads or default_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads sleep instead of spinning, so Blender's UI and other farm jobs keep their CPU
    # (measured at 1080p on 2 shared cores: spinning took 10-20% more CPU time and no less wall time).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No memory pattern: it plans one block for every intermediate of a given input size, which a
    # whole-frame tile makes a few GB; the arena reuses freed buffers instead (as fast or faster at 1080p,
    # less memory). Graph optimisation stays at its default, everything: without the NCHWc convolution
    # layout (ORT_ENABLE_EXTENDED) a 1080p frame took 1.4x the time.
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: CUDA load failures are reported below in one line

    fallback = None
    if device != "cpu" and CUDA in ort.get_available_providers():
        try:
            session = ort.InferenceSession(model, options, providers=[CUDA, CPU])
            if session.get_providers()[0] == CUDA:
                return Session(session, CUDA, None, threads)
            fallback = "onnxruntime-gpu is installed but CUDA did not start (driver or CUDA/cuDNN libraries missing)"
        except Exception as exc:  # onnxruntime raises its own error types; any of them means no CUDA
            fallback = f"CUDA session failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    elif device == "cuda":
        fallback = "this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
    try:
        session = ort.InferenceSession(model, options, providers=[CPU])
    except Exception as exc:
        raise ModelError(f"{label}: onnxruntime cannot load the model ({str(exc).splitlines()[0]})") from None
    if fallback:
        log.warning("%s: running on the CPU, not CUDA: %s", label, fallback)
    return Session(session, session.get_providers()[0], fallback, threads)
