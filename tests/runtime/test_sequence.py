"""Frame patterns and frame ranges as farms write them."""
from __future__ import annotations

import pytest

from addon.runtime.sequence import SequenceError, format_frames, frame_number, parse_frames, parse_pattern


@pytest.mark.parametrize("text, frame, name", [
    ("shot/beauty.####.exr", 7, "beauty.0007.exr"),
    ("shot/beauty.%04d.exr", 7, "beauty.0007.exr"),
    ("shot/beauty.%d.exr", 7, "beauty.7.exr"),
    ("shot/beauty_#.png", 1001, "beauty_1001.png"),
    ("shot/beauty.####.exr", 12345, "beauty.12345.exr"),  # longer than the padding: written whole
    ("shot/beauty.####.exr", -3, "beauty.-003.exr"),
])
def test_patterns_name_frames(text, frame, name):
    pattern = parse_pattern(text)
    assert pattern.path(frame).name == name and pattern.path(frame).parent.name == "shot"
    assert pattern.frame_of(name) == frame


def test_plain_file_names_are_not_patterns():
    assert parse_pattern("shot/beauty.1001.exr") is None


def test_hashes_and_percents_that_are_no_field_are_the_names_own(tmp_path):
    # folders artists name "Show #2" and textures named "wood 50%.png" are read and written as they are
    show = tmp_path / "Show #2" / "render %5"
    show.mkdir(parents=True)
    pattern = parse_pattern(show / "beauty.####.exr")
    assert pattern.folder == show and pattern.path(7) == show / "beauty.0007.exr"
    assert parse_pattern(tmp_path / "Show #2" / "new #3" / "beauty.%04d.exr").folder.name == "new #3"
    assert parse_pattern(show / "beauty.exr") is None  # a plain file in an existing folder of that name
    assert parse_pattern(tmp_path / "wood 50%.png") is None
    assert parse_pattern(tmp_path / "wood 50%.####.png").path(3).name == "wood 50%.0003.png"


@pytest.mark.parametrize("text, problem", [
    ("beauty.##.####.exr", "more than one frame number field"),
    ("beauty.%04d.%d.exr", "more than one frame number field"),
    ("shot_##/beauty.exr", "only the file name may hold the frame number"),
    ("beauty.%4d.exr", "a stray %"),
])
def test_bad_patterns_are_refused_in_one_line(text, problem):
    with pytest.raises(SequenceError, match=rf"^{text}: {problem}"):
        parse_pattern(text)


def test_frames_on_disk_follow_the_pattern_and_ignore_temporaries(tmp_path):
    for name in ("beauty.1001.exr", "beauty.1002.exr", "beauty.0999.exr", "beauty.10000.exr",
                 ".beauty.1003.k2j4.tmp.exr",  # an atomic write in progress or left by a killed process
                 "beauty.103.exr", "beauty.1004.png", "beauty.v2.exr", "other.1005.exr"):
        (tmp_path / name).touch()
    assert parse_pattern(tmp_path / "beauty.####.exr").frames_on_disk() == [999, 1001, 1002, 10000]
    assert parse_pattern(tmp_path / "beauty.%d.exr").frames_on_disk() == [103, 1001, 1002, 10000]  # unpadded
    assert parse_pattern(tmp_path / "missing" / "beauty.####.exr").frames_on_disk() == []


def test_hash_and_printf_forms_of_one_pattern_are_the_same_files(tmp_path):
    hashes, printf = parse_pattern(tmp_path / "a.####.exr"), parse_pattern(tmp_path / "." / "a.%04d.exr")
    assert hashes.same_files_as(printf) and str(printf) == str(tmp_path / "a.####.exr")
    assert not hashes.same_files_as(parse_pattern(tmp_path / "a.###.exr"))
    assert not hashes.same_files_as(parse_pattern(tmp_path / "b.####.exr"))


@pytest.mark.parametrize("text, frames", [
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1001-1010x3", [1001, 1004, 1007, 1010]),
    ("1001-1011x5", [1001, 1006, 1011]),
    ("7", [7]),
    ("1, 5,10-14x2", [1, 5, 10, 12, 14]),
    ("5,1-6x2,5", [5, 1, 3]),  # in the order given, each frame once
    ("-3--1", [-3, -2, -1]),
])
def test_frame_ranges(text, frames):
    assert parse_frames(text) == frames


@pytest.mark.parametrize("text", ["1001-", "1001-1100x", "1001..1100", "1100-1001", "1-10x0", "a-b", ""])
def test_bad_frame_ranges_are_refused(text):
    with pytest.raises(SequenceError, match=r"^frame range "):
        parse_frames(text)


@pytest.mark.parametrize("frames, text", [
    ([1001, 1002, 1003, 1005], "1001-1003,1005"),
    ([1001, 1003, 1005, 1007], "1001-1007x2"),
    ([1, 9], "1,9"),
    ([3, 1, 2, 2], "1-3"),
    ([], ""),
])
def test_frames_format_as_ranges_that_read_back(frames, text):
    assert format_frames(frames) == text
    assert sorted(set(frames)) == (sorted(parse_frames(text)) if text else [])


def test_frame_number_of_a_plain_file_name():
    assert frame_number("shot_v2.1001.exr") == 1001
    assert frame_number("renders/beauty_0012.png") == 12
    assert frame_number("beauty.exr") is None
