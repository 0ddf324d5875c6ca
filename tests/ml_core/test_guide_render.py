"""Guide renders (``addon/guide_render.py``, issue 28): a real Cycles render of a small shot in a child process.

The guide render's passes must be those of an ordinary render of the shot at the same seed and samples (what the
inbetween model trained on), only cheaper: the diffuse / volume bounces it drops never change the Denoising Data
or Vector passes. Measured on the authored animations and glass scenes (``python -m bench guide_cost``) and here:
the difference is exactly 0 (same seed: the same paths up to the first non-specular hit), so the tolerance is
float noise; dropping *every* bounce does change the passes behind glass, which the glass case checks the test
can see.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addon import guide_render
from addon.runtime.exr import read_exr

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-6  # mean abs difference per pass; measured 0.0

CHILD = r"""
import json, sys
from pathlib import Path
from ml_core import blender
bpy = blender.import_bpy()
from addon import guide_render as gr

blend, out = Path(sys.argv[1]), Path(sys.argv[2])
report = {}
with blender.quiet_stdout():
    report["first"] = gr.render_guides(blend, [2, 3], out / "guides.####.exr", samples=2, seed=7)
    report["second"] = gr.render_guides(blend, [2, 3], out / "guides.####.exr", samples=2, seed=7)
    (out / "junk.0004.exr").write_text("not a guide")
    try:
        gr.render_guides(blend, [4], out / "junk.####.exr")
        report["junk"] = "rendered"
    except gr.GuideError as exc:
        report["junk"] = str(exc)

    # an ordinary render of the shot: its own bounces, same seed and samples, the passes on
    bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
    sc = bpy.context.scene
    before = {k: getattr(sc.cycles, k) for k in ("samples", "diffuse_bounces", "max_bounces", "seed")}
    before["media_type"] = sc.render.image_settings.media_type
    sc.cycles.samples, sc.cycles.seed, sc.cycles.use_adaptive_sampling = 2, 7, False
    sc.view_layers[0].use_pass_vector = True
    sc.view_layers[0].cycles.denoising_store_passes = True
    sc.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
    sc.render.image_settings.color_depth = "32"
    sc.render.use_file_extension = False
    sc.frame_set(2)
    sc.render.filepath = str(out / "normal.0002.exr")
    bpy.ops.render.render(write_still=True, scene=sc.name)

    # glass: the sphere becomes clear glass; guide vs the shot's bounces, and vs no bounces at all
    bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
    sc = bpy.context.scene
    before = {k: getattr(sc.cycles, k) for k in ("samples", "diffuse_bounces", "max_bounces", "seed")}
    before["media_type"] = sc.render.image_settings.media_type
    before["format"] = [sc.render.image_settings.file_format, sc.render.image_settings.color_depth]
    before["vector"] = sc.view_layers[0].use_pass_vector
    mat = bpy.data.materials.new("glass")
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Transmission Weight"].default_value = 1.0
    bsdf.inputs["Roughness"].default_value = 0.0
    ball = next(o for o in bpy.data.objects if o.type == "MESH" and len(o.data.polygons) > 1)
    ball.data.materials.clear()
    ball.data.materials.append(mat)
    r = gr.render_guide_frames(sc, [2], out / "glass_guide.####.exr", samples=2, seed=7, bpy=bpy)
    gr.render_guide_frames(sc, [2], out / "glass_own.####.exr", samples=2, seed=7, reduce_bounces=False, bpy=bpy)
    sc.cycles.max_bounces = 0
    gr.render_guide_frames(sc, [2], out / "glass_zero.####.exr", samples=2, seed=7, reduce_bounces=False, bpy=bpy)
    sc.cycles.max_bounces = before["max_bounces"]
    after = {k: getattr(sc.cycles, k) for k in ("samples", "diffuse_bounces", "max_bounces", "seed")}
    after["media_type"] = sc.render.image_settings.media_type
    after["format"] = [sc.render.image_settings.file_format, sc.render.image_settings.color_depth]
    after["vector"] = sc.view_layers[0].use_pass_vector
    report["restored"] = [before, after, sc.frame_current]
    report["changed"] = r["settings"]
print("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, make_shot):
    folder = tmp_path_factory.mktemp("guides")
    blend = make_shot(folder / "shot.blend", size=48)
    out = folder / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", CHILD, str(blend), str(out)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REPORT"))
    return out, blend, json.loads(line[len("REPORT"):])


def _mad(a, b, name):
    x, y = a.get(name), b.get(name)
    if name == "Denoising Depth":
        x, y = np.minimum(x, 1e4), np.minimum(y, 1e4)
    return float(np.abs(x - y).mean())


def test_guide_passes_match_an_ordinary_render(rendered):
    out, _, report = rendered
    assert [Path(p).name for p in report["first"]["rendered"]] == ["guides.0002.exr", "guides.0003.exr"]
    guide, normal = read_exr(out / "guides.0002.exr"), read_exr(out / "normal.0002.exr")
    shapes = {"Denoising Albedo": 3, "Denoising Normal": 3, "Denoising Depth": 1, "Vector": 4}
    for name in guide_render.GUIDE_PASSES:
        assert guide.get(name).shape == (48, 48, shapes[name]), name
        assert _mad(guide, normal, name) <= TOLERANCE, name
    assert np.abs(guide.get("Vector")).max() > 0.1  # the ball moves: real vectors (motion blur is off)
    assert guide_render.is_guide_file(out / "guides.0003.exr")
    assert report["changed"]["cycles.samples"] == 4 and "cycles.diffuse_bounces" in report["changed"]


def test_glass_passes_follow_the_kept_bounces(rendered):
    out, _, _ = rendered
    guide, own, zero = (read_exr(out / f"glass_{k}.0002.exr") for k in ("guide", "own", "zero"))
    for name in guide_render.GUIDE_PASSES:
        assert _mad(guide, own, name) <= TOLERANCE, name
    # no bounces at all loses what is seen through the glass: the check can tell
    assert _mad(guide, zero, "Denoising Albedo") > 100 * TOLERANCE


def test_second_call_resumes_and_settings_are_restored(rendered):
    out, blend, report = rendered
    assert report["second"]["rendered"] == [] and len(report["second"]["skipped"]) == 2
    assert "not a guide render" in report["junk"] and (out / "junk.0004.exr").read_text() == "not a guide"
    before, after, frame = report["restored"]
    assert before == after and frame == 1
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary file left
    assert blend.is_file()


def test_guide_path():
    assert guide_render.guide_path("/x/guides.####.exr", 7) == Path("/x/guides.0007.exr")
    assert guide_render.guide_path("/x/f_##_g.exr", 123).name == "f_123_g.exr"
    with pytest.raises(guide_render.GuideError):
        guide_render.guide_path("/x/guides.exr", 1)


AUTHORED = r"""
import json, sys
from pathlib import Path
from ml_core.authored import SCENES
from ml_core.authored.guides import render_guides
out = Path(sys.argv[1])
first = render_guides(out, ["anim_turntable", "anim_room_lamp"], spp=1)
second = render_guides(out, ["anim_turntable"], spp=1)
print("REPORT" + json.dumps([first, second]))
"""


def test_authored_guides_step_renders_beside_the_references_and_resumes(tmp_path):
    """``python -m ml_core.authored guides``: a complete animated folder (its manifest: 24 px) gets the five
    ``frame_000K_guides.exr`` at its size, nothing else in it changes, a rerun skips them; an unbuilt scene is
    reported missing."""
    folder = tmp_path / "anim_turntable"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"width": 24, "height": 24}))
    (folder / "frame_0001_reference.exr").write_text("the reference")
    done = subprocess.run([sys.executable, "-c", AUTHORED, str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("REPORT"))[6:])
    assert first["scenes"][0]["rendered"] == 5 and first["missing"] == ["anim_room_lamp"]
    assert second["scenes"][0]["rendered"] == 0 and second["scenes"][0]["skipped"] == 5
    assert (folder / "frame_0001_reference.exr").read_text() == "the reference"
    record = json.loads((folder / "guides.json").read_text())
    assert record["spp"] == 1 and len({f["seed"] for f in record["files"].values()}) == 5
    guide = read_exr(folder / "frame_0003_guides.exr")
    for name in guide_render.GUIDE_PASSES:
        assert guide.get(name).shape[:2] == (24, 24), name
