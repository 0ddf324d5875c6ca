"""Frame sequences as farms name them: ``#``-padded or printf file patterns, and frame ranges.

Patterns: ``beauty.####.exr`` (four ``#``: frame 7 is ``beauty.0007.exr``), ``beauty.%04d.exr`` (the same),
``beauty.%d.exr`` (no padding). Only the file name may hold the frame number, and only once: a folder's ``#``
and ``%`` are its own characters (``Show #2/beauty.####.exr``), and so is a ``%`` of a file name that is no
field (``wood 50%.png``; ``%4d``, which pads with spaces, is refused). Frames longer than the padding are
written whole (``10000`` for ``####``), as Blender does.

Ranges (``--frames``): ``1001-1100``, with a step ``1001-1100x2``, single frames, and comma-separated lists of
those: ``1001,1005,1010-1020x5``. The frames come out in the order given, each once.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0\d+)?d")
_SPACE_PADDED = re.compile(r"%[1-9]\d*d")  # %4d pads with spaces: meant as %04d, refused
_RANGE = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$")


class SequenceError(ValueError):
    """A pattern or a frame range that cannot be used; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class FramePattern:
    """A file name pattern with one frame number field: ``folder/prefix<frame>suffix``."""

    folder: Path
    prefix: str
    suffix: str
    padding: int  # digits the frame number is zero-padded to (1: no padding)

    def path(self, frame: int) -> Path:
        return self.folder / f"{self.prefix}{frame:0{self.padding}d}{self.suffix}"

    def frame_of(self, name: str) -> int | None:
        """The frame number a file name of this pattern holds, None if the name is not of this pattern."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix):len(name) - len(self.suffix)]
        if not re.fullmatch(r"-?\d+", digits):
            return None
        frame = int(digits)
        return frame if f"{frame:0{self.padding}d}" == digits else None

    def frames_on_disk(self) -> list[int]:
        """Frames whose file exists, sorted; hidden files (temporaries of atomic writes) never count."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        frames = (self.frame_of(n) for n in names if not n.startswith("."))
        return sorted(f for f in frames if f is not None)

    def same_files_as(self, other: FramePattern) -> bool:
        """Whether both patterns name the same files (``####`` and ``%04d`` in one folder are one pattern)."""
        return (os.path.realpath(self.folder), self.prefix, self.suffix, self.padding) == \
            (os.path.realpath(other.folder), other.prefix, other.suffix, other.padding)

    def __str__(self) -> str:
        return str(self.folder / f"{self.prefix}{'#' * self.padding}{self.suffix}")


def parse_pattern(text: str | os.PathLike) -> FramePattern | None:
    """The pattern ``text`` describes, or None if it is a plain file name (no ``#`` and no ``%d``)."""
    path = Path(text)
    name = path.name
    fields = [(m.start(), m.end(), len(m.group())) for m in _HASHES.finditer(name)]
    fields += [(m.start(), m.end(), int(m.group(1) or 1)) for m in _PRINTF.finditer(name)]
    if len(fields) > 1:
        raise SequenceError(f"{text}: more than one frame number field; use one run of # or one %0Nd")
    if _SPACE_PADDED.search(name):
        raise SequenceError(f"{text}: a stray % in the file name; the frame number field is %d or %0Nd")
    # A folder that exists is the folder of that name ("Show #2"); one that does not, under a plain file name,
    # is most likely a frame field put in the wrong place
    folder_field = "#" in str(path.parent) or _PRINTF.search(str(path.parent))
    if folder_field and not fields and not path.parent.is_dir():
        raise SequenceError(f"{text}: only the file name may hold the frame number, not the folder")
    if not fields:
        return None
    start, end, padding = fields[0]
    return FramePattern(path.parent, name[:start], name[end:], max(padding, 1))


def parse_frames(text: str) -> list[int]:
    """``1001-1100``, ``1001-1100x2``, ``7``, and comma lists of those -> the frames, in order, each once."""
    frames: list[int] = []
    for item in text.replace(" ", "").split(","):
        match = _RANGE.match(item)
        if not match:
            raise SequenceError(f"frame range {text!r}: cannot read {item!r} "
                                "(use 1001-1100, 1001-1100x2, 1001 or a comma list of those)")
        first, last, step = match.group(1), match.group(2), match.group(3)
        first = int(first)
        last = first if last is None else int(last)
        step = 1 if step is None else int(step)
        if last < first or step < 1:
            raise SequenceError(f"frame range {text!r}: {item!r} must run upwards with a step of at least 1")
        frames += range(first, last + 1, step)
    return list(dict.fromkeys(frames))


def format_frames(frames: list[int]) -> str:
    """A short text for a list of frames, the inverse of :func:`parse_frames`: ``1001-1005,1007-1011x2``."""
    frames = sorted(set(frames))
    pieces, i = [], 0
    while i < len(frames):
        j, step = i, 1
        if i + 1 < len(frames):
            step = frames[i + 1] - frames[i]
            j = i + 1
            while j + 1 < len(frames) and frames[j + 1] - frames[j] == step:
                j += 1
            if j == i + 1 and step != 1:  # two frames far apart read better as a list than as a range
                j = i
        pieces.append(str(frames[i]) if j == i else f"{frames[i]}-{frames[j]}" + (f"x{step}" if step > 1 else ""))
        i = j + 1
    return ",".join(pieces)


def frame_number(path: str | os.PathLike) -> int | None:
    """The frame number in a plain file name: its last run of digits (``shot_v2.1001.exr`` -> 1001), or None."""
    stem = Path(path).name.split(".")
    digits = re.findall(r"\d+", ".".join(stem[:-1]) if len(stem) > 1 else stem[0])
    return int(digits[-1]) if digits else None
