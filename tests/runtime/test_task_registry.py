"""The task registry is the one place a task is declared. A task registered here, at run time, with no edit to
any other file, gets its ``postpass`` subcommand (its option, its examples), a batch plan by its layout, frames
written end to end and its API function; and no code outside a task's own module branches on a task's name."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import tokenize
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from addon.cli import main
from addon.runtime import api, read_exr, run, tasks, write_exr
from addon.runtime.batch import LAYOUT_PLANNERS, BatchError, plan
from addon.runtime.contract import ImageInput, ImageOutput, ModelContract, ModelError, ScalarInput
from addon.runtime.registry import Registry, sha256_of

REPO = Path(__file__).resolve().parents[2]
TASK = "temporal_mean"
FRAMES = range(1001, 1006)


def temporal_mean(prev: np.ndarray, frame: np.ndarray, next: np.ndarray, *, gain: float | None = None,
                  **options) -> np.ndarray:
    """The test task's API function: ``gain`` x the mean of a frame and its two neighbours."""
    return run(TASK, {"prev": prev, "frame": frame, "next": next, "gain": gain}, **options).image


def plan_gain(jobs: list, options: dict) -> list:
    """The test task's plan hook: its ``--gain`` becomes a scalar model input of every frame."""
    if options["gain"] is None:
        return jobs
    return [dataclasses.replace(job, inputs=job.inputs + (("gain", options["gain"]),)) for job in jobs]


SPEC = tasks.TaskSpec(
    name=TASK,
    summary="average each frame with its neighbours (a test task)",
    label="Temporal Mean",
    icon="SEQUENCE",
    main_input="frame",
    layout="window",
    window=1,
    cli_options=(tasks.CliOption(("--gain",), {"type": float, "metavar": "G", "help": "scale the mean by G"}),),
    plan_jobs=plan_gain,
    examples="""
examples:
  postpass temporal_mean shot/beauty.####.exr -o mean/beauty.####.exr --gain 0.5
""",
    api=(temporal_mean,),
)
CONTRACT_ARGS = dict(
    inputs=tuple(ImageInput(name, ("R", "G", "B"), "linear", pass_name="Combined", source=i)
                 for i, name in enumerate(("prev", "frame", "next")))
    + (ScalarInput("gain", "scale of the mean", default=1.0),),
    outputs=(ImageOutput("image", ("R", "G", "B"), "linear", pass_name="Combined"),),
)


@pytest.fixture
def mean_task():
    with tasks.registered(SPEC):
        yield SPEC
    assert TASK not in tasks.names()


@pytest.fixture
def mean_models(mean_task, tmp_path) -> Path:
    """A models folder holding one tiny ONNX model of the test task, published with its sha256."""
    contract = ModelContract(task=TASK, **CONTRACT_ARGS)
    image = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, "H", "W"])  # noqa: E731
    graph = helper.make_graph(
        [helper.make_node("Sum", ["prev", "frame", "next"], ["total"]),
         helper.make_node("Reshape", ["gain", "per_image"], ["gain4"]),
         helper.make_node("Mul", ["total", "gain4"], ["scaled"]),
         helper.make_node("Mul", ["scaled", "third"], ["image"])],
        TASK, [image("prev"), image("frame"), image("next"),
               helper.make_tensor_value_info("gain", TensorProto.FLOAT, ["N", 1])], [image("image")],
        [numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "per_image"),
         numpy_helper.from_array(np.array(1 / 3, np.float32), "third")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    metadata = {**contract.to_metadata(), "name": TASK, "version": "0.0.1", "precision": "fp32"}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / f"{TASK}.onnx").write_bytes(data)
    Registry(folder, create=True).publish(TASK, f"{TASK}.onnx", sha256_of(data), metadata)
    return folder


@pytest.fixture
def shot(tmp_path) -> Path:
    """shot/beauty.1001.exr ... 1005: 6x8 RGB frames, frame f filled with f - 1000."""
    folder = tmp_path / "shot"
    folder.mkdir()
    for frame in FRAMES:
        write_exr(folder / f"beauty.{frame}.exr", {"Combined": np.full((6, 8, 3), frame - 1000, np.float32)})
    return folder


def test_a_task_registered_at_run_time_gets_its_subcommand_option_and_examples(mean_task, capsys):
    assert main(["--help"]) == 0
    assert re.search(rf"\n    {TASK}\s+average each frame with its neighbours", capsys.readouterr().out)
    assert main([TASK, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--gain G" in text and "scale the mean by G" in text and "--frames RANGE" in text
    assert "examples:" in text and f"postpass {TASK} shot/beauty.####.exr" in text.split("examples:")[1]
    assert "farm behaviour:" in text  # the text every task's help shares


def test_the_window_layout_reads_neighbours_outside_the_chunk_and_clamps_at_the_ends(mean_task, shot, tmp_path):
    pattern, out = str(shot / "beauty.####.exr"), str(tmp_path / "out" / "m.####.exr")
    chunk = plan(TASK, [pattern], out, [1001, 1002], gain=None)
    assert [j.frame for j in chunk] == [1001, 1002]
    assert [[Path(s).name for s in j.sources] for j in chunk] == [
        ["beauty.1001.exr", "beauty.1001.exr", "beauty.1002.exr"],  # before the first frame: the first again
        ["beauty.1001.exr", "beauty.1002.exr", "beauty.1003.exr"]]  # 1003 lies outside the chunk: read all the same
    last = plan(TASK, [pattern], out, [1005])
    assert [Path(s).name for s in last[0].sources] == ["beauty.1004.exr", "beauty.1005.exr", "beauty.1005.exr"]
    assert plan(TASK, [pattern], out, gain=2.0)[0].inputs == (("gain", 2.0),)  # the task's hook, from its option
    assert len(plan(TASK, [pattern], out)) == len(FRAMES)  # default: every frame on disk
    with pytest.raises(BatchError, match=f"{TASK} reads a sequence"):
        plan(TASK, [str(shot / "beauty.1001.exr")], out)
    with pytest.raises(BatchError, match=f"{TASK} takes no option keys"):
        plan(TASK, [pattern], out, keys=[1001])
    with pytest.raises(BatchError, match="the output pattern is the input pattern"):
        plan(TASK, [pattern], pattern)


def test_a_registered_task_runs_end_to_end_on_frames_and_through_the_api(mean_models, shot, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([TASK, str(shot / "beauty.####.exr"), "-o", str(out / "m.####.exr"), "--frames", "1001-1002",
                 "--gain", "3", "--models-dir", str(mean_models), "--json", "-q"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["done"] == [1001, 1002] and summary["models"] == [TASK]
    assert sorted(p.name for p in out.iterdir()) == ["m.1001.exr", "m.1002.exr"]
    for frame, window in ((1001, (1, 1, 2)), (1002, (1, 2, 3))):
        np.testing.assert_allclose(read_exr(out / f"m.{frame}.exr").get("Combined"), sum(window), rtol=1e-6)

    frames = [np.full((6, 8, 3), v, np.float32) for v in (1, 2, 6)]
    from addon.runtime import temporal_mean as exported  # the package exports it, like denoise

    assert exported is api.temporal_mean is temporal_mean
    np.testing.assert_allclose(exported(*frames, models_dir=mean_models), 3.0, rtol=1e-6)
    np.testing.assert_allclose(exported(*frames, gain=0.5, models_dir=mean_models), 1.5, rtol=1e-6)


def test_unregistered_tasks_are_gone_everywhere(mean_models):
    with tasks.registered(tasks.TaskSpec("other_mean", "s", "Other", "SEQUENCE", "frame", "frame")):
        assert "other_mean" in tasks.names()
    assert "other_mean" not in tasks.names()
    tasks.unregister(TASK)
    try:
        with pytest.raises(AttributeError):
            api.temporal_mean  # noqa: B018
        with pytest.raises(ImportError):
            from addon.runtime import temporal_mean  # noqa: F401
        with pytest.raises(BatchError, match=f"unknown task '{TASK}'; choose one of denoise, upres, colorize"):
            plan(TASK, ["x.####.exr"], "out/")
        with pytest.raises(ModelError, match=f"task '{TASK}' is not one of denoise, upres, colorize, inbetween"):
            Registry(mean_models)
    finally:
        tasks.register(SPEC)  # the fixture's context manager removes it again


@pytest.mark.parametrize("change, problem", [
    ({"layout": "pairs"}, "layout 'pairs' is not one of frame, frame+guides, key_pair, window"),
    ({"window": 0}, "a window (frames on each side, >= 1) goes with the 'window' layout"),
    ({"on_render": "always"}, "on_render 'always' is not one of"),
    ({"api": (api.denoise,)}, "API function 'denoise' is already denoise's"),
    ({"on_render": "frame", "render_scale": "gain"}, "render_scale 'gain' is not a 'choice' UI option"),
])
def test_a_broken_spec_is_refused_when_registered(change, problem):
    with pytest.raises(tasks.TaskError, match=re.escape(problem)):
        tasks.register(tasks.TaskSpec(**{**SPEC.__dict__, "name": "broken", **change}))
    assert "broken" not in tasks.names()


def test_the_shipped_tasks_and_every_layout():
    assert tasks.names() == ("denoise", "upres", "colorize", "inbetween")  # the order of help and panels
    assert set(LAYOUT_PLANNERS) == set(tasks.LAYOUTS)
    with pytest.raises(tasks.TaskError, match="unknown task 'sharpen'; choose one of denoise, upres, colorize, "
                                              "inbetween"):
        tasks.get("sharpen")
    for spec in tasks.specs():
        assert {f.__name__ for f in spec.api} == {spec.name, f"{spec.name}_file"}
        assert all(getattr(api, f.__name__) is f for f in spec.api)


# ----------------------------------------------------------------------------------------------------------
# No task-name branches outside the tasks' own modules
# ----------------------------------------------------------------------------------------------------------
#: Folders whose code must not name a task: the whole add-on, its Blender layer included (generated from the
#: registry), but for the tasks' own modules.
SCANNED = ("addon",)
TASK_MODULES = REPO / "addon" / "runtime" / "tasks"
BRANCH = re.compile(r"""\btask\s*(==|!=|(not\s+)?in)\s*[(\[{]?\s*["']""")


def _sources() -> list[Path]:
    files = sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py"))
    return [p for p in files if TASK_MODULES not in p.parents]


def test_no_code_outside_the_task_modules_branches_on_a_task_name():
    """Neither a ``task == "..."`` style test nor a string that is a task's name (a table keyed by task, a
    hard-coded call): what a task does differently lives in its module of ``addon/runtime/tasks/``."""
    assert _sources(), SCANNED
    names, found = set(tasks.names()), []
    for path in _sources():
        where = path.relative_to(REPO)
        found += [f"{where}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
                  if BRANCH.search(line)]
        with tokenize.open(path) as f:
            found += [f"{where}:{t.start[0]}: {t.string}" for t in tokenize.generate_tokens(f.readline)
                      if t.type == tokenize.STRING and _literal(t.string) in names]
    assert not found, "task names outside addon/runtime/tasks/:\n" + "\n".join(found)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):  # f-strings
        return None
