"""``python -m ml_core.authored lowres`` (issue 25): the authored stills at 1/2 and 1/4 size beside their
references, the up-res benchmark's deployment case; real Cycles in a child process (bpy never shares a process
with OpenEXR)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from addon.runtime.exr import read_exr

REPO = Path(__file__).resolve().parents[2]

LOWRES = r"""
import json, sys
from pathlib import Path
from ml_core.authored.lowres import render_lowres
from ml_core.authored.build import AuthoredError
out = Path(sys.argv[1])
first = render_lowres(out, ["studio_product", "dof_row"], spp=2, threads=1)
second = render_lowres(out, ["studio_product"], spp=2, threads=1)
try:
    render_lowres(out, ["studio_product"], spp=3)
    refused = None
except AuthoredError as exc:
    refused = str(exc)
print("REPORT" + json.dumps([first, second, refused]))
"""


def test_lowres_step_renders_half_and_quarter_size_beside_the_reference_and_resumes(tmp_path):
    """A complete still folder (its manifest: 32 px) gets lowres_x2.exr (16 px) and lowres_x4.exr (8 px) at the
    asked samples, nothing else in it changes, a rerun skips them, other samples are refused; an unbuilt scene is
    reported missing."""
    folder = tmp_path / "studio_product"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"width": 32, "height": 32}))
    (folder / "reference.exr").write_text("the reference")
    done = subprocess.run([sys.executable, "-c", LOWRES, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second, refused = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("REPORT"))[6:])
    assert first["scenes"][0]["rendered"] == 2 and first["missing"] == ["dof_row"] and first["spp"] == 2
    assert second["scenes"][0]["rendered"] == 0
    assert refused and "made at 2 spp, not 3" in refused
    assert (folder / "reference.exr").read_text() == "the reference"
    for scale in (2, 4):
        image = read_exr(folder / f"lowres_x{scale}.exr")
        assert image.get("Combined").shape[:2] == (32 // scale,) * 2 and image.get("Combined").max() > 0
    record = json.loads((folder / "lowres.json").read_text())
    assert record["spp"] == 2 and {f["scale"] for f in record["files"].values()} == {2, 4}
    assert not any(p.name.startswith(".") for p in folder.iterdir())  # no temporary file left
