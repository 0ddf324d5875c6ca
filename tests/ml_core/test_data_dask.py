"""Scene builds on a real Dask cluster (``LocalCluster``: a scheduler and two worker processes of one thread, on
loopback): ``python -m ml_core.data build --scheduler`` and ``python -m ml_core.authored build --scheduler``
render the same pixels as a local build, a worker killed mid-scene costs a retry and never a half scene, a scene
that fails is named with its reason, and a bad scheduler is refused before anything renders.

Seeds: ``v2_tiny`` val seeds 1000014-1000016 (studio, thin, glass), chosen because their scenes hold no UV
sphere. Blender 5.0's ``primitive_uv_sphere_add`` gives the same vertices in a different face order in each
process (measured: the loop order's hash changes run to run; cube, ico sphere, cylinder, cone, torus, monkey and
plane do not), so scenes with a UV sphere are not pixel-equal even between two local builds: hair grown on one
lands elsewhere (``scenes.build._hair`` samples roots by triangle index), and an emissive or subsurface one
differs by ~1e-6-1e-2 in a few pixels. That is Blender's, not Dask's; these seeds render bit-for-bit the same
pixels in every process, so the comparison here is exact.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from addon.runtime.exr import read_exr
from ml_core import data, render

dask_distributed = pytest.importorskip("dask.distributed")

REPO = Path(__file__).resolve().parents[2]
SPLIT, START, COUNT = "val", 14, 3  # seeds 1000014-1000016: ~1, 6 and 1 s on one thread
BUILD = ["build", "--preset", "v2_tiny", "--split", SPLIT, "--start", str(START), "--count", str(COUNT),
         "--meshes", "none", "--threads", "1", "--quiet"]
PASSES = ("Combined", "Denoising Albedo", "Denoising Normal", "Denoising Depth", "Depth", "Vector")


def _cli(module: str, *args, env=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in a child process: bpy never shares the test process with OpenEXR."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env, **kwargs)


def _summary(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cluster():
    with dask_distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "data"
    result = _cli("ml_core.data", *BUILD, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _assert_same_scenes(local: Path, other: Path) -> None:
    """Every scene of ``local`` is complete in ``other`` with the same files and pixels (every pass exact)."""
    scenes = [f.name for f in data.complete_scenes(local, SPLIT)]
    assert scenes == [f.name for f in data.complete_scenes(other, SPLIT)] and len(scenes) == COUNT
    for name in scenes:
        a, b = local / SPLIT / name, other / SPLIT / name
        assert (a / "scene.json").read_text() == (b / "scene.json").read_text()
        exrs = sorted(p.name for p in a.glob("*.exr"))
        assert exrs == sorted(p.name for p in b.glob("*.exr")) == render.products(render.preset("v2_tiny"))
        for exr in exrs:
            left, right = read_exr(a / exr), read_exr(b / exr)
            for name_ in PASSES:
                assert np.array_equal(left.get(name_), right.get(name_)), (name, exr, name_)


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in (out / SPLIT).iterdir() if p.name.startswith("."))


def test_dask_build_renders_the_pixels_of_a_local_build_and_resumes(cluster, local_build, tmp_path):
    out = tmp_path / "dask"
    result = _cli("ml_core.data", *BUILD, "--out", str(out), "--scheduler", cluster.scheduler_address)
    assert result.returncode == 0, result.stderr
    summary = _summary(result)
    assert summary["rendered"] == COUNT and summary["failed"] == []
    assert summary["scheduler"] == cluster.scheduler_address
    with dask_distributed.Client(cluster.scheduler_address) as client:
        pids = set(client.run(os.getpid).values())
    assert {int(w.rpartition(":")[2]) for w in summary["workers"]} == pids  # both worker processes rendered
    _assert_same_scenes(local_build, out)
    record = json.loads((out / data.DATASET_FILE).read_text())
    assert record == json.loads((local_build / data.DATASET_FILE).read_text())  # its Blender version: a worker's
    assert _hidden(out) == []  # no partial folder left
    # resumable: complete scenes are skipped before anything is submitted; a scheduler file works as well
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": cluster.scheduler_address}))
    again = _cli("ml_core.data", *BUILD, "--out", str(out), "--scheduler", str(scheduler_file))
    assert again.returncode == 0, again.stderr
    assert _summary(again)["rendered"] == 0 and _summary(again)["skipped"] == COUNT


def test_a_worker_killed_mid_scene_costs_a_retry_and_never_a_half_scene(cluster, local_build, tmp_path):
    out = tmp_path / "dask"
    with dask_distributed.Client(cluster.scheduler_address) as client:
        pids_before = set(client.run(os.getpid).values())
        build = subprocess.Popen([sys.executable, "-m", "ml_core.data", *BUILD, "--out", str(out), "--scheduler",
                                  cluster.scheduler_address], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        # wait for a first complete scene and a worker in the middle of another (its partial folder names it)
        victim, deadline = None, time.time() + 120
        while victim is None and time.time() < deadline and build.poll() is None:
            if data.complete_scenes(out, SPLIT):
                partial = [p for p in _hidden(out) if render.PARTIAL in p]
                busy = [int(p.rpartition("-")[2]) for p in partial]
                victim = next((pid for pid in busy if pid in pids_before), None)
            time.sleep(0.05)
        assert victim is not None, "no worker was caught in the middle of a scene"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = build.communicate(timeout=240)
        assert build.returncode == 0, stderr
        client.wait_for_workers(2, timeout=60)
        pids_after = set(client.run(os.getpid).values())
    assert victim not in pids_after and len(pids_after) == 2  # the nanny replaced the killed worker
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["rendered"] == COUNT and summary["failed"] == []
    _assert_same_scenes(local_build, out)
    assert _hidden(out) == []  # the killed worker's partial folder was taken over or removed


def test_a_failing_seed_is_named_with_its_reason_and_the_others_are_done(cluster, tmp_path):
    out = tmp_path / "dask"
    blocked = data.scene_dir(out, 1000016)  # a file where the scene's folder goes: that seed cannot finish
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a scene")
    result = _cli("ml_core.data", "build", "--preset", "v2_tiny", "--split", SPLIT, "--start", "16", "--count", "2",
                  "--meshes", "none", "--threads", "1", "--quiet", "--retries", "1", "--out", str(out),
                  "--scheduler", cluster.scheduler_address)
    assert result.returncode == 1, result.stderr
    summary = _summary(result)
    assert summary["rendered"] == 1 and [f["seed"] for f in summary["failed"]] == [1000016]
    assert "not a scene folder" in summary["failed"][0]["reason"] and str(blocked) in summary["failed"][0]["reason"]
    lines = result.stderr.strip().splitlines()
    assert lines[-2] == "postpass-data: 1 of 2 scenes failed:"
    assert lines[-1] == f"  seed 1000016: {summary['failed'][0]['reason']}"
    assert [f.name for f in data.complete_scenes(out, SPLIT)] == ["1000017"]


def test_authored_build_on_the_cluster_renders_the_pixels_of_a_local_build(cluster, tmp_path):
    # a volume scene: no UV sphere (see the module docstring), so its pixels are exact in every process
    args = ["build", "--size", "16", "--reference-spp", "4", "--only", "smoke_box", "--threads", "1", "--quiet"]
    local = _cli("ml_core.authored", *args, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    dask = _cli("ml_core.authored", *args, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address)
    assert dask.returncode == 0, dask.stderr
    summary = _summary(dask)
    assert summary["scenes"] == 1 and summary["failed"] == [] and summary["rendered_files"] == 4
    for scene in ["smoke_box"]:
        files = sorted(p.name for p in (tmp_path / "local" / scene).glob("*.exr"))
        assert files == sorted(p.name for p in (tmp_path / "dask" / scene).glob("*.exr")) and len(files) == 4
        for exr in files:
            left, right = read_exr(tmp_path / "local" / scene / exr), read_exr(tmp_path / "dask" / scene / exr)
            for name in PASSES:
                assert np.array_equal(left.get(name), right.get(name)), (scene, exr, name)
    assert not [p.name for p in (tmp_path / "dask").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("case", ["unreachable", "not json", "no address", "missing file"])
def test_a_bad_scheduler_is_one_line_and_exit_2_before_anything_renders(tmp_path, case):
    scheduler = {"unreachable": "tcp://127.0.0.1:9", "missing file": str(tmp_path / "nowhere" / "scheduler.json")}.get(
        case, str(tmp_path / "scheduler.json"))
    if case == "not json":
        Path(scheduler).write_text("tcp://127.0.0.1:9")
    elif case == "no address":
        Path(scheduler).write_text(json.dumps({"type": "Scheduler"}))
    expect = {"unreachable": "cannot reach the Dask scheduler at tcp://127.0.0.1:9",
              "not json": "not a Dask scheduler file", "no address": "not a Dask scheduler file",
              "missing file": "no such scheduler file"}[case]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}  # an unreachable one fails fast
    commands = [("ml_core.data", "postpass-data")] + [("ml_core.authored", "postpass-authored")] * (case == "not json")
    for module, prog in commands:  # both commands share ml_core.cluster.connect: one case shows the other's
        args = (BUILD if module == "ml_core.data" else ["build", "--only", "smoke_box", "--quiet"])
        result = _cli(module, *args, "--out", str(tmp_path / "out"), "--scheduler", scheduler, env=env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"{prog}: error: ") and expect in lines[0], lines[0]
        assert not list((tmp_path / "out").rglob("*.exr")) and not (tmp_path / "out" / SPLIT).exists()


def test_what_a_worker_imports_to_run_a_scene_task_loads_neither_torch_nor_openexr():
    """A worker imports the task's module before bpy; bpy must come before torch and OpenEXR in a process."""
    probe = ("import sys, ml_core.cluster, ml_core.data, ml_core.authored.build; "
             "print(sorted(m for m in ('torch', 'OpenEXR', 'Imath', 'cv2', 'bpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


WORKER_OF_A_BPY_PROCESS = """
import sys
from ml_core import blender
if __name__ == "__main__":
    blender.import_bpy()  # this process has Blender's script folders on sys.path now; its workers inherit them
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print("worker bpy", client.submit(lambda: blender.import_bpy().app.version_string).result())
"""


def test_a_worker_spawned_by_a_process_that_imported_bpy_still_imports_it(tmp_path):
    """A LocalCluster's workers inherit the starting process's sys.path; where that process had imported bpy
    (as the test suite's own process has, by the time this file runs in CI) the path held Blender's
    scripts/modules, whose ``bpy`` is Blender's Python half: ``import bpy`` failed on ``_bpy`` in every worker.
    ``ml_core.blender.import_bpy`` drops those folders before importing."""
    script = tmp_path / "start_cluster.py"
    script.write_text(WORKER_OF_A_BPY_PROCESS)
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and "worker bpy 5.0" in done.stdout, done.stderr[-2000:]
