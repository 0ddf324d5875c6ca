"""Atomic outputs: whole files or none, with the permissions any other file would get."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from addon.runtime.exr import read_exr, write_exr
from addon.runtime.files import atomic_output


def test_outputs_get_umask_permissions_not_owner_only(tmp_path):
    """Farm outputs land on shared storage: other nodes and users must be able to read them."""
    old = os.umask(0o022)
    try:
        write_exr(tmp_path / "frame.exr", {"Combined": np.ones((4, 4, 4), np.float32)})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "frame.exr").stat().st_mode)
    assert mode == 0o644, oct(mode)
    assert read_exr(tmp_path / "frame.exr").get("Combined").shape == (4, 4, 4)


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]
    with pytest.raises(FileNotFoundError):  # a writer that silently wrote nothing must not pass for success
        with atomic_output(target):
            pass
    assert target.read_bytes() == b"old"
