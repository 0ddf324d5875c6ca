"""Writing files so that readers never see half of one: temp file in the same folder, then an atomic rename."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` (same suffix); on success rename it over ``path``, else delete it.

    The rename is atomic on one filesystem, so a killed process leaves either the old file or the new one.
    Temporary names start with a dot and contain ``.tmp.``, so sequence globs and resumes ignore them. The
    writer creates the temporary file itself, so the result gets the usual permissions (umask), not the
    owner-only ones ``mkstemp`` would give: farm outputs on shared storage must be readable by other nodes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}"))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
