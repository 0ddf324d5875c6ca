"""The batch on a real Dask cluster (``LocalCluster``, two worker processes): the same bytes as in-process,
one model session per worker, and a worker killed mid-frame costs a retry, never a partial frame."""
from __future__ import annotations

import filecmp
import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import SEQUENCE_FRAMES

from addon.cli import main

dask_distributed = pytest.importorskip("dask.distributed")


@pytest.fixture
def cluster():
    with dask_distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None) as local:
        yield local


def denoise(sequence: Path, out: Path, *extra: str) -> int:
    return main(["denoise", str(sequence / "beauty.####.exr"), "-o", str(out / "c.####.exr"), "--threads", "1",
                 "--json", *extra])


def same_frames(a: Path, b: Path) -> bool:
    return all(filecmp.cmp(a / f"c.{f}.exr", b / f"c.{f}.exr", shallow=False) for f in SEQUENCE_FRAMES)


def cached_models() -> int:
    from addon.runtime import engine

    return len(engine._CACHE)


def test_dask_frames_are_byte_identical_to_in_process(cycles_sequence, models_dir, tmp_path, cluster, monkeypatch,
                                                       capsys):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    assert denoise(cycles_sequence, tmp_path / "local") == 0
    capsys.readouterr()
    assert denoise(cycles_sequence, tmp_path / "dask", "--scheduler", cluster.scheduler_address) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["done"] == list(SEQUENCE_FRAMES)
    assert same_frames(tmp_path / "local", tmp_path / "dask")
    workers = {line.split(" on ")[1].split(" ")[0] for line in err.splitlines() if " done in " in line}
    assert all(os.getpid() != int(w.split(":")[1]) for w in workers)  # the frames ran in the worker processes
    with dask_distributed.Client(cluster.scheduler_address) as client:
        sessions = list(client.run(cached_models).values())
        assert 1 in sessions and set(sessions) <= {0, 1}  # one session per worker, reused frame to frame


def crash_before_rename(marker: str) -> None:
    """Runs in each worker: the first frame written on the cluster kills its worker process after the frame's
    temporary file is written and before it is renamed (the marker file makes it happen once in all)."""
    from addon.runtime import exr, files

    @contextmanager
    def dying_atomic_output(path):
        with files.atomic_output(path) as tmp:
            yield tmp
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)

    exr.atomic_output = dying_atomic_output


def test_a_worker_killed_mid_frame_is_retried_and_leaves_no_partial_frame(cycles_sequence, models_dir, tmp_path,
                                                                          cluster, monkeypatch, capsys):
    monkeypatch.setenv("POSTPASS_MODELS", str(models_dir))
    assert denoise(cycles_sequence, tmp_path / "local") == 0
    capsys.readouterr()
    marker = tmp_path / "crashed"
    with dask_distributed.Client(cluster.scheduler_address) as client:
        client.run(crash_before_rename, str(marker))
        pids_before = set(client.run(os.getpid).values())
        assert denoise(cycles_sequence, tmp_path / "dask", "--scheduler", cluster.scheduler_address) == 0
        client.wait_for_workers(2)
        pids_after = set(client.run(os.getpid).values())
    assert marker.exists() and pids_after != pids_before  # a worker really died and was replaced
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == list(SEQUENCE_FRAMES) and summary["failed"] == []
    assert same_frames(tmp_path / "local", tmp_path / "dask")
    leftovers = [p.name for p in (tmp_path / "dask").iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1 and ".tmp." in leftovers[0]  # the dead worker's hidden temporary, never a frame


def test_guided_inbetween_on_dask_gives_the_bytes_of_one_process(guided_shot, models_dir, tmp_path, cluster,
                                                                  capsys):
    """Issue 28 on a cluster: keys every 4th frame, each made frame from its keys, its own guide render and the
    guides between (read by the workers, whose file list names them): the same bytes as in one process."""
    def run(out: Path, *extra: str) -> dict:
        assert main(["inbetween", str(guided_shot / "render" / "beauty.####.exr"), "-o", str(out / "b.####.exr"),
                     "--keys", "1001,1005", "--guides", str(guided_shot / "guides" / "g.####.exr"), "--threads", "1",
                     "--models-dir", str(models_dir), "--json", "-q", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    local = run(tmp_path / "local")
    remote = run(tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    assert local["done"] == remote["done"] == [1002, 1003, 1004]
    assert remote["models"] == ["inbetween_guided"] and remote["notes"] == []
    assert all(filecmp.cmp(tmp_path / "local" / f"b.{f}.exr", tmp_path / "dask" / f"b.{f}.exr", shallow=False)
               for f in (1002, 1003, 1004))
