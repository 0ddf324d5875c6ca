"""Writing files so that readers never see half of one: temp file in the same folder, flushed to the disk, then
an atomic rename; and, when a write fails, one line that names the file meant and says why."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

#: Longest file name (bytes) most filesystems take; temporary names are shortened to fit it.
NAME_MAX = 255

#: errno -> the words a write failure is reported with (else the OS's own text).
WRITE_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "disk full (ENOSPC)",
    errno.EDQUOT: "disk quota exceeded (EDQUOT)",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error (EIO)",
    errno.ENAMETOOLONG: "file name too long",
}


@contextmanager
def atomic_output(path: str | os.PathLike, durable: bool = True):
    """Yield a temporary path beside ``path`` (same suffix); on success rename it over ``path``, else delete it.

    The rename is atomic on one filesystem, so a killed process leaves either the old file or the new one.
    ``durable``: the temporary file is flushed to the disk (``fsync``) before the rename and the folder after
    it, so a power cut cannot leave an empty or partial file under the final name either (the rename could
    otherwise reach the disk before the data). Temporary names start with a dot and contain ``.tmp.``, so
    sequence globs and resumes ignore them. The writer creates the temporary file itself, so the
    result gets the usual permissions (umask), not the owner-only ones ``mkstemp`` would give: farm outputs on
    shared storage must be readable by other nodes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_folder(path.parent)


def temporary_name(path: Path) -> str:
    """``.STEM.PID-XXXXXXXX.tmpSUFFIX`` beside ``path``, the stem shortened where the name would be too long."""
    tag = f".{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    stem = path.stem
    room = NAME_MAX - 1 - len(tag.encode())
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return str(path.with_name(f".{stem}{tag}"))


def _fsync(file: str) -> None:
    """Flush a written file's data to the disk; a late write error (ENOSPC, EIO) raises here."""
    fd = os.open(file, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename, where the OS allows it (POSIX; not Windows, not every network FS)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def write_failure(path: str | os.PathLike, exc: BaseException | None = None) -> str:
    """Why writing ``path`` failed, in a few words: from the error's errno, from an error text a library gave
    (which names its temporary file, not ``path``), else by looking at the folder (missing, not a folder, not
    writable, full)."""
    path = Path(path)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        found = _blocking_file(path)
        if found is not None:
            return f"{found} is not a directory"
    if isinstance(exc, OSError) and exc.errno in WRITE_REASONS:
        return WRITE_REASONS[exc.errno]
    text = str(exc).lower() if exc is not None else ""
    for code, words in WRITE_REASONS.items():
        if os.strerror(code).lower() in text:
            return words
    found = _blocking_file(path)
    if found is not None:
        return f"{found} is not a directory"
    folder = path.parent
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return "permission denied"
    try:
        if shutil.disk_usage(folder).free == 0:
            return WRITE_REASONS[errno.ENOSPC]
    except OSError:
        pass
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return ""


def _blocking_file(path: Path) -> Path | None:
    """The first folder on ``path``'s way that exists but is not a folder (a file where a folder should be)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
        if not parent.exists():
            return None
    return None
