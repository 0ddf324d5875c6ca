"""``postpass render-guides`` (issue 28): the guide renders of a shot's skipped frames, rendered from the saved
.blend by a background bpy child process: one multilayer EXR per frame with Denoising Albedo, Normal, Depth and
Vector at the samples asked; progress per frame and the seconds per frame at the end; a rerun skips the files
already there; bad input (no such file, not a .blend, one that does not open, no camera, EEVEE, an output that
would overwrite another file) is refused in one line naming it with exit 2, nothing rendered. The shots are real
32 px Cycles .blend files saved by bpy (conftest's make_shot)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from addon.cli import main
from addon.guide_render import GUIDE_PASSES, is_guide_file
from addon.runtime import read_exr


@pytest.fixture(scope="module")
def shots(tmp_path_factory, make_shot) -> Path:
    folder = tmp_path_factory.mktemp("shots")
    make_shot(folder / "shot.blend", size=32)
    make_shot(folder / "eevee.blend", size=32, engine="BLENDER_EEVEE")
    make_shot(folder / "nocamera.blend", size=32, camera=False)
    (folder / "truncated.blend").write_bytes((folder / "shot.blend").read_bytes()[:4000])
    (folder / "text.blend").write_text("hello")
    return folder


def error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("postpass render-guides: error: "), err
    return lines[0]


def test_renders_the_guide_passes_of_the_frames_and_resumes(shots, tmp_path, capsys):
    pattern = tmp_path / "guides" / "guides.####.exr"
    assert main(["render-guides", str(shots / "shot.blend"), "-o", str(pattern), "--frames", "2-4x2",
                 "--samples", "2"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (f"postpass render-guides: 2 frames (2,4) of {shots / 'shot.blend'} at 2 spp -> {pattern}")
    assert lines[1].startswith(f"guide frame 2 (1 of 2): {tmp_path / 'guides' / 'guides.0002.exr'} in ")
    assert lines[2].startswith(f"guide frame 4 (2 of 2): {tmp_path / 'guides' / 'guides.0004.exr'} in ")
    assert lines[-1].startswith("postpass render-guides: 2 guide frames rendered: ")
    assert lines[-1].endswith(" s per frame")
    assert sorted(p.name for p in (tmp_path / "guides").iterdir()) == ["guides.0002.exr", "guides.0004.exr"]
    for frame in (2, 4):
        path = tmp_path / "guides" / f"guides.{frame:04d}.exr"
        guide = read_exr(path)
        assert is_guide_file(path) and set(GUIDE_PASSES) <= set(guide.passes)
        assert guide.get("Vector").shape == (32, 32, 4)
        assert guide.header.get("cycles.ViewLayer.samples") in ("2", 2)
        assert str(guide.header.get("Frame")) == str(frame)
    # the sphere moves: its guide's vectors say so, and the two frames' guides differ
    assert abs(read_exr(tmp_path / "guides" / "guides.0002.exr").get("Vector")).max() > 0.1

    # a rerun with more frames renders only the new ones; the files there stay as they were
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "guides").iterdir()}
    assert main(["render-guides", str(shots / "shot.blend"), "-o", str(tmp_path / "guides" / "guides.%04d.exr"),
                 "--frames", "2-5"]) == 0
    err = capsys.readouterr().err
    assert "2 guide files already there (skipped), 2 to render" in err
    assert "guide frame 3 (1 of 2)" in err and "guide frame 5 (2 of 2)" in err and "guide frame 2 " not in err
    assert err.splitlines()[-1].startswith("postpass render-guides: 2 guide frames rendered, 2 skipped (already "
                                           "there): ")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "guides").iterdir() if p.name in before} == before
    assert sorted(p.name for p in (tmp_path / "guides").iterdir()) == [f"guides.{f:04d}.exr" for f in (2, 3, 4, 5)]

    # everything there: nothing to do, exit 0; --json gives the events
    assert main(["render-guides", str(shots / "shot.blend"), "-o", str(pattern), "--frames", "2-5", "--json"]) == 0
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["start", "done"]
    assert events[0]["todo"] == 0 and len(events[1]["skipped"]) == 4 and events[1]["rendered"] == []
    assert err == ""


@pytest.mark.parametrize("shot, output, problem", [
    ("missing.blend", "g.####.exr", "missing.blend: no such file"),
    ("text.blend", "g.####.exr", "text.blend: not a Blender file (no BLENDER header)"),
    ("truncated.blend", "g.####.exr", "truncated.blend: does not open in Blender "),
    ("eevee.blend", "g.####.exr", "eevee.blend: scene 'Scene' renders with EEVEE, not Cycles"),
    ("nocamera.blend", "g.####.exr", "nocamera.blend: scene 'Scene' has no camera"),
    ("shot.blend", "g.exr", "g.exr: needs a frame number field (guides.####.exr)"),
    ("shot.blend", "g.####.png", "g.####.png: guide files are multilayer EXRs"),
    ("shot.blend", "taken.####.exr", "taken.0003.exr: exists and is not a guide render; not overwriting it"),
])
def test_bad_input_is_refused_in_one_line_and_nothing_is_rendered(shots, tmp_path, monkeypatch, capsys, shot,
                                                                  output, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.0003.exr").write_text("someone's file")
    before = sorted(p.name for p in tmp_path.iterdir())
    path = shots / shot if (shots / shot).exists() else Path(shot)
    assert main(["render-guides", str(path), "-o", output, "--frames", "2-4"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and problem in error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "taken.0003.exr").read_text() == "someone's file"


def test_bad_options_are_usage_errors(shots, capsys):
    assert main(["render-guides", str(shots / "shot.blend"), "-o", "g.####.exr", "--frames", "4-2"]) == 2
    assert "must run upwards" in capsys.readouterr().err
    assert main(["render-guides", str(shots / "shot.blend"), "-o", "g.####.exr", "--frames", "2", "--samples",
                 "0"]) == 2
    assert "must be 1 or more" in capsys.readouterr().err
