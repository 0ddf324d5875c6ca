"""Issue 28, ``postpass inbetween ... --keys RANGE --guides PATTERN`` on real Cycles renders (``guided_shot``:
keys 1001, 1003, 1005 rendered in full; guide renders of 1002, 1003, 1004) with real exported models (the tiny
test models of ``models_dir``): with guides the guided model runs and the summary says why, without guides it
never does; chunks give the bytes of one run and resume; what cannot run (a missing guide file, a guide or key
without the passes, no guided model, a named model that does not read guides) is refused in one line naming the
file or the model, before anything runs (exit 2)."""
from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import pytest
from conftest import copy_models

from addon.cli import main
from addon.runtime import inbetween_file, read_image, write_exr
from addon.runtime.batch import UNCHAINED

GUIDED = "inbetween_guided"
CHOICE = f"inbetween: {GUIDED} (guide passes given; uses albedo/normal/depth/vectors)"


def inbetween(shot: Path, out: Path, *extra, guides: bool = True) -> int:
    args = ["inbetween", str(shot / "render" / "beauty.####.exr"), "-o", str(out / "b.####.exr"),
            "--keys", "1001-1005x2", "--threads", "1", *map(str, extra)]
    return main(args + (["--guides", str(shot / "guides" / "g.####.exr")] if guides else []))


def same_bytes(a: Path, b: Path, frames=(1002, 1004)) -> bool:
    return all(filecmp.cmp(a / f"b.{f}.exr", b / f"b.{f}.exr", shallow=False) for f in frames)


def test_guides_run_the_guided_model_and_chunks_give_the_bytes_of_one_run(guided_shot, models_dir, tmp_path,
                                                                         capsys):
    one = tmp_path / "one"
    assert inbetween(guided_shot, one, "--models-dir", models_dir, "--json") == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["done"] == [1002, 1004] and summary["models"] == [GUIDED] and summary["choice"] == CHOICE
    assert CHOICE in err.splitlines()  # the farm log says which model and why, once
    # each frame is the API's frame from its keys and its own guide render
    for frame, before, after in ((1002, 1001, 1003), (1004, 1003, 1005)):
        inbetween_file(guided_shot / "render" / f"beauty.{before}.exr", guided_shot / "render" / f"beauty.{after}.exr",
                       tmp_path / "api.exr", guides=guided_shot / "guides" / f"g.{frame}.exr", models_dir=models_dir,
                       threads=1)
        assert filecmp.cmp(tmp_path / "api.exr", one / f"b.{frame}.exr", shallow=False)
    assert not filecmp.cmp(one / "b.1002.exr", one / "b.1004.exr", shallow=False)

    # chunks read the keys beside them and give the same bytes
    chunks = tmp_path / "chunks"
    assert inbetween(guided_shot, chunks, "--models-dir", models_dir, "--frames", "1001-1002", "-q") == 0
    assert sorted(p.name for p in chunks.iterdir()) == ["b.1002.exr"]  # reads key 1003 beside the chunk
    assert inbetween(guided_shot, chunks, "--models-dir", models_dir, "--frames", "1003-1005", "-q") == 0
    assert same_bytes(one, chunks)

    # a killed chunk resumes: only the missing frame is made, and it is the same frame again
    (chunks / "b.1004.exr").unlink()
    capsys.readouterr()
    assert inbetween(guided_shot, chunks, "--models-dir", models_dir, "--skip-existing", "--json", "-q") == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["done"] == [1004] and resumed["skipped"] == [1002] and resumed["choice"] == CHOICE
    assert same_bytes(one, chunks)


def test_keys_every_fourth_frame_follow_the_guides_of_the_frames_between(guided_shot, models_dir, tmp_path,
                                                                        capsys):
    """Keys 1001 and 1005, guide renders of 1002-1004: each key is moved along the guides' vectors frame by
    frame (frame 1002's key after along 1002's, 1003's and 1004's), which is the API's ``key_chains``; a guide
    missing between a frame and a key leaves that side on the scaled vectors, and the summary says so."""
    def cli(guides: Path, out: Path, *extra) -> dict:
        assert main(["inbetween", str(guided_shot / "render" / "beauty.####.exr"), "-o", str(out / "b.####.exr"),
                     "--keys", "1001,1005", "--guides", str(guides / "g.####.exr"), "--threads", "1",
                     "--models-dir", str(models_dir), "--json", "-q", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    def api(frame: int, guides: Path, **chains) -> Path:
        inbetween_file(guided_shot / "render" / "beauty.1001.exr", guided_shot / "render" / "beauty.1005.exr",
                       tmp_path / "api.exr", t=(frame - 1001) / 4, key_steps=4, guides=guides / f"g.{frame}.exr",
                       key_chains={k: [guides / f"g.{f}.exr" for f in v] for k, v in chains.items()} or None,
                       models_dir=models_dir, threads=1)
        return tmp_path / "api.exr"

    guides, out = guided_shot / "guides", tmp_path / "out"
    summary = cli(guides, out)
    assert summary["done"] == [1002, 1003, 1004] and summary["notes"] == []
    for frame, chains in ((1002, {"next": [1003, 1004]}), (1003, {"prev": [1002], "next": [1004]}),
                          (1004, {"prev": [1003, 1002]})):
        assert filecmp.cmp(api(frame, guides, **chains), out / f"b.{frame}.exr", shallow=False), frame
    assert not filecmp.cmp(api(1003, guides), out / "b.1003.exr", shallow=False)  # not the scaled vectors

    partial = Path(shutil.copytree(guides, tmp_path / "partial"))
    (partial / "g.1002.exr").unlink()  # frame 1003's way back to key 1001 has a gap: only its next side chains
    summary = cli(partial, tmp_path / "gap", "--frames", "1003-1004")
    assert summary["done"] == [1003, 1004]
    assert summary["notes"] == [{"note": UNCHAINED, "frames": [1003, 1004]}]
    assert filecmp.cmp(api(1003, partial, next=[1004]), tmp_path / "gap" / "b.1003.exr", shallow=False)
    assert filecmp.cmp(api(1004, partial), tmp_path / "gap" / "b.1004.exr", shallow=False)


def test_without_guides_the_guided_model_never_runs(guided_shot, models_dir, tmp_path, capsys):
    assert inbetween(guided_shot, tmp_path / "plain", "--models-dir", models_dir, "--json", "-q", guides=False) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == [1002, 1004] and summary["models"] == ["inbetween_vectors"]
    assert "guide" not in summary["choice"]
    guided_only = copy_models(models_dir, [GUIDED], tmp_path / "guided_only")
    assert inbetween(guided_shot, tmp_path / "x", "--models-dir", guided_only, guides=False) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"postpass inbetween: error: no inbetween model in {guided_only / 'registry.json'} reads key frames alone "
        f"(its inbetween models: {GUIDED} (key frames and guides))"]
    assert inbetween(guided_shot, tmp_path / "x", "--models-dir", models_dir, "--model", GUIDED, guides=False) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"postpass inbetween: error: model '{GUIDED}' reads key frames and guides, not key frames alone"]
    assert not (tmp_path / "x").exists()


def refused(shot: Path, out: Path, models, capsys, *extra) -> list[str]:
    """stderr of a run that must stop before anything runs (exit 2, nothing written)."""
    assert inbetween(shot, out, "--models-dir", models, *extra) == 2
    assert not out.exists()
    return capsys.readouterr().err.splitlines()


KEY_ADVICE = ("reads key frames and guides and needs Combined, Denoising Albedo, Denoising Normal and Denoising Depth "
              "in every key frame; render the key frames with Denoising Data")
GUIDE_ADVICE = ("reads key frames and guides and needs Denoising Albedo, Denoising Normal, Denoising Depth and "
                "Vector in every guide; render the guides with Denoising Data and the Vector pass")


@pytest.mark.parametrize("file, drop, problem", [
    ("guides/g.1004.exr", None, "file does not exist (the guide render of frame 1004, which this run makes; "
                                "render the guides of every frame it makes)"),
    ("guides/g.1004.exr", ("Vector",), f"no Vector pass in view layer 'ViewLayer': {GUIDED} {GUIDE_ADVICE}"),
    ("guides/g.1002.exr", ("Denoising Albedo", "Denoising Normal", "Denoising Depth"),
     f"no Denoising Albedo, Denoising Normal and Denoising Depth passes in view layer 'ViewLayer': {GUIDED} "
     f"{GUIDE_ADVICE}"),
    ("render/beauty.1005.exr", ("Denoising Albedo", "Denoising Normal", "Denoising Depth"),
     f"no Denoising Albedo, Denoising Normal and Denoising Depth passes in view layer 'ViewLayer': {GUIDED} "
     f"{KEY_ADVICE}"),
])
def test_files_that_cannot_serve_are_refused_before_anything_runs(guided_shot, models_dir, tmp_path, capsys, file,
                                                                  drop, problem):
    shot = Path(shutil.copytree(guided_shot, tmp_path / "shot"))
    broken = shot / file
    if drop is None:
        broken.unlink()
    else:
        write_exr(broken, {p: a for p, a in read_image(broken).passes.items() if p not in drop})
    out = tmp_path / "out"
    assert refused(shot, out, models_dir, capsys) == [f"postpass inbetween: error: {broken}: {problem}"]
    if file.startswith("render"):  # a key beside the chunk is checked too
        assert refused(shot, out, models_dir, capsys, "--frames", "1004") == [
            f"postpass inbetween: error: {broken}: {problem}"]
    # without --guides the same keys still inbetween, by the models that need no Denoising Data
    assert inbetween(shot, out, "--models-dir", models_dir, "-q", guides=False) == 0


def test_a_guide_file_for_several_frames_is_refused(guided_shot, models_dir, tmp_path, capsys):
    one_file = guided_shot / "guides" / "g.1002.exr"
    assert main(["inbetween", str(guided_shot / "render" / "beauty.####.exr"), "-o", str(tmp_path / "b.####.exr"),
                 "--keys", "1001-1005x2", "--guides", str(one_file), "--models-dir", str(models_dir)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"postpass inbetween: error: {one_file}: one guide file for 2 frames (1002,1004); each frame needs its own "
        "guide render: give a pattern (guides.####.exr)"]
    # one frame made: one file is its guide
    assert main(["inbetween", str(guided_shot / "render" / "beauty.####.exr"), "-o", str(tmp_path / "b.1002.exr"),
                 "--keys", "1001-1005x2", "--frames", "1002", "--guides", str(one_file), "--models-dir",
                 str(models_dir), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["models"] == [GUIDED]


def test_no_model_that_reads_guides_is_refused_in_one_line(guided_shot, models_dir, tmp_path, capsys):
    unguided = copy_models(models_dir, ["inbetween_vectors", "inbetween_flow"], tmp_path / "models")
    out = tmp_path / "out"
    line = (f"no inbetween model in {unguided / 'registry.json'} reads key frames and guides (its inbetween models: "
            "inbetween_vectors (key frames alone), inbetween_flow (key frames alone))")
    assert refused(guided_shot, out, unguided, capsys) == [f"postpass inbetween: error: {line}"]
    assert inbetween(guided_shot, out, "--models-dir", unguided, "--json") == 2
    assert json.loads(capsys.readouterr().out) == {"error": line, "exit_code": 2}
    assert refused(guided_shot, out, models_dir, capsys, "--model", "inbetween_vectors") == [
        "postpass inbetween: error: model 'inbetween_vectors' reads key frames alone, not key frames and guides"]


def test_help_lists_the_guides_option(capsys):
    assert main(["inbetween", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--guides PATTERN guide renders of the frames to make" in text and "--guides g.####.exr" in text


def test_blenders_skipped_frames_follow_the_guides_between_as_the_command_does(guided_shot, models_dir, tmp_path):
    """The add-on's make_skipped (what Blender runs when a render every 4th frame ends): frames 1002-1004 from keys
    1001 and 1005 and their guides are the bytes ``postpass inbetween --guides`` writes; without a frame's guide
    between, that side is moved along the frame's own vectors scaled (``jobs.guide_chains``)."""
    from addon import jobs

    render, guides = guided_shot / "render", guided_shot / "guides"
    files = {f: str(guides / f"g.{f}.exr") for f in (1002, 1003, 1004)}
    assert jobs.guide_chains((1002, 1003, 1004), 0, files) == {"next": [files[1003], files[1004]]}
    assert jobs.guide_chains((1002, 1003, 1004), 2, files) == {"prev": [files[1003], files[1002]]}
    assert jobs.guide_chains((1002, 1003, 1004), 1, {1002: files[1002], 1003: files[1003]}) == {"prev": [files[1002]]}
    assert jobs.guide_chains((1002,), 0, files) is None  # keys every other frame: nothing between

    options = jobs.RunOptions(None, models_dir, device="cpu", threads=1)
    out = tmp_path / "blender"
    out.mkdir()
    step = jobs.Step("inbetween", options, {}, tuple((str(render / "beauty.1001.exr"), (f - 1001) / 4,
                                                     str(out / f"b.{f}.exr")) for f in (1002, 1003, 1004)))
    batch = jobs.SkippedFrames(step, str(render / "beauty.1005.exr"), (1002, 1003, 1004), "ViewLayer", 4)
    made = jobs.make_skipped([batch], files)
    assert [(m[0], m[2], m[3]) for m in made] == [(f, files[f], GUIDED) for f in (1002, 1003, 1004)]
    assert main(["inbetween", str(render / "beauty.####.exr"), "-o", str(tmp_path / "cli" / "b.####.exr"),
                 "--keys", "1001,1005", "--guides", str(guides / "g.####.exr"), "--threads", "1",
                 "--models-dir", str(models_dir), "-q"]) == 0
    assert same_bytes(out, tmp_path / "cli", (1002, 1003, 1004))
