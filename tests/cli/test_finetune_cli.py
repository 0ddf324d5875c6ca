"""``postpass finetune`` (issue 27): the add-on's command that runs ``python -m export.finetune`` in the training
Python. Bad input is refused before a training interpreter starts (exit 2, one line naming the file); the
child's output, exit code and JSON events pass through; Ctrl-C and SIGTERM reach the child once, which stops
cleanly (130), and the same command resumes and finishes. The child is the real export.finetune on a real
64 px Cycles shot."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from addon.cli import main
from addon.runtime import trainer

REPO = Path(__file__).resolve().parents[2]

@pytest.fixture(scope="module")
def shots(tmp_path_factory, make_shot) -> Path:
    """shot.blend (Cycles, 64x64, 4 spp, 5 frames) and eevee.blend (the same rendered with EEVEE), saved by bpy
    in a child process (conftest's make_shot)."""
    folder = tmp_path_factory.mktemp("shots")
    make_shot(folder / "shot.blend")
    make_shot(folder / "eevee.blend", engine="BLENDER_EEVEE")
    return folder


def postpass(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "addon.cli", "finetune", *map(str, args)], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def error_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("postpass finetune: error: "), text
    return lines[0]


def events(stdout: str) -> list[dict]:
    """The JSON events of ``--json`` output (lines that do not parse are some library's: skipped)."""
    return [e for e in map(trainer.parse_event, stdout.splitlines()) if e is not None]


# ----------------------------------------------------------------------------------------------------------
# Refused before a training interpreter starts
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shot, output, problem", [
    ("missing.blend", "models", "missing.blend: no such file"),
    ("notes.txt", "models", "notes.txt: not a .blend file"),
    ("empty.blend", "models", "empty.blend: empty file (0 bytes)"),
    ("text.blend", "models", "text.blend: not a Blender file (no BLENDER header)"),
    ("shots", "models", "shots: is a folder, not a .blend file"),
    ("SHOT", "notes.txt", "notes.txt: is a file, not a folder"),
    ("SHOT", "notes.txt/models", "notes.txt/models: "),  # ... /notes.txt is a file, not a folder
    pytest.param("SHOT", "/proc/postpass_models", "/proc/postpass_models: not writable (/proc)",
                 marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")),
    ("SHOT", "other", "other: holds files and is not a fine-tune's models folder (no finetune.json)"),
])
def test_bad_input_is_refused_in_one_line_before_anything_runs(shots, tmp_path, monkeypatch, capsys, shot, output,
                                                               problem):
    monkeypatch.chdir(tmp_path)
    # were a training interpreter started, this one would fail differently: the input is checked first
    monkeypatch.setenv(trainer.TRAINING_PYTHON_ENV, str(tmp_path / "no-such-python"))
    (tmp_path / "notes.txt").write_text("not a shot")
    (tmp_path / "empty.blend").write_bytes(b"")
    (tmp_path / "text.blend").write_text("hello")
    (tmp_path / "shots").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("someone's files")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    shot = str(shots / "shot.blend") if shot == "SHOT" else shot
    assert main(["finetune", shot, "-o", output]) == 2
    out, err = capsys.readouterr()
    assert out == "" and problem in error_line(err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing made


@pytest.mark.parametrize("minutes", ["0", "-1", "abc", "inf"])
def test_a_bad_budget_is_a_usage_error(shots, capsys, minutes):
    assert main(["finetune", str(shots / "shot.blend"), "-o", "models", "--minutes", minutes]) == 2
    assert "argument --minutes: " in error_line(capsys.readouterr().err)


def test_no_training_environment_is_one_line_saying_how_to_point_at_one(shots, tmp_path):
    models = tmp_path / "models"
    run = postpass(shots / "shot.blend", "-o", models, env={trainer.TRAINING_PYTHON_ENV: "/nonexistent/bin/python"})
    assert run.returncode == 2 and run.stdout == ""
    line = error_line(run.stderr)
    assert "/nonexistent/bin/python: no such Python (set by POSTPASS_TRAINING_PYTHON)" in line
    assert "training environment (torch and ml_core)" in line and "Training Python" in line
    assert not models.exists()

    # A Python that exists but has no torch (a bare virtual environment): refused too, saying what it lacks.
    venv.create(tmp_path / "bare" / ".venv", with_pip=False)
    bare = trainer.clone_python(tmp_path / "bare")
    run = postpass(shots / "shot.blend", "-o", models, "--json", env={trainer.TRAINING_PYTHON_ENV: str(bare)})
    assert run.returncode == 2
    line = error_line(run.stderr)
    assert f"{bare}: not Postpass's training environment, it has no torch" in line
    # --json: stdout holds the same error as the child's event
    assert events(run.stdout) == [{"event": "error", "message": line.split("error: ", 1)[1], "exit_code": 2}]
    assert not models.exists()


def test_the_training_python_is_this_one_when_it_can_train(monkeypatch):
    monkeypatch.delenv(trainer.TRAINING_PYTHON_ENV, raising=False)
    found = trainer.find_training_python()  # the test environment has torch and ml_core (and is the clone's .venv)
    assert found.python == sys.executable and found.source in ("this Python", f"the clone's {sys.executable}")
    assert found.paths == (str(REPO),) and found.env({})["PYTHONPATH"] == str(REPO)
    named = trainer.find_training_python(environ={trainer.TRAINING_PYTHON_ENV: sys.executable})
    assert named.source == trainer.TRAINING_PYTHON_ENV
    trainer.check_training_python(named)  # the probe: it has torch and ml_core


# ----------------------------------------------------------------------------------------------------------
# The real export.finetune as the child
# ----------------------------------------------------------------------------------------------------------
def test_the_childs_refusal_passes_through(shots, tmp_path):
    """An EEVEE shot is found out by the child (it opens the .blend): its exit code and line come through."""
    run = postpass(shots / "eevee.blend", "-o", tmp_path / "models", "--json", timeout=120)
    assert run.returncode == 2
    assert "eevee.blend: renders with EEVEE" in run.stderr.strip().splitlines()[-1]
    (error,) = [e for e in events(run.stdout) if e["event"] == "error"]
    assert error["exit_code"] == 2 and "not Cycles" in error["message"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_reaches_the_child_once_and_the_same_command_resumes(shots, tmp_path, signum):
    """Ctrl-C (SIGINT) or a farm's SIGTERM sent to ``postpass`` alone (the child has its own process group): the
    child stops cleanly, 130; run again, it resumes and finishes with a complete models folder."""
    models, work = tmp_path / "models", tmp_path / "work"
    command = [sys.executable, "-m", "addon.cli", "finetune", str(shots / "shot.blend"), "-o", str(models),
               "--minutes", "0.5", "--general", "none", "--work", str(work), "--json"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stdout:  # wait until it renders the shot's views (the signal lands in a render)
            event = trainer.parse_event(line)
            seen += [event] if event else []
            if event and event.get("message", "").startswith("view "):
                break
        assert seen and all(e["event"] == "progress" for e in seen), seen
        assert {"stage", "fraction", "elapsed_s", "remaining_s", "message"} <= set(seen[-1])
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert events(out)[-1] == {"event": "error", "message": "interrupted; run the same command again to resume",
                               "exit_code": 130}
    assert not (models / trainer.REPORT_FILE).exists()
    if signum == signal.SIGINT:
        return
    run = postpass(*command[4:], timeout=300)  # the same command: resumes where it stopped
    assert run.returncode == 0, run.stderr
    done = events(run.stdout)[-1]
    assert done["event"] == "done" and done["report"]["kept"] in ("finetuned", "shipped")
    assert trainer.read_report(models) == done["report"]
    listed = set(json.loads((models / "registry.json").read_text())["models"])
    shipped = set(json.loads((REPO / "addon" / "models" / "registry.json").read_text())["models"])
    base, shot_model = done["report"]["base_model"], done["report"]["model"]
    # a complete models folder: the shot's denoiser (and its temporal pooling) instead of its base, or (it did not
    # help) the shipped ones; and its correction of Blender's denoised render where that was kept
    report = done["report"]
    residual = {report["residual_model"], report["residual_temporal_model"]} if report["residual_model"] else set()
    kept = shipped - {base, "denoise_kpn_temporal"} | {shot_model, report["temporal_model"]} \
        if report["kept"] == "finetuned" else shipped
    # a kept correction also drives animations: the shot-corrected frames' average replaces the shipped one
    assert listed == (kept - {"denoise_oidn_temporal"} if residual else kept) | residual
