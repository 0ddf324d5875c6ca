"""``python -m bench scale`` end to end, small: one ``v2_tiny`` scene built locally, on a 1-worker and on a
2-worker Dask cluster started as a farm starts one (``dask scheduler`` / ``dask worker`` processes), and a few
training steps of the shipped denoiser's config in 1 process and in 2 under torchrun. The table has every row
and every figure is positive."""
from __future__ import annotations

import json

import pytest

import bench
from bench import scale

pytest.importorskip("dask.distributed")


def test_scale_measures_every_configuration(tmp_path, capsys):
    out = tmp_path / "report"
    code = bench.main(["scale", "--preset", "v2_tiny", "--scenes", "1", "--steps", "1", "--warmup", "1",
                       "--train-rounds", "1", "--out", str(out)])
    table = capsys.readouterr().out
    assert code == 0
    result = json.loads((out / "scale.json").read_text())
    assert (out / "scale.md").read_text().strip() in table

    renders = result["renders"]
    assert list(renders) == [name for name, _, _ in scale.SCENE_RUNS]
    for name, workers, threads in scale.SCENE_RUNS:
        run = renders[name]
        assert f"| {name} | {max(workers, 1)} x {threads} |" in table
        assert run["wall_seconds"] > 0 and run["scenes_per_minute"] > 0 and run["render_seconds"] > 0
        assert len(run["scene_seconds"]) == 1 and len(run["rendered_by"]) == 1
        assert ("--scheduler SCHEDULER_FILE" in run["command"]) == bool(workers)
        assert f"--threads {threads}" in run["command"]

    training = result["training"]
    assert list(training) == [name for name, _, _ in scale.TRAIN_RUNS]
    for name, processes, threads in scale.TRAIN_RUNS:
        run = training[name]
        assert f"| {name} | {processes} x {threads} |" in table
        assert (run["processes"], run["threads"]) == (processes, threads)
        assert run["steps_per_second"] > 0 and run["samples_per_second"] > 0 and run["batch_size"] == 16
    assert training["torchrun 2 processes"]["allreduce_ms"] > 0
    assert training["1 process"]["allreduce_ms"] is None
