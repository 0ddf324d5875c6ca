"""Export: ONNX that passes onnx.checker, matches torch, carries the metadata and lands in a registry."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
import torch
from conftest import FP16_MODELS, TEST_MODELS

from addon.runtime.contract import PROVENANCE_KEYS, ModelContract
from addon.runtime.registry import Registry, sha256_of
from export import ExportError, export_checkpoint
from export.parity import FP16_TOLERANCE, FP32_TOLERANCE, parity_batches
from ml_core.checkpoint import load_checkpoint, save_checkpoint
from ml_core.models import build


@pytest.mark.parametrize("name", TEST_MODELS)
def test_export_is_checked_matches_torch_and_is_registered(exported_models, untrained_checkpoints, name):
    folder, reports = exported_models
    fp32 = reports[name][0]
    assert fp32.precision == "fp32" and fp32.parity_error <= FP32_TOLERANCE
    proto = onnx.load(fp32.path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    model, config = load_checkpoint(untrained_checkpoints[name])
    assert ModelContract.from_metadata(meta) == model.contract()
    assert set(PROVENANCE_KEYS) <= set(meta)
    assert meta["training_command"] == config["training"]["command"] and meta["seed"] == "0"
    assert meta["config"] == ""  # these checkpoints were not trained from a config
    assert json.loads(meta["parity"])["max_error"] == fp32.parity_error
    for graph_input in proto.graph.input:  # batch, height and width are symbolic
        dims = graph_input.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch"
        if len(dims) == 4:
            assert dims[2].dim_param and dims[3].dim_param
    entry = Registry(folder).get(name)
    assert entry.sha256 == sha256_of(fp32.path.read_bytes()) == fp32.sha256
    assert entry.summary["task"] == model.contract().task


def test_parity_inputs_cover_two_sizes_and_batches():
    contract = build("upres_net", scale=4, guides=["albedo"]).contract()
    batches = parity_batches(contract)
    shapes = [(b["image"].shape, b["albedo"].shape) for _, b in batches]
    assert shapes[0][0][0] == 2 and shapes[1][0][0] == 1 and shapes[0][0][2:] != shapes[1][0][2:]
    assert all(a[2:] == tuple(4 * s for s in i[2:]) for i, a in shapes)
    assert batches[0][1]["image"].max() > 1.0  # HDR colour spans stops


@pytest.mark.parametrize("name", FP16_MODELS)
def test_fp16_variant_within_stated_tolerance(exported_models, name):
    folder, reports = exported_models
    fp16 = reports[name][1]
    assert fp16.precision == "fp16" and fp16.name == f"{name}-fp16"
    assert 0 < fp16.parity_error <= FP16_TOLERANCE
    proto = onnx.load(fp16.path)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fed like any model
    assert Registry(folder).get(fp16.name).precision == "fp16"


def test_parity_on_a_real_cycles_render(cycles_render, untrained_checkpoints, tmp_path):
    denoise = export_checkpoint(untrained_checkpoints["denoise_aux"], tmp_path,
                                samples=[str(cycles_render / "noisy_spp0004.exr")])[0]
    frames = [str(cycles_render / "frame_0001.exr"), str(cycles_render / "frame_0003.exr")]
    inbetween = export_checkpoint(untrained_checkpoints["inbetween_vectors"], tmp_path, samples=frames)[0]
    for report in (denoise, inbetween):
        parity = json.loads({p.key: p.value for p in onnx.load(report.path).metadata_props}["parity"])
        assert parity["inputs"][0].startswith("files ") and report.parity_error <= FP32_TOLERANCE


def test_nan_model_is_refused_and_nothing_published(tmp_path):
    model = build("colorize_unet", seed=0, widths=[4, 8])
    with torch.no_grad():
        model.unet.head.bias.fill_(float("nan"))
    checkpoint = save_checkpoint(tmp_path / "nan.pt", model, name="nan", version="0", training={
        "command": "x", "seed": 0, "dataset_fingerprint": "x", "metrics": {}})
    out = tmp_path / "models"
    with pytest.raises(ExportError, match="^.*nan.pt: the fp32 model produces NaN/Inf on .*; not published$"):
        export_checkpoint(checkpoint, out)
    assert not (out / "nan.onnx").exists() and not Registry(out, create=True).entries


def test_parity_drift_is_refused(untrained_checkpoints, tmp_path, monkeypatch):
    """The warping model differs from torch by ~1e-5 (grid_sample rounding): a zero tolerance must refuse it."""
    import export.onnx_export

    monkeypatch.setattr(export.onnx_export, "FP32_TOLERANCE", 0.0)
    with pytest.raises(ExportError, match=r"fp32 onnxruntime differs from torch by [0-9.e-]+ \(> 0e\+00\)"):
        export_checkpoint(untrained_checkpoints["inbetween"], tmp_path)
    assert not list(tmp_path.glob("*.onnx"))


def test_command_line(untrained_checkpoints, tmp_path):
    figures = tmp_path / "bench.json"
    figures.write_text('{"set5_x2_psnr": 36.1}')
    ok = subprocess.run([sys.executable, "-m", "export", str(untrained_checkpoints["upres_x2"]), "--out",
                         str(tmp_path), "--name", "my_upres", "--metrics", str(figures)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("published my_upres (fp32) ->") and "parity" in ok.stdout
    assert "my_upres" in Registry(tmp_path).entries
    assert Registry(tmp_path).get("my_upres").summary["metrics"]["benchmark"] == {"set5_x2_psnr": 36.1}
    figures.write_text("[1, 2]")
    refused = subprocess.run([sys.executable, "-m", "export", str(untrained_checkpoints["upres_x2"]), "--out",
                              str(tmp_path), "--metrics", str(figures)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "metrics must be a JSON object" in refused.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    failed = subprocess.run([sys.executable, "-m", "export", str(bad), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.strip().count("\n") == 0 and "not a Postpass checkpoint" in failed.stderr


def test_republishing_replaces_the_entry(untrained_checkpoints, tmp_path):
    first = export_checkpoint(untrained_checkpoints["upres_x2"], tmp_path)[0]
    model, _ = load_checkpoint(untrained_checkpoints["upres_x2"])
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    changed = save_checkpoint(tmp_path / "changed.pt", model, name="upres_x2", version="0.0.2", training={
        "command": "x", "seed": 1, "dataset_fingerprint": "x", "metrics": {"psnr": 30.0}})
    second = export_checkpoint(changed, tmp_path)[0]
    registry = Registry(tmp_path)
    assert list(registry.entries) == ["upres_x2"] and first.sha256 != second.sha256
    assert registry.get("upres_x2").sha256 == second.sha256 and registry.get("upres_x2").version == "0.0.2"
    assert registry.get("upres_x2").summary["metrics"] == {"psnr": 30.0}


@pytest.mark.parametrize("training, config", [
    ({"config": "ml_core/configs/upres/upres_x2.json"}, "ml_core/configs/upres/upres_x2.json"),
    # a run recorded only its command: the --config argument, moved to where that config lives now
    ({"command": "python -m ml_core.train --config ml_core/configs/upres_x2.json --quiet"},
     "ml_core/configs/upres/upres_x2.json"),
    ({"command": "python -m ml_core.train --config=ml_core/configs/denoise_kpn_more.json"},
     "ml_core/configs/denoise/experiments/denoise_kpn_more.json"),
    ({"command": "python -m ml_core.train --config /elsewhere/mine.json"}, "/elsewhere/mine.json"),
])
def test_export_records_the_training_config_path(untrained_checkpoints, tmp_path, training, config):
    """``config`` in the metadata: the config file relative to the repository root, as the run recorded it (a
    checkpoint's ``training.config``) or, for runs older than that, from the training command."""
    model, _ = load_checkpoint(untrained_checkpoints["upres_x2"])
    record = {"command": "x", "seed": 1, "dataset_fingerprint": "x", "metrics": {}, **training}
    checkpoint = save_checkpoint(tmp_path / "run.pt", model, name="upres_x2", version="0.0.2", training=record)
    assert load_checkpoint(checkpoint)[1]["training"].get("config") == training.get("config")
    report = export_checkpoint(checkpoint, tmp_path / "models")[0]
    assert {p.key: p.value for p in onnx.load(report.path).metadata_props}["config"] == config
