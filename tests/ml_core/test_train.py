"""The training command really trains (the loss falls), keeps its best checkpoint, and resumes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import numpy as np
import torch

from ml_core import train
from ml_core.checkpoint import load_checkpoint
from ml_core.losses import LOSSES
from ml_core.metrics import srgb_encode_torch

CONFIGS = Path(__file__).resolve().parents[2] / "ml_core" / "configs"
CONFIG = CONFIGS / "denoise" / "denoise_tiny.json"


def test_tiny_denoise_training_reduces_the_loss_and_resumes(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    args = ["--config", str(CONFIG), "--data", str(tiny_dataset), "--run", str(run), "--quiet"]
    assert train.main(args + ["--epochs", "3"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert len(history["epochs"]) == 3
    first = history["initial_val"]["loss"]
    last = history["epochs"][-1]["val_loss"]
    assert last < 0.8 * first, f"validation loss {first:.4f} -> {last:.4f}: training does not learn"
    for name in ("last.pt", "best.pt", "resume.pt", "curves.png"):
        assert (run / name).is_file(), name
    model, config = load_checkpoint(run / "best.pt")
    assert config["training"]["seed"] == 1 and "--config" in config["training"]["command"]
    assert config["training"]["config"] == "ml_core/configs/denoise/denoise_tiny.json"
    assert config["training"]["dataset_fingerprint"]

    before = torch.load(run / "last.pt", weights_only=True)["state_dict"]
    assert train.main(args + ["--epochs", "5"]) == 0  # resumes at epoch 3, does not start over
    resumed = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3, 4, 5]
    assert resumed["epochs"][:3] == history["epochs"][:3]
    after = torch.load(run / "last.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("config_name", ["upres/upres_tiny.json", "denoise/denoise_kpn_tiny.json"])
def test_tiny_training_improves_on_a_good_start(config_name, tiny_dataset, tmp_path):
    """Models that start well (the guided up-res model from its demodulated base, the kernel-predicting
    denoiser as box filters, already better than the noisy input): training must still improve on the start."""
    run = tmp_path / "run"
    config = CONFIGS / config_name
    assert train.main(["--config", str(config), "--data", str(tiny_dataset), "--run", str(run), "--quiet"]) == 0
    history = json.loads((run / "history.json").read_text())
    first, last = history["initial_val"]["loss"], history["epochs"][-1]["val_loss"]
    assert last < 0.9 * first, f"validation loss {first:.4f} -> {last:.4f}: training does not learn"


def test_a_run_can_start_from_a_checkpoint_and_mix_datasets(tiny_dataset, tiny_anim_dataset, untrained_checkpoints,
                                                            tmp_path):
    """``train.init`` loads a checkpoint's weights instead of the seeded start; ``data.mix`` adds another
    dataset folder's scenes (here 5-frame animations to the 3-frame ones), covered by the fingerprint."""
    from ml_core import data

    start = untrained_checkpoints["inbetween_vectors"]
    config = {"task": "inbetween", "name": "inbetween_vectors", "version": "0.0.2", "seed": 7,
              "model": {"architecture": "inbetween_splat", "params": {"widths": [8, 12, 16]}},
              "data": {"root": str(tiny_dataset), "crop": 32, "crops_per_scene": 1, "val_crops_per_scene": 1,
                       "mix": [{"root": str(tiny_anim_dataset), "split": "anim_train", "crops_per_scene": 2}]},
              "train": {"init": str(start), "epochs": 1, "batch_size": 2, "lr": 1e-12}}
    history = train.train(config, tmp_path / "run", progress=False, log=lambda *_: None)
    assert history["init"] == str(start)
    before = torch.load(start, weights_only=True)["state_dict"]
    after = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # lr ~0: still the init weights
    scenes = data.complete_scenes(tiny_dataset, "train") + data.complete_scenes(tiny_anim_dataset, "anim_train")
    _, saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["training"]["dataset_fingerprint"] == data.scenes_fingerprint(scenes)

    config["model"]["params"]["widths"] = [8, 12]
    with pytest.raises(ValueError, match="init checkpoint"):
        train.train(config, tmp_path / "other", progress=False, log=lambda *_: None)


def test_bf16_trains_where_the_cpu_multiplies_bf16_and_the_history_says_which_precision_ran(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    config = CONFIGS / "denoise" / "denoise_kpn_tiny.json"
    assert train.main(["--config", str(config), "--data", str(tiny_dataset), "--run", str(run), "--quiet",
                       "--device", "cpu", "--precision", "bf16"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert {e["precision"] for e in history["epochs"]} == {"bf16" if train.cpu_bf16() else "fp32"}
    first, last = history["initial_val"]["loss"], history["epochs"][-1]["val_loss"]
    assert last < 0.9 * first, f"validation loss {first:.4f} -> {last:.4f}: training in bf16 does not learn"


def test_a_precision_the_device_cannot_run_falls_back_to_fp32_and_says_so(monkeypatch):
    said = []
    cpu = torch.device("cpu")
    assert train.effective_precision("fp16", cpu, said.append) == "fp32" and "is for CUDA" in said[-1]
    monkeypatch.setattr(train, "cpu_bf16", lambda: False)
    assert train.effective_precision("bf16", cpu, said.append) == "fp32" and "native bf16" in said[-1]
    monkeypatch.setattr(train, "cpu_bf16", lambda: True)
    assert train.effective_precision("bf16", cpu, said.append) == "bf16" and len(said) == 2
    assert train.effective_precision("fp32", cpu, said.append) == "fp32"
    with pytest.raises(ValueError, match="expected one of"):
        train.effective_precision("int8", cpu, said.append)


def test_weight_average_moves_towards_the_trained_weights_by_one_minus_the_decay():
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_()
    average = train.WeightAverage(model, 0.75)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model)
    assert torch.allclose(average.model.weight, torch.full((1, 2), 0.25))
    with pytest.raises(ValueError, match="decay"):
        train.WeightAverage(model, 1.0)


def test_a_run_with_a_weight_average_saves_and_resumes_the_average(tiny_dataset, tmp_path):
    """With ``train.ema`` the checkpoints hold the averaged weights (not the last step's), each epoch records the
    raw weights' validation too, and a resumed run continues the average from ``resume.pt``: interrupted after
    epoch 1 and resumed, it ends with the same average as a run that was never interrupted (an average restarted
    from the raw weights would not)."""
    config = train.load_config(CONFIG)
    config["data"]["root"] = str(tiny_dataset)
    config["train"].update(epochs=2, ema=0.9)
    straight = train.train(config, tmp_path / "straight", progress=False, log=lambda *_: None)
    assert all("val_psnr_raw" in e for e in straight["epochs"])
    state = torch.load(tmp_path / "straight" / "resume.pt", weights_only=True)
    saved = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], state["ema"][k]) for k in saved)
    assert any(not torch.equal(saved[k], state["model"][k]) for k in saved)

    def stop_in_epoch_2(line):  # logged before epoch 2's checkpoints: resume.pt still holds epoch 1
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    run = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train.train(config, run, progress=False, log=stop_in_epoch_2)
    assert torch.load(run / "resume.pt", weights_only=True)["epoch"] == 1
    resumed = train.train(config, run, progress=False, log=lambda *_: None)
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2]
    after = torch.load(run / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(saved[k], after[k], atol=1e-6) for k in saved)


def test_log_mse_loss_is_minus_the_mean_per_image_psnr_up_to_scale():
    """Two images, one 10x the other's squared error: log_mse ranks by the per-image mean PSNR, as the
    colorize benchmark averages, where pooled L2 is dominated by the worse image."""
    import math

    target = torch.zeros(2, 3, 8, 8)
    pred = target.clone()
    pred[0] += 0.01
    pred[1] += 0.1
    psnr = [10 * math.log10(1 / 0.01 ** 2), 10 * math.log10(1 / 0.1 ** 2)]
    expected = -sum(psnr) / 2 * math.log(10) / 10  # log(MSE) = -PSNR ln(10) / 10 for values in [0, 1]
    assert float(LOSSES.get("log_mse")(pred, target, None)) == pytest.approx(expected, abs=0.01)  # eps 1e-6


def _two_images_with_uniform_errors():
    """Two mid-grey targets, one predicted at 0.51 and one at 0.6 (linear); and each one's displayed error."""
    target = torch.full((2, 3, 8, 8), 0.5)
    pred = target.clone()
    pred[0] = 0.51
    pred[1] = 0.6
    srgb = srgb_encode_torch
    errors = [float(srgb(torch.tensor(v)) - srgb(torch.tensor(0.5))) for v in (0.51, 0.6)]
    return pred, target, torch.ones(2), errors


def test_display_rmse_loss_weighs_each_image_by_its_own_error_and_keeps_the_log_term():
    """``hdr_l1_display_rmse``: its display half is the mean over images of each one's RMSE after exposure,
    clip and sRGB (so a uniform error of d in the displayed image counts d, in a clean image as in a noisy one),
    and its other half is :func:`hdr_l1`, which still sees errors above the clip point."""
    pred, target, exposure, errors = _two_images_with_uniform_errors()
    expected = float(LOSSES.get("hdr_l1")(pred, target, exposure)) / 2 + sum(abs(d) for d in errors) / 4
    assert float(LOSSES.get("hdr_l1_display_rmse")(pred, target, exposure)) == pytest.approx(expected, rel=1e-4)
    bright = torch.full((1, 3, 8, 8), 4.0)  # both clip to white: only the log term sees the difference
    loss = float(LOSSES.get("hdr_l1_display_rmse")(bright * 2, bright, torch.ones(1)))
    assert loss == pytest.approx(0.5 * float(LOSSES.get("hdr_l1")(bright * 2, bright, torch.ones(1))), rel=1e-3)


def test_display_psnr_loss_is_the_per_image_psnr_beside_the_log_term_and_matches_rmse_at_30_db():
    """``hdr_l1_display_psnr``: its display part is 0.0075 x the mean per-image log-MSE of the displayed image
    (minus PSNR, up to scale, with a 50-dB floor), and at a display RMSE of 0.03 its gradient equals
    ``hdr_l1_display_rmse``'s display half, so swapping one for the other keeps the balance with the log term."""
    import math

    pred, target, exposure, errors = _two_images_with_uniform_errors()
    expected = (0.5 * float(LOSSES.get("hdr_l1")(pred, target, exposure))
                + 0.0075 * sum(math.log(d * d + 1e-5) for d in errors) / 2)
    assert float(LOSSES.get("hdr_l1_display_psnr")(pred, target, exposure)) == pytest.approx(expected, rel=1e-4)

    srgb = srgb_encode_torch

    def display_grad(name, error):  # d(loss)/d(pred) minus the log term's, for a uniform display error
        p = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
        t = (srgb(torch.tensor(0.5)) - error + 0.055) / 1.055
        t = torch.full((1, 3, 8, 8), float(t.clamp_min(0) ** 2.4))  # the linear value displayed at 0.5 - error
        (LOSSES.get(name)(p, t, torch.ones(1)) - 0.5 * LOSSES.get("hdr_l1")(p, t, torch.ones(1))).backward()
        return float(p.grad.sum())

    assert display_grad("hdr_l1_display_psnr", 0.03) == pytest.approx(display_grad("hdr_l1_display_rmse", 0.03),
                                                                     rel=0.02)
    # a cleaner image weighs more under the PSNR loss than under RMSE (the average of per-image PSNRs does too)
    assert display_grad("hdr_l1_display_psnr", 0.01) > 2 * display_grad("hdr_l1_display_rmse", 0.01)


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.json")), ids=lambda p: p.stem)
def test_every_config_names_a_known_loss_and_builds_its_model(path):
    """A typo in a config (a loss name, a model parameter) should fail here, not an hour into a training run.
    Configs sit in their task's folder (``<task>/NAME.json``, or ``<task>/experiments/NAME.json``)."""
    from ml_core.models import build

    config = train.load_config(path)
    assert {"task", "seed", "model", "data", "train"} <= set(config), path.name
    relative = path.relative_to(CONFIGS).parts
    assert relative[0] == config["task"] and len(relative) in (2, 3), path
    assert len(relative) == 2 or relative[1] == "experiments", path
    assert config["config_path"] == f"ml_core/configs/{'/'.join(relative)}"
    assert config["train"].get("loss", "l1") in LOSSES, path.name
    model = build(config["model"]["architecture"], seed=config["seed"], **config["model"].get("params", {}))
    assert model.contract().task == config["task"], path.name


def test_zero_epochs_derives_a_validated_model_from_its_init(tiny_dataset, tmp_path):
    """``--epochs 0``: a model derived from ``train.init`` without training (issue 25's denoisers for fewer guide
    passes, from the shipped colour + albedo + normal one's file) is validated and written as best.pt, its
    metrics the validation before training, so export takes it like a trained one."""
    config = json.loads((CONFIGS / "denoise" / "denoise_kpn_color.json").read_text())
    config["data"] = {**config["data"], "root": str(tiny_dataset), "scenes": None, "crops_per_scene": 2,
                      "val_crops_per_scene": 1, "crop": 32, "options": {}}
    path = tmp_path / "derive.json"
    path.write_text(json.dumps(config))
    run = tmp_path / "run"
    assert train.main(["--config", str(path), "--run", str(run), "--epochs", "0", "--quiet"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert history["epochs"] == [] and history["init"].endswith("addon/models/denoise_kpn.onnx")
    model, meta = load_checkpoint(run / "best.pt")
    assert model.params["aux"] == [] and meta["training"]["metrics"]["epoch"] == 0
    assert meta["training"]["metrics"]["val_psnr"] == history["initial_val"]["psnr"]


def test_lr_scale_groups_parameters_by_prefix_and_refuses_a_name_that_matches_none():
    from ml_core.models import build

    model = build("denoise_kpn", widths=[8, 12], demodulate=True, prefilter=[4, 8])
    groups = train.parameter_groups(model, {"prefilter.": 20})
    assert [g["scale"] for g in groups] == [20.0, 1.0]
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("prefilter.") for p in groups[0]["params"])
    assert not any(names[id(p)].startswith("prefilter.") for p in groups[1]["params"])
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="'prefiltre.': no parameter"):
        train.parameter_groups(model, {"prefiltre.": 20})


def test_a_prefilter_denoiser_trains_on_the_clean_guides(tiny_dataset, tmp_path):
    """Issue 30: ``clean_guides: "supervise"`` gives the target's guides to the prefilter's auxiliary loss; the
    prefilter's rate is ``lr_scale`` times the rest's; the gate, exactly closed at the start, opens."""
    config = json.loads((CONFIGS / "denoise" / "denoise_kpn_tiny.json").read_text())
    config["model"]["params"]["prefilter"] = [4, 8]
    config["data"]["options"] = {**config["data"].get("options", {}), "clean_guides": "supervise"}
    config["train"] = {**config["train"], "epochs": 2, "lr_scale": {"prefilter.": 10}}
    path = tmp_path / "prefilter.json"
    path.write_text(json.dumps(config))
    run = tmp_path / "run"
    assert train.main(["--config", str(path), "--data", str(tiny_dataset), "--run", str(run), "--quiet"]) == 0
    model, _ = load_checkpoint(run / "last.pt")
    assert float(model.prefilter.unet.head.weight.detach().abs().sum()) > 0  # it learned from zero
    history = json.loads((run / "history.json").read_text())
    assert history["epochs"][-1]["lr"] > 0


def test_msssim_loss_matches_skimage_ssim_and_punishes_a_blur_more_than_l2_does():
    """``hdr_l1_display_msssim``: its SSIM is skimage's (Gaussian windows, sigma 1.5); identical images score 1;
    against a textured target, a blur and additive noise of the same squared error are told apart: MS-SSIM
    charges the blur more (it loses the structure), which a squared error cannot see."""
    from skimage.metrics import structural_similarity

    from ml_core.losses import ms_ssim, ssim_terms

    gen = torch.Generator().manual_seed(0)
    target = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 128, 128, generator=gen), 2, 1, 0)[..., :64, :64]
    target = (target - target.min()) / (target.max() - target.min())
    noisy = (target + 0.05 * torch.randn(target.shape, generator=gen)).clamp(0, 1)
    ours = float(ssim_terms(target, noisy)[0])
    theirs = structural_similarity(target[0].permute(1, 2, 0).numpy(), noisy[0].permute(1, 2, 0).numpy(),
                                   channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, win_size=7)
    assert abs(ours - theirs) < 2e-3  # float32 sums against skimage's float64
    assert float(ms_ssim(target, target)) == pytest.approx(1.0)
    blurred = torch.nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
    mse_blur = float((blurred - target).square().mean())
    scale = (mse_blur / float((noisy - target).square().mean())) ** 0.5
    matched = (target + (noisy - target) * scale)  # noise with the blur's squared error
    assert float((matched - target).square().mean()) == pytest.approx(mse_blur, rel=1e-3)
    assert float(ms_ssim(blurred, target)) < float(ms_ssim(matched, target))
    loss = LOSSES.get("hdr_l1_display_msssim")
    assert float(loss(target, target, torch.ones(1))) < 1e-6 < float(loss(blurred, target, torch.ones(1)))


def test_a_run_saved_before_lr_scale_existed_resumes(tiny_dataset, tmp_path):
    """A ``resume.pt`` written before parameter groups had a rate multiple: its groups load without "scale"
    (the optimizer keeps the saved groups' keys) and the run continues at the configured rate."""
    run = tmp_path / "run"
    args = ["--config", str(CONFIG), "--data", str(tiny_dataset), "--run", str(run), "--quiet"]
    assert train.main(args + ["--epochs", "1"]) == 0
    state = torch.load(run / "resume.pt", weights_only=True)
    for group in state["optimizer"]["param_groups"]:
        del group["scale"]  # as the earlier loop saved it
    torch.save(state, run / "resume.pt")
    assert train.main(args + ["--epochs", "2"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2] and history["epochs"][1]["lr"] > 0


def test_display_mse_linear_is_minimised_by_the_noisy_targets_mean():
    """``display_mse_linear`` (Noise2Noise pairs, issue 30): one value predicted over an image of noisy targets
    has its gradient vanish at their mean, as with clean targets, and not at their median (where L1's and the log
    losses' gradients vanish); the error weighs by the display curve's slope at the prediction."""
    rng = np.random.default_rng(0)
    targets = torch.tensor(rng.exponential(0.2, size=(1, 1, 64, 64)) ** 2, dtype=torch.float32)  # long-tailed
    exposure = torch.ones(1)

    def gradient(value):
        pred = torch.full_like(targets, value, requires_grad=True)
        LOSSES.get("display_mse_linear")(pred, targets, exposure).backward()
        return float(pred.grad.sum())

    mean, median = float(targets.mean()), float(targets.median())
    assert abs(gradient(mean)) < 1e-6 < abs(gradient(median))
    assert gradient(mean * 1.1) > 0 > gradient(mean * 0.9)
    # dim errors weigh more than bright ones, as in the displayed image: 0.01 off at 0.02 vs at 0.5
    dim = float(LOSSES.get("display_mse_linear")(torch.full((1, 1, 1, 1), 0.03), torch.full((1, 1, 1, 1), 0.02),
                                                 torch.ones(1)))
    bright = float(LOSSES.get("display_mse_linear")(torch.full((1, 1, 1, 1), 0.51), torch.full((1, 1, 1, 1), 0.5),
                                                    torch.ones(1)))
    assert dim > 4 * bright
