"""Planning a batch: one job per output frame from patterns or files, inputs never overwritten, inbetween
reading its key frames wherever they lie."""
from __future__ import annotations

import pytest

from addon.runtime.batch import BatchError, plan


@pytest.fixture
def shot(tmp_path):
    """An (empty-file) sequence shot/beauty.1001.exr ... 1006 and its folder."""
    folder = tmp_path / "shot"
    folder.mkdir()
    for frame in range(1001, 1007):
        (folder / f"beauty.{frame}.exr").touch()
    return folder


def test_pattern_forms_and_explicit_files_plan_the_same_jobs(shot, tmp_path):
    out = tmp_path / "out"
    hashes = plan("denoise", [str(shot / "beauty.####.exr")], str(out / "clean.####.exr"))
    printf = plan("denoise", [str(shot / "beauty.%04d.exr")], str(out / "clean.%04d.exr"))
    files = plan("denoise", [str(shot / f"beauty.{f}.exr") for f in range(1001, 1007)], str(out / "clean.####.exr"))
    assert hashes == printf == files
    assert [j.frame for j in hashes] == list(range(1001, 1007))
    assert hashes[2].sources == (str(shot / "beauty.1003.exr"),) and hashes[2].output == str(out / "clean.1003.exr")

    into_folder = plan("denoise", [str(shot / "beauty.####.exr")], f"{out}/", frames=[1001, 1003])
    assert [j.output for j in into_folder] == [str(out / "beauty.1001.exr"), str(out / "beauty.1003.exr")]
    single = plan("denoise", [str(shot / "beauty.1002.exr")], str(out / "one.png"))
    assert [(j.frame, j.output) for j in single] == [(1002, str(out / "one.png"))]


def test_frames_select_the_work_and_may_name_frames_not_on_disk(shot, tmp_path):
    jobs = plan("denoise", [str(shot / "beauty.####.exr")], str(tmp_path / "c.####.exr"), frames=[1001, 1003, 1009])
    assert [j.frame for j in jobs] == [1001, 1003, 1009]  # 1009 will fail at run time, naming its file


@pytest.mark.parametrize("task, inputs, output, extra, problem", [
    ("denoise", ["beauty.####.exr"], "beauty.%04d.exr", {}, "the output pattern is the input pattern"),
    ("denoise", ["beauty.1001.exr", "beauty.1002.exr"], "./", {}, "beauty.1001.exr: is also an input"),
    ("upres", ["beauty.####.exr"], "guide.####.exr", {"guide": "guide.####.exr"}, "guide.1001.exr: is also an input"),
    ("colorize", ["beauty.####.exr"], "out.####.png", {"hints": "h.png", "mask": "out.1003.png"},
     "out.1003.png: is also an input"),
    ("colorize", ["beauty.####.exr"], "out/", {"mask": "mask.png"}, "mask.png: a hint mask needs hints"),
    ("denoise", ["beauty.####.exr"], "beauty.1001.exr", {}, "several frames need an output pattern"),
    ("denoise", ["beauty.1001.exr", "beauty.####.exr"], "out/", {}, "give one input pattern or a list of files"),
    ("denoise", ["beauty.1001.exr"], "out/", {"frames": [1001]}, "--frames selects frames of an input pattern"),
    ("denoise", ["missing.####.exr"], "out/", {}, "missing.####.exr: no frames on disk match this pattern"),
    # a range that misses the sequence (1-999 for 1001-1006) is one refusal, not a failure per frame
    ("denoise", ["beauty.####.exr"], "out/", {"frames": list(range(1, 1000))},
     r"beauty.####.exr: none of the 999 frames asked \(1-999\) is on disk \(frames on disk: 1001-1006\)"),
    # a mistyped range that holds the sequence and millions beside it: one refusal before millions of jobs
    ("denoise", ["beauty.####.exr"], "out/", {"frames": list(range(1, 3000001))},
     r"beauty.####.exr: 2999994 of the 3000000 frames asked \(1-3000000\) are not on disk, 6 are \(frames on disk: "
     r"1001-1006\): check --frames"),
    ("denoise", ["beauty.####.exr"], "out/", {"hints": "h.png"}, r"denoise takes no option hints \(its options: temporal"),
    ("sharpen", ["beauty.####.exr"], "out/", {}, "unknown task 'sharpen'; choose one of denoise, upres, colorize, inb"),
])
def test_plans_that_would_overwrite_inputs_or_make_no_sense_are_refused(shot, monkeypatch, task, inputs, output,
                                                                        extra, problem):
    monkeypatch.chdir(shot)
    with pytest.raises(BatchError, match=problem):
        plan(task, inputs, output, extra.pop("frames", None), **extra)


def test_two_inputs_of_one_name_cannot_share_an_output_folder(shot, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "beauty.1001.exr").touch()
    with pytest.raises(BatchError, match=r"beauty.1001.exr: both frame 1001 and frame 1001 would write it"):
        plan("denoise", [str(shot / "beauty.1001.exr"), str(other / "beauty.1001.exr")], str(tmp_path / "out") + "/")


def test_an_output_folder_holding_the_input_pattern_is_refused(shot):
    # keys 1001 and 1005: the run reads none of the rendered frames 1002-1004, but into the input's folder it
    # would write its frames 1002-1004 over them
    pattern = str(shot / "beauty.####.exr")
    for output in (f"{shot}/", str(shot), f"{shot}/../shot"):
        with pytest.raises(BatchError, match=r"the output folder is the input pattern's folder .*refusing to write"):
            plan("inbetween", [pattern], output, keys=[1001, 1005])
    elsewhere = plan("inbetween", [pattern], str(shot / "inb") + "/", keys=[1001, 1005])
    assert [j.frame for j in elsewhere] == [1002, 1003, 1004]


def test_inbetween_reads_key_frames_outside_its_chunk(tmp_path):
    for frame in range(1001, 1010, 2):  # rendered every other frame: 1001, 1003, ... 1009
        (tmp_path / f"beauty.{frame}.exr").touch()
    pattern, out = str(tmp_path / "beauty.####.exr"), str(tmp_path / "inb" / "beauty.####.exr")
    chunk = plan("inbetween", [pattern], out, frames=[1003, 1004, 1005, 1006], keys=list(range(1001, 1010, 2)))
    # 1003 and 1005 are rendered keys; t, the frame's place between its keys, is a model input of the job
    assert [(j.frame, j.inputs) for j in chunk] == [(1004, (("t", 0.5),)), (1006, (("t", 0.5),))]
    assert {j.key_steps for j in chunk} == {2}  # the Vector passes span 1 of the keys' 2 steps
    # 1007 lies in the next chunk: read it all the same
    assert chunk[1].sources == (str(tmp_path / "beauty.1005.exr"), str(tmp_path / "beauty.1007.exr"))

    every_fourth = plan("inbetween", [pattern], out, keys=[1001, 1005, 1009])
    assert [(j.frame, dict(j.inputs)["t"]) for j in every_fourth] == [(1002, 0.25), (1003, 0.5), (1004, 0.75),
                                                                      (1006, 0.25), (1007, 0.5), (1008, 0.75)]
    assert {j.key_steps for j in every_fourth} == {4}
    from_disk = plan("inbetween", [pattern], out)  # no --keys: the frames on disk are the keys
    assert [j.frame for j in from_disk] == [1002, 1004, 1006, 1008]

    past_the_end = plan("inbetween", [pattern], out, frames=[1008, 1010], keys=list(range(1001, 1010, 2)))
    assert past_the_end[0].problem is None
    assert past_the_end[1].problem == f"{pattern}: no key frame after frame 1010 (keys 1001-1009x2)"

    with pytest.raises(BatchError, match="the output pattern is the input pattern"):
        plan("inbetween", [pattern], pattern)  # its outputs would become keys of the next run
    with pytest.raises(BatchError, match="inbetween reads a sequence"):
        plan("inbetween", [str(tmp_path / "beauty.1001.exr"), str(tmp_path / "beauty.1003.exr")], out)
