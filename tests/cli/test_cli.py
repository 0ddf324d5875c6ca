"""The ``postpass`` command on real Cycles sequences, run as a subprocess wherever exit codes, logs and kills
matter: pattern forms, multilayer passthrough, frame ranges, broken frames, refusals, resume after a kill."""
from __future__ import annotations

import fcntl
import filecmp
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from conftest import SEQUENCE_FRAMES

from addon.cli import main
from addon.runtime import denoise_file, inbetween_file, read_exr, read_image

REPO = Path(__file__).resolve().parents[2]
FRAMES = list(SEQUENCE_FRAMES)


def postpass(*args, models_dir, **popen) -> subprocess.CompletedProcess:
    """Run ``python -m addon.cli ARGS`` as farms run it: its own process, stdout and stderr captured."""
    env = {**os.environ, "POSTPASS_MODELS": str(models_dir)}
    return subprocess.run([sys.executable, "-m", "addon.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, **popen)


def exr_parts(path) -> list[tuple[str, dict, dict]]:
    """[(part name, header as text, {channel: pixels})] straight from OpenEXR."""
    return [(p.name(), {k: repr(v) for k, v in p.header.items()}, {n: c.pixels for n, c in p.channels.items()})
            for p in OpenEXR.File(str(path), separate_channels=True).parts]


def same_files(folder_a: Path, folder_b: Path, names: list[str]) -> bool:
    return all(filecmp.cmp(folder_a / n, folder_b / n, shallow=False) for n in names)


def beauty(frame: int) -> str:
    return f"beauty.{frame}.exr"


@pytest.fixture
def sequence(cycles_sequence, tmp_path) -> Path:
    """A private copy of the Cycles sequence, free to damage."""
    return Path(shutil.copytree(cycles_sequence, tmp_path / "render"))


def test_denoise_keeps_every_other_pass_layer_and_the_header(cycles_sequence, models_dir, tmp_path):
    run = postpass("denoise", cycles_sequence / "beauty.####.exr", "-o", tmp_path / "clean" / "clean.####.exr",
                   models_dir=models_dir)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == f"postpass denoise: 6 frames (1001-1006) -> {tmp_path / 'clean' / 'clean.####.exr'}"
    assert lines[1] == "denoise: denoise_aux (uses albedo/normal)"  # which model, and why: said once
    assert [line.split(" done in ")[0] for line in lines[2:8]] == [f"frame {f}" for f in FRAMES]
    assert all("(denoise_aux, CPU) -> " in line for line in lines[2:8])  # the render's albedo/normal were used
    assert lines[8].startswith("postpass denoise: 6 done, 0 skipped, 0 failed of 6 frames in ")
    assert lines[8].endswith("; exit 0") and run.stdout == ""

    for frame in FRAMES:
        source, result = exr_parts(cycles_sequence / beauty(frame)), exr_parts(tmp_path / "clean" / f"clean.{frame}.exr")
        assert [p[0] for p in result] == [p[0] for p in source]  # both view layers, every pass, in order
        for (name, header, channels), (_, header_out, channels_out) in zip(source, result):
            assert header_out == header, name
            for channel, pixels in channels.items():
                changed = not np.array_equal(channels_out[channel], pixels)
                assert changed == (channel in ("ViewLayer.Combined.R", "ViewLayer.Combined.G",
                                               "ViewLayer.Combined.B")), channel
    # Exactly what the Python API writes for that frame.
    denoise_file(cycles_sequence / beauty(1003), tmp_path / "api.exr", models_dir=models_dir)
    assert filecmp.cmp(tmp_path / "api.exr", tmp_path / "clean" / "clean.1003.exr", shallow=False)

    printf = postpass("denoise", cycles_sequence / "beauty.%04d.exr", "-o", f"{tmp_path / 'printf'}/", "-q",
                      models_dir=models_dir)
    files = postpass("denoise", *[cycles_sequence / beauty(f) for f in FRAMES], "-o", tmp_path / "files" / "c.%d.exr",
                     models_dir=models_dir)
    assert printf.returncode == files.returncode == 0 and printf.stderr == ""
    for frame in FRAMES:
        assert filecmp.cmp(tmp_path / "clean" / f"clean.{frame}.exr", tmp_path / "printf" / beauty(frame), False)
        assert filecmp.cmp(tmp_path / "clean" / f"clean.{frame}.exr", tmp_path / "files" / f"c.{frame}.exr", False)


def test_layer_option_reads_and_writes_another_view_layer(cycles_sequence, models_dir, tmp_path):
    run = postpass("denoise", cycles_sequence / "beauty.####.exr", "-o", tmp_path / "c.####.exr", "--frames", "1002",
                   "--layer", "Characters", models_dir=models_dir)
    assert run.returncode == 0, run.stderr
    source, result = read_exr(cycles_sequence / beauty(1002), "Characters"), read_exr(tmp_path / "c.1002.exr",
                                                                                         "Characters")
    assert not np.array_equal(result.get("Combined"), source.get("Combined"))
    assert np.array_equal(read_exr(tmp_path / "c.1002.exr").get("Combined"),
                          read_exr(cycles_sequence / beauty(1002)).get("Combined"))  # ViewLayer untouched
    denoise_file(cycles_sequence / beauty(1002), tmp_path / "api.exr", layer="Characters", models_dir=models_dir)
    assert filecmp.cmp(tmp_path / "api.exr", tmp_path / "c.1002.exr", shallow=False)


def test_frame_ranges_with_steps_and_preview_formats(cycles_sequence, models_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    pattern = str(cycles_sequence / "beauty.####.exr")
    assert main(["denoise", pattern, "-o", str(tmp_path / "png" / "b.####.png"), "--frames", "1001-1006x2",
                 "--bit-depth", "8", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["b.1001.png", "b.1003.png", "b.1005.png"]
    assert main(["denoise", pattern, "-o", str(tmp_path / "mixed" / "b.####.tif"), "--frames", "1006,1002-1003",
                 "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "mixed").iterdir()) == ["b.1002.tif", "b.1003.tif", "b.1006.tif"]
    assert main(["denoise", pattern, "-o", str(tmp_path / "b.jpg"), "--frames", "1004", "-q"]) == 0
    import cv2

    assert cv2.imread(str(tmp_path / "png" / "b.1003.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    assert cv2.imread(str(tmp_path / "mixed" / "b.1002.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert read_image(tmp_path / "png" / "b.1001.png").get("Combined").shape == (32, 40, 4)
    assert read_image(tmp_path / "b.jpg").get("Combined").shape == (32, 40, 3)
    assert capsys.readouterr() == ("", "")  # --quiet: nothing at all when every frame works


def test_broken_frames_fail_alone_with_path_and_reason(sequence, models_dir, tmp_path):
    truncated, no_albedo = sequence / beauty(1003), sequence / beauty(1005)
    truncated.write_bytes(truncated.read_bytes()[:30000])
    parts = [p for p in OpenEXR.File(str(no_albedo), separate_channels=True).parts
             if p.name() != "ViewLayer.Denoising Albedo"]  # a render someone forgot a pass in
    OpenEXR.File(parts).write(str(no_albedo))

    run = postpass("denoise", sequence / "beauty.####.exr", "-o", tmp_path / "out" / "c.####.exr", "--json",
                   models_dir=models_dir)
    assert run.returncode == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"c.{f}.exr" for f in (1001, 1002, 1004, 1006)]
    assert f"frame 1003 FAILED: {truncated}: truncated or damaged OpenEXR file (cannot read " in run.stderr
    # The first frame chose denoise_aux; a frame without albedo fails instead of going through another model.
    missing = f"{no_albedo}: missing pass 'Denoising Albedo' (layer 'ViewLayer'; passes here: "
    assert f"frame 1005 FAILED: {missing}" in run.stderr
    assert "postpass denoise: 4 done, 0 skipped, 2 failed of 6 frames in " in run.stderr
    assert "  failed: 1003,1005\n" in run.stderr  # and the reasons again, at the end of the log
    assert f"  frame 1003: {truncated}: truncated" in run.stderr and f"  frame 1005: {missing}" in run.stderr
    summary = json.loads(run.stdout)
    assert (summary["done"], summary["skipped"], summary["not_run"]) == ([1001, 1002, 1004, 1006], [], [])
    failed = {f["frame"]: f["reason"] for f in summary["failed"]}
    assert failed[1003].startswith(f"{truncated}: truncated") and failed[1005].startswith(missing)
    assert summary["exit_code"] == 1 and summary["models"] == ["denoise_aux"]

    fast = postpass("denoise", sequence / "beauty.####.exr", "-o", tmp_path / "fast" / "c.####.exr", "--fail-fast",
                    models_dir=models_dir)
    assert fast.returncode == 1
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == ["c.1001.exr", "c.1002.exr"]
    assert "2 done, 0 skipped, 1 failed, 3 not run of 6 frames" in fast.stderr
    assert "  not run: 1004-1006\n" in fast.stderr


def test_output_equal_to_input_is_refused_before_anything_runs(sequence, models_dir):
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sequence.iterdir()}
    for output in (sequence / "beauty.%04d.exr", f"{sequence}/"):
        run = postpass("denoise", sequence / "beauty.####.exr", "-o", output, models_dir=models_dir)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("postpass denoise: error: ")
        assert "refusing to" in run.stderr
    as_json = postpass("denoise", sequence / "beauty.####.exr", "-o", f"{sequence}/", "--json", models_dir=models_dir)
    assert json.loads(as_json.stdout)["exit_code"] == 2 and "refusing to" in json.loads(as_json.stdout)["error"]
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sequence.iterdir()} == before


@pytest.fixture
def long_sequence(cycles_sequence, tmp_path) -> Path:
    """24 frames (the six Cycles frames four times over, as hard links): long enough to kill a run mid-way."""
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(24):
        os.link(cycles_sequence / beauty(FRAMES[i % 6]), folder / beauty(2001 + i))
    return folder


def start_and_signal_after_two_frames(args: list, models_dir, sig: int) -> tuple[int, str]:
    """Start ``postpass ARGS``, send ``sig`` as soon as its log says the second frame is done; (exit, stderr)."""
    env = {**os.environ, "POSTPASS_MODELS": str(models_dir)}
    process = subprocess.Popen([sys.executable, "-m", "addon.cli", *map(str, args)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    for line in process.stderr:
        log.append(line)
        if line.startswith("frame 2002 done"):
            process.send_signal(sig)
            break
    log += process.stderr.read()
    return process.wait(timeout=60), "".join(log)


def test_a_killed_chunk_resumes_with_skip_existing(long_sequence, models_dir, tmp_path):
    out = tmp_path / "out"

    def chunk(folder: Path) -> list:  # small tiles and one thread: slow enough to be killed mid-way
        return [long_sequence / "beauty.####.exr", "-o", folder / "c.####.exr", "--frames", "2001-2024",
                "--tile-size", "16", "--threads", "1"]

    assert postpass("denoise", *chunk(tmp_path / "reference"), "-q", models_dir=models_dir).returncode == 0

    code, _ = start_and_signal_after_two_frames(["denoise", *chunk(out)], models_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert 2 <= len(written) < 24  # killed mid-sequence
    assert same_files(out, tmp_path / "reference", written)  # every frame under its name is whole
    assert all(".tmp." in p.name for p in out.iterdir() if p.name.startswith("."))  # at most the killed write

    rerun = postpass("denoise", *chunk(out), "--skip-existing", "--json", models_dir=models_dir)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == [int(name[2:6]) for name in written]
    assert sorted(summary["done"] + summary["skipped"]) == list(range(2001, 2025)) and summary["failed"] == []
    assert same_files(out, tmp_path / "reference", [f"c.{f}.exr" for f in range(2001, 2025)])


def test_sigterm_stops_a_run_cleanly(long_sequence, models_dir, tmp_path):
    """Farm managers cancel with SIGTERM: the frame in flight is dropped with its temporary file, the summary
    says what happened, and the exit code says interrupted."""
    code, log = start_and_signal_after_two_frames(
        ["denoise", long_sequence / "beauty.####.exr", "-o", tmp_path / "out" / "c.####.exr", "--tile-size", "16",
         "--threads", "1"], models_dir, signal.SIGTERM)
    assert code == 130
    done = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [n for n in done if n.startswith(".")]  # no temporary file left behind
    assert f"postpass denoise: {len(done)} done, 0 skipped, 0 failed, {24 - len(done)} not run of 24 frames" in log
    assert "; interrupted; exit 130" in log



def test_a_stop_that_lands_inside_a_module_init_stops_the_batch_not_the_frame(cycles_sequence, models_dir, tmp_path,
                                                                            monkeypatch, capsys):
    """The stop's KeyboardInterrupt is raised wherever Python is; inside a C extension's module init (the first
    ``import onnxruntime`` or ``import OpenEXR`` of a run) it comes out as ``ImportError: initialization failed``
    caused by it. That is the farm's SIGTERM: the batch stops with 130 and resumes, the frame is not 'failed' and
    the batch does not go on. A plain ImportError still fails only its frame."""
    from addon.runtime import batch

    calls = []

    def interrupted_init(*args, **kwargs):
        calls.append(args)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    monkeypatch.setattr(batch, "run_files", interrupted_init)
    args = ["denoise", str(cycles_sequence / "beauty.####.exr"), "-o", str(tmp_path / "out" / "c.####.exr")]
    assert main(args) == 130 and len(calls) == 1
    assert "0 failed" in capsys.readouterr().err and not list((tmp_path / "out").glob("c.*"))

    def broken_init(*args, **kwargs):
        raise ImportError("initialization failed")

    monkeypatch.setattr(batch, "run_files", broken_init)
    assert main(args) == 1 and "6 failed" in capsys.readouterr().err

def test_progress_bar_on_a_terminal(cycles_sequence, models_dir, tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    env = {**os.environ, "POSTPASS_MODELS": str(models_dir)}
    process = subprocess.Popen([sys.executable, "-m", "addon.cli", "denoise", str(cycles_sequence / "beauty.####.exr"),
                                "-o", str(tmp_path / "c.####.exr")], cwd=REPO, env=env, stderr=follower,
                               stdout=subprocess.DEVNULL)
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = terminal.decode()
    assert "postpass denoise: 100%" in text and "6/6" in text and "frame/s" in text  # tqdm: rate and ETA
    assert "frame 1001 done" not in text  # the bar replaces the per-frame lines
    assert "postpass denoise: 6 done, 0 skipped, 0 failed of 6 frames" in text


def test_inbetween_chunks_read_key_frames_outside_the_chunk(cycles_sequence, models_dir, tmp_path):
    pattern = cycles_sequence / "beauty.####.exr"
    whole = postpass("inbetween", pattern, "-o", tmp_path / "whole" / "b.####.exr", "--keys", "1001-1005x2",
                     models_dir=models_dir)
    chunk = postpass("inbetween", pattern, "-o", tmp_path / "chunk" / "b.####.exr", "--keys", "1001-1005x2",
                     "--frames", "1004", models_dir=models_dir)
    assert whole.returncode == chunk.returncode == 0, whole.stderr + chunk.stderr
    assert sorted(p.name for p in (tmp_path / "whole").iterdir()) == ["b.1002.exr", "b.1004.exr"]
    assert "(inbetween_vectors, CPU)" in chunk.stderr  # the renders' Vector passes were used
    assert filecmp.cmp(tmp_path / "whole" / "b.1004.exr", tmp_path / "chunk" / "b.1004.exr", shallow=False)
    inbetween_file(cycles_sequence / beauty(1003), cycles_sequence / beauty(1005), tmp_path / "api.exr",
                   models_dir=models_dir)
    assert filecmp.cmp(tmp_path / "api.exr", tmp_path / "chunk" / "b.1004.exr", shallow=False)


def test_upres_with_a_guide_and_colorize_with_hints(cycles_render, models_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    low, target = cycles_render / "lowres_x2.exr", cycles_render / "target.exr"
    assert main(["upres", str(low), "-o", str(tmp_path / "up.exr"), "--guide", str(target)]) == 0
    assert "(upres_x2_guided, CPU)" in capsys.readouterr().err
    assert read_exr(tmp_path / "up.exr").size == (48, 48)
    assert main(["upres", str(low), "-o", str(tmp_path / "bad.exr"), "--guide", str(low)]) == 1  # a wrong-size guide
    assert f"{low} [Denoising Albedo]: is 24x24; expected 48x48" in capsys.readouterr().err

    gray = tmp_path / "gray.png"
    assert main(["denoise", str(target), "-o", str(gray), "-q"]) == 0
    hints = np.zeros((48, 48, 4), np.float32)
    hints[20:24, 20:24] = (1.0, 0.1, 0.1, 1.0)
    from addon.runtime import write_image

    write_image(tmp_path / "hints.png", hints)
    write_image(tmp_path / "hints_rgb.png", hints[..., :3])
    write_image(tmp_path / "mask.png", hints[..., 3:], bit_depth=8)
    for name, extra in (("plain", []), ("alpha", ["--hints", "hints.png"]),
                        ("mask", ["--hints", "hints_rgb.png", "--mask", "mask.png"])):
        monkeypatch.chdir(tmp_path)
        assert main(["colorize", "gray.png", "-o", f"{name}.exr", "-q", *extra]) == 0
    plain, alpha, mask = (read_exr(tmp_path / f"{n}.exr").get("Combined") for n in ("plain", "alpha", "mask"))
    assert not np.array_equal(plain, alpha) and np.array_equal(alpha[..., :3], mask[..., :3])
    assert main(["colorize", "gray.png", "-o", "nohints.exr", "--hints", "hints_rgb.png"]) == 1
    assert "hints_rgb.png: hints without alpha: paint them with alpha or give a mask (--mask)" in capsys.readouterr().err


def test_denoise_says_once_which_model_the_passes_chose_and_why(denoise_models, tmp_path, capsys):
    """Issue 25: frames rendered without Denoising Data get the colour-only model, and the run says so once;
    an 8-bit PNG with alpha comes back an 8-bit PNG with that alpha."""
    import cv2

    from addon.runtime import write_exr

    rng = np.random.default_rng(0)
    for frame in (1, 2):
        write_exr(tmp_path / f"beauty.{frame:04d}.exr",
                  {"Combined": np.exp(rng.uniform(-3, 1, (24, 32, 3))).astype(np.float32)})
    line = ("denoise: denoise_kpn_color (the input has no albedo/normal passes; render with Denoising Data for "
            "better results)")
    assert main(["denoise", str(tmp_path / "beauty.####.exr"), "-o", str(tmp_path / "clean.####.exr"),
                 "--models-dir", str(denoise_models), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.count(line) == 1 and json.loads(out)["choice"] == line
    assert "(denoise_kpn_color, CPU)" in err

    texture = (rng.random((24, 32, 4)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "texture.png"), texture)
    assert main(["denoise", str(tmp_path / "texture.png"), "-o", str(tmp_path / "clean.png"),
                 "--models-dir", str(denoise_models)]) == 0
    said = capsys.readouterr().err
    assert "denoise: denoise_kpn_ldr (an 8/16-bit sRGB source)" in said
    clean = cv2.imread(str(tmp_path / "clean.png"), cv2.IMREAD_UNCHANGED)
    assert clean.dtype == np.uint8 and clean.shape == texture.shape
    assert np.array_equal(clean[..., 3], texture[..., 3])
    assert main(["denoise", str(tmp_path / "texture.png"), "-o", str(tmp_path / "q.png"), "-q",
                 "--models-dir", str(denoise_models)]) == 0
    assert capsys.readouterr() == ("", "")  # --quiet: not even the choice


def test_models_and_info(sequence, models_dir):
    listed = postpass("models", "--json", models_dir=models_dir)
    assert listed.returncode == 0
    assert {m["name"]: m["task"] for m in json.loads(listed.stdout)}["inbetween_vectors"] == "inbetween"
    one = postpass("models", "denoise_aux", models_dir=models_dir)
    assert one.returncode == 0 and "training_command" in one.stdout and "dataset_fingerprint" in one.stdout

    info = postpass("info", sequence / "beauty.####.exr", "--json", models_dir=models_dir)
    assert info.returncode == 0
    described = json.loads(info.stdout)
    assert (described["frames"], described["width"], described["height"]) == ("1001-1006", 40, 32)
    assert described["color_space"] == "lin_rec709_scene"
    assert list(described["layers"]) == ["ViewLayer", "Characters"]
    assert described["layers"]["Characters"]["Denoising Normal"] == 3
    assert described["header"]["cycles.Characters.samples"] == "1"
    text = postpass("info", sequence / beauty(1001), models_dir=models_dir).stdout
    assert "  layer ViewLayer: Combined (4), " in text and "  colour space  lin_rec709_scene" in text
    assert described["blender_denoised_layers"] == [] and "Cycles' Denoise" not in text  # a raw render

    broken = sequence / beauty(1004)
    broken.write_bytes(broken.read_bytes()[:30000])
    bad = postpass("info", broken, models_dir=models_dir)
    [line] = bad.stderr.splitlines()  # one line: what the OpenEXR library itself prints is swallowed
    assert bad.returncode == 2 and line.startswith(f"postpass info: error: {broken}: truncated or damaged OpenEXR")
    as_json = postpass("info", broken, "--json", models_dir=models_dir)
    assert json.loads(as_json.stdout)["error"].startswith(f"{broken}: truncated or damaged OpenEXR")


@pytest.mark.parametrize("command", ["denoise", "upres", "colorize", "inbetween", "models", "info"])
def test_every_command_has_complete_help_with_examples(command, capsys):
    assert main([command, "--help"]) == 0  # a return code, never SystemExit: Blender calls main too
    text = capsys.readouterr().out
    assert "examples:" in text and f"postpass {command} " in text.split("examples:")[1]


def test_usage_errors_return_2_without_exiting(capsys):
    assert main([]) == 2
    assert main(["denoise", "x.####.exr"]) == 2  # no -o
    assert main(["denoise", "x.####.exr", "-o", "y/", "--frames", "10-1"]) == 2
    assert "frame range '10-1': '10-1' must run upwards" in capsys.readouterr().err


def test_usage_errors_with_json_put_the_error_on_stdout_in_the_commands_format(capsys):
    # before: exit 2 with nothing on stdout, while every other refusal printed its JSON error there
    assert main(["denoise", "x.####.png", "-o", "y.####.png", "--json", "--frames", "zz"]) == 2
    out, err = capsys.readouterr()
    message = "argument --frames: frame range 'zz': cannot read 'zz'"
    assert err.startswith(f"postpass denoise: error: {message}") and len(err.splitlines()) == 1
    assert json.loads(out) == {"error": err.strip().removeprefix("postpass denoise: error: "), "exit_code": 2}
    assert main(["finetune", "shot.blend", "--json"]) == 2  # finetune's stdout is events: its error is one too
    out, err = capsys.readouterr()
    assert json.loads(out) == {"event": "error", "message": err.strip().removeprefix("postpass finetune: error: "),
                               "exit_code": 2}
    assert "required: -o/--output" in err
    assert main(["denoise", "x.####.png", "-o", "y.####.png", "--frames", "zz"]) == 2
    assert capsys.readouterr().out == ""  # without --json, stdout stays empty


def test_the_command_needs_neither_blender_nor_torch(cycles_sequence, models_dir, tmp_path):
    """Farm nodes install the runtime only: a whole batch imports no bpy, torch, ml_core or Dask."""
    script = ("import sys; from addon.cli import main\n"
              f"code = main(['denoise', {str(cycles_sequence / 'beauty.####.exr')!r}, '-o', {str(tmp_path)!r} + '/',"
              f" '--models-dir', {str(models_dir)!r}, '-q'])\n"
              "print(code, sorted(m for m in ('torch', 'bpy', 'ml_core', 'dask') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "0 []", run.stderr


def test_info_says_which_layers_blender_denoised(cycles_denoised_sequence, capsys):
    """A render made with Cycles' Denoise and Denoising Data: its Combined is Blender's result and "Noisy Image"
    the raw render that denoise reads; info says so per view layer (and in --json)."""
    path = cycles_denoised_sequence / "beauty.1001.exr"
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blender_denoised_layers"] == ["ViewLayer", "Characters"]
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  layer Characters:"))
    assert "Cycles' Denoise: Combined is Blender's denoised render, 'Noisy Image' the raw one" in lines[at + 1]
