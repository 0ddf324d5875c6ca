"""Training: a config + a seed -> checkpoints, curves and validation metrics. Resumable.

    python -m ml_core.train --config ml_core/configs/denoise/denoise_kpn_psnr.json [--data DIR] [--run DIR] [--epochs N]
                            [--device auto|cpu|cuda] [--precision fp32|bf16|fp16]

Several processes train one model together with ``torchrun`` (DistributedDataParallel, :mod:`ml_core.ddp`; gloo
on CPU, nccl on CUDA, one GPU per process by ``LOCAL_RANK``)::

    torchrun --standalone --nproc_per_node 4 -m ml_core.train --config CONFIG [--data DIR] [--run-dir DIR]
    # several nodes: the same command on each (here 2 nodes of 4 GPUs), HOST one of them, reachable by all
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id RUN_NAME \\
        -m ml_core.train --config CONFIG --data DIR --run-dir DIR

The config's ``batch_size`` is the global batch: each of N processes takes batch_size / N items of every step (it
must divide), the same items and exposure factors one process would take, so a config gives the same
optimisation at any N (up to the order of float sums) and a run resumes with another N. Each process validates
a share of the validation batches and all get the same means. Rank 0 alone logs and writes the run folder (each
epoch in ``history.json`` records its ``world_size``); it also reads ``resume.pt`` and a ``train.init``
checkpoint and sends them to the others, so only its node needs the run folder, while every node needs the data
at ``--data``. Under torchrun spell ``--run`` as ``--run-dir`` (torchrun's parser takes ``--run`` for its own).
``--precision bf16|fp16`` (or ``"train": {"precision": ...}``) trains in mixed precision (autocast; the loss in
fp32): on CUDA bf16, or fp16 with a gradient scaler; on a CPU that multiplies bf16 natively (AVX-512 BF16 or AMX)
bf16, 1.3-1.5x as fast as fp32 on this machine (docs/scale.md); elsewhere it says so and trains in fp32. Each epoch in
``history.json`` records the precision it trained in.

A run folder (default ``~/.cache/postpass/runs/<config name>``) holds ``last.pt`` and ``best.pt`` (plain
checkpoints, see ``ml_core.checkpoint``), ``resume.pt`` (optimizer state and history), ``history.json`` and
``curves.png``. Rerunning the same command continues from the last finished epoch. Any task trains through
the same loop: batches from ``ml_core.datasets`` are fed to the model by its contract's input names, exposure
inputs are computed the way the runtime computes them, and HDR tasks see random exposure changes so the model
cannot depend on absolute brightness.

Configs live in ``ml_core/configs/<task>/``: the recipes of shipped models and the CI configs there, the runs
measured but not shipped in ``<task>/experiments/``. A checkpoint records the command and the config file
(``training.config``, relative to the repository root), which export copies into the model's metadata. Losses
are ``ml_core.losses.LOSSES`` by name (``"train": {"loss": NAME}``); validation PSNR is ``ml_core.metrics``'.

Config keys beyond the basics: ``"run"`` names the run folder when it should differ from ``"name"`` (a new
version of a shipped model trained beside the old run); ``"data": {"dataset": NAME}`` reads another of the
task's datasets than the one named like the task (``ml_core.datasets``: the temporal denoiser's
``denoise_temporal`` windows of sequences); ``"data": {"mix": [...], "val_mix": [...]}`` adds
scenes from other dataset folders or splits to the training / validation set, each entry
``{"root": DIR, "split": NAME, "scenes": N, "crops_per_scene": K}`` (root, scenes and crops default to the
main ones; the dataset fingerprint covers every part; ``scenes`` is N, the first N complete scenes, or inclusive
seed ranges ``[[first, last], ...]`` for a folder that several render jobs fill); ``"data": {"val_options":
{...}}`` overrides dataset options for validation alone (noisy training targets, ``target_spp``, validated
against the references: ``{"target_spp": null}``); ``"train": {"init":
CHECKPOINT}`` starts a fresh run from a checkpoint's weights (a ``.pt`` path, or a run name meaning
``~/.cache/postpass/runs/NAME/best.pt``) instead of the seeded initialisation, for fine-tuning: its
architecture and parameters must match the config's model. A resumed run ignores ``init`` (its own weights
come from ``resume.pt``). ``"train": {"ema": 0.999}`` keeps an exponential moving average of the weights
(decay per step): validation, ``best.pt`` and ``last.pt`` use the averaged weights, and each epoch also logs the
raw weights' validation PSNR, so the average's worth is measured in every such run. ``"train": {"seconds": S}``
trains for S seconds of wall time (``postpass finetune``'s budget; an interrupted run's time counts): the
learning rate follows the elapsed share of S when it is ahead of the steps' share, and the epoch in which the
time runs out ends early and is the last (``epochs`` is then an upper bound). ``"train": {"temporal_loss": W}``
(the temporal denoiser's; its dataset's items also hold the frame before, ``earlier/...``): the model also
runs on the frame before, whose per-frame loss is added, plus W times ``ml_core.losses.temporal_change``.
``"train": {"trainable": ["blend", ...]}``: only the parameters whose names start with these train, the others keep
their weights (a model grown from a trained one on little data: its new parts and what must adapt to them).
``"train": {"lr_scale": {"prefilter.": 20}}``: the parameters whose names start with a key learn at that multiple
of the schedule's rate (a new part grown onto a fine-tuned model, which the fine-tune's small rate would barely
move, while the trained rest must not move far).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from addon.runtime.files import atomic_output

from . import ddp, paths
from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import MixedDataset, make_dataset
from .losses import LOSSES, temporal_change
from .metrics import display_psnr, exposure_of, tonemapped_psnr
from .models import build
from .shipped import model_from_onnx


def learning_rate(peak: float, progress: float) -> float:
    """Warm up over the first 5% of training, then cosine down to 2% of the peak. A function of progress only,
    so a resumed run, or one given more epochs, continues on the same curve."""
    if progress < 0.05:
        return peak * (0.1 + 0.9 * progress / 0.05)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.05) / 0.95))))


def parameter_groups(model, lr_scale: dict[str, float]) -> list[dict]:
    """The optimizer's parameter groups: one per ``lr_scale`` prefix (its parameters and their rate multiple),
    then the rest at 1. A prefix that names no parameter is refused: a typo would silently train as configured
    without it."""
    groups, taken = [], set()
    for prefix, scale in lr_scale.items():
        params = [p for name, p in model.named_parameters() if name.startswith(prefix) and name not in taken]
        taken |= {name for name, _ in model.named_parameters() if name.startswith(prefix)}
        if not params:
            raise ValueError(f"train.lr_scale {prefix!r}: no parameter of the model starts with it")
        groups.append({"params": params, "scale": float(scale)})
    groups.append({"params": [p for name, p in model.named_parameters() if name not in taken], "scale": 1.0})
    return groups


def model_inputs(model, batch: dict) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The model's positional inputs from a batch by contract name, and the exposure used for the loss."""
    contract = model.contract()
    values, exposure = {}, None
    for item in contract.inputs:
        if item.kind == "image":
            if item.name not in batch:
                raise ValueError(f"dataset gives no {item.name!r} (has {sorted(batch)})")
            values[item.name] = batch[item.name]
    for item in contract.scalar_inputs:
        if item.exposure_of:  # as the runtime does: one scale per image, the geometric mean over sources
            exposure = torch.exp(torch.stack([torch.log(exposure_of(values[s])) for s in item.exposure_of]).mean(0))
            values[item.name] = exposure.view(-1, 1)
        elif item.name in batch:
            values[item.name] = batch[item.name].view(-1, 1)
        else:
            values[item.name] = torch.full((len(batch["target"]), 1), float(item.default),
                                           device=batch["target"].device)
    if exposure is None:
        exposure = exposure_of(batch["target"])
    return [values[i.name] for i in contract.inputs], exposure


#: a sample's keys for the frame before its own (a temporal dataset's: ``ml_core.datasets.denoise_temporal``)
EARLIER = "earlier/"


def temporal_pair_loss(net, model, batch: dict, criterion, weight: float):
    """The loss of a batch whose items also hold the frame before (``earlier/`` keys; ``train.temporal_loss``):
    the model runs on both frames in one batch (one forward, as DistributedDataParallel wants), each frame's
    per-frame loss is added, and ``weight`` times the temporal loss between the two outputs
    (``ml_core.losses.temporal_change``, at the current frame's exposure)."""
    earlier = {k[len(EARLIER):]: v for k, v in batch.items() if k.startswith(EARLIER)}
    inputs, exposure = model_inputs(model, batch)
    earlier_inputs, earlier_exposure = model_inputs(model, earlier)
    pred, earlier_pred = net(*[torch.cat(pair) for pair in zip(inputs, earlier_inputs)]).chunk(2)
    return (criterion(pred, batch["target"], exposure) + criterion(earlier_pred, earlier["target"], earlier_exposure)
            + weight * temporal_change(pred, earlier_pred, batch["target"], earlier["target"], batch["vector"],
                                       exposure))


def augment_exposure(model, batch: dict, rng: np.random.Generator, shard: tuple[int, int] = (0, 1)) -> dict:
    """Scale HDR inputs and the target by one random factor per sample (2^-3 .. 2^3). ``rng`` draws the factors
    of the whole global batch, of which ``batch`` is slice ``rank`` of ``world`` (``shard``: this process's rank
    and the world size), so each sample gets the factor it gets when one process trains on the whole batch."""
    contract = model.contract()
    hdr = [i.name for i in contract.image_inputs if i.hdr] + (["target"] if contract.outputs[0].hdr else [])
    if not hdr:
        return batch
    (rank, world), n = shard, len(batch["target"])
    exponent = rng.uniform(-3, 3, n * world)[rank * n:(rank + 1) * n].astype(np.float32)
    factor = torch.from_numpy(2.0 ** exponent).view(-1, 1, 1, 1).to(batch["target"].device)
    # a temporal item's frame before (``earlier/color``...) is scaled with its own frame
    return {k: (v * factor if k.rpartition("/")[2] in hdr else v) for k, v in batch.items()}


def load_config(path: Path, **overrides) -> dict:
    """The config at ``path`` (its ``name`` defaults to the file name), ``overrides`` ("section.field": value,
    None: keep) applied, and ``config_path``: the file relative to the repository root, which the checkpoints
    record (``training.config``) and export copies into the model's metadata."""
    config = json.loads(Path(path).read_text())
    config.setdefault("name", Path(path).stem)
    config["config_path"] = paths.repo_relative(path)
    for key, value in overrides.items():
        if value is not None:
            section, _, field = key.partition(".")
            (config.setdefault(section, {}) if field else config)[field or section] = value
    return config


#: ``train.precision`` (``--precision``): mixed precision (autocast). CUDA: bf16, or fp16 with a gradient scaler. The
#: CPU: bf16 where the processor computes it natively (:func:`cpu_bf16`), else fp32 with a note; never fp16
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX on x86 Linux): there bf16 autocast runs the
    denoisers' training steps 1.3-1.5x as fast as fp32 (docs/scale.md); elsewhere oneDNN would emulate it,
    slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def effective_precision(precision: str, device: torch.device, log=print) -> str:
    """``precision`` where ``device`` can train in it, else fp32 (said in one line)."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or device.type == "cuda":
        return precision
    if precision == "bf16" and device.type == "cpu" and cpu_bf16():
        return precision
    why = "is for CUDA" if precision == "fp16" else "needs a CPU with native bf16 (AVX-512 BF16 or AMX)"
    log(f"train.precision {precision} {why}: training on the {device.type} in fp32")
    return "fp32"


def train(config: dict, run_dir: Path | None = None, command: str = "", log=print, progress: bool = True,
          device: str | torch.device = "auto") -> dict:
    """Train (or resume) the run described by ``config`` on ``device`` (``auto``: CUDA when available); returns
    the history. Under torchrun (a process group, :mod:`ml_core.ddp`) each process trains on its share of every
    global batch and rank 0 alone logs and writes the run folder."""
    from tqdm import tqdm

    device = device if isinstance(device, torch.device) else ddp.pick_device(device)
    rank, world = ddp.rank(), ddp.world_size()
    if rank != 0:
        log, progress = (lambda *_: None), False
    run_dir = Path(run_dir or paths.cache_dir() / "runs" / config.get("run", config["name"])).expanduser()
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    seed, tc, dc = config["seed"], config["train"], config["data"]
    root = Path(dc["root"]).expanduser()
    torch.manual_seed(seed)
    model = build(config["model"]["architecture"], seed=seed, **config["model"].get("params", {})).to(device)
    opt = torch.optim.AdamW(parameter_groups(model, tc.get("lr_scale", {})), lr=tc["lr"],
                            weight_decay=tc.get("weight_decay", 0.0))
    precision = effective_precision(tc.get("precision", "fp32"), device, log)
    amp = PRECISIONS[precision]
    autocast = lambda: torch.autocast(device.type, dtype=amp, enabled=amp is not None)  # noqa: E731
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    criterion = LOSSES.get(tc.get("loss", "l1"))
    options = dict(crop=dc["crop"], crops_per_scene=dc.get("crops_per_scene", 4), **dc.get("options", {}))
    dataset = dc.get("dataset", config["task"])
    train_set = _datasets(dataset, root, {"split": dc.get("train_split", "train"), "scenes": dc.get("scenes")},
                          dc.get("mix", []), options, seed=seed)
    val_set = _datasets(dataset, root, {"split": dc.get("val_split", "val")}, dc.get("val_mix", []),
                        {**options, **dc.get("val_options", {}), "crops_per_scene": dc.get("val_crops_per_scene", 2)},
                        seed=seed + 1,
                        augment=False)
    fingerprint = train_set.fingerprint()
    epochs = tc["epochs"]
    sampler = ddp.GlobalBatchSampler(train_set, tc["batch_size"], seed, world, rank)
    steps_per_epoch = sampler.steps

    history, start_epoch = {"epochs": []}, 0
    resume_path = run_dir / "resume.pt"
    state = ddp.from_rank0(lambda: torch.load(resume_path, map_location="cpu", weights_only=True)
                           if resume_path.is_file() else None)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if "scaler" in state and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        history, start_epoch = json.loads(state["history"]), state["epoch"]
        log(f"resuming {run_dir} after epoch {start_epoch}")
    elif tc.get("init") and rank == 0:  # the other processes take rank 0's weights in ddp.wrap
        history["init"] = str(init_weights(model, tc["init"]))
        log(f"starting from the weights of {history['init']}")
    trainable = tc.get("trainable")
    if trainable:  # the rest keeps its (init) weights: a grown model's new parts and what adapts to them
        frozen = [name for name, p in model.named_parameters() if not name.startswith(tuple(trainable))]
        if len(frozen) == len(list(model.parameters())):
            raise ValueError(f"train.trainable {trainable}: no parameter of the model starts with these names")
        for name, p in model.named_parameters():
            p.requires_grad_(name not in frozen)
    net = ddp.wrap(model, device)  # what trains; `model` is its plain module, which checkpoints hold
    ema = WeightAverage(model, tc["ema"]) if tc.get("ema") else None
    if ema is not None and state is not None and "ema" in state:  # a run that had no average starts it here
        ema.model.load_state_dict(state["ema"])
    shipped = ema.model if ema is not None else model  # the weights validated and saved
    if start_epoch == 0:
        history["initial_val"] = validate(model, val_set, criterion, tc["batch_size"])
        log(f"before training: val loss {history['initial_val']['loss']:.4f}, PSNR {history['initial_val']['psnr']:.2f} dB")
    if epochs == 0 and start_epoch == 0:
        # a model derived from its ``init`` without training (e.g. a shipped denoiser's weights for fewer guide
        # passes, DenoiseKPN.init_from): validated and written like a trained one, so export takes it
        if rank == 0:
            initial = history["initial_val"]
            training = {"command": command, "config": config.get("config_path", ""), "seed": seed,
                        "dataset_fingerprint": fingerprint,
                        "metrics": {"val_loss": initial["loss"], "val_psnr": initial["psnr"], "epoch": 0}}
            for name in ("last.pt", "best.pt"):
                save_checkpoint(run_dir / name, model, name=config["name"], version=config.get("version", "0.1.0"),
                                training=training)
            (run_dir / "history.json").write_text(json.dumps(history, indent=1))
        return history

    # ``train.seconds``: a wall-clock budget (postpass finetune's): the learning-rate schedule follows the elapsed
    # share of it when that is ahead of the steps' share, and the epoch in which it runs out ends early, is
    # validated and saved like any other, and is the last. Time already spent by an interrupted run counts.
    budget = tc.get("seconds")
    spent = history.get("train_seconds", 0.0)
    temporal_weight = tc.get("temporal_loss", 0.0)
    if temporal_weight and not any(k.startswith(EARLIER) for k in train_set[0]):
        raise ValueError(f"train.temporal_loss needs a dataset whose items hold the frame before ({EARLIER}...), "
                         f"e.g. the denoise_temporal dataset's; {dataset!r} has none")
    for epoch in range(start_epoch, epochs):
        if budget is not None and spent >= budget:
            break
        net.train()
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        rng = np.random.default_rng([seed, epoch])
        loader = torch.utils.data.DataLoader(train_set, batch_size=sampler.local_batch, sampler=sampler,
                                             drop_last=True, num_workers=tc.get("workers", 0),
                                             pin_memory=device.type == "cuda")
        losses, norms, started = [], [], time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}" + ("" if budget is not None else f"/{epochs}"),
                   disable=not progress, dynamic_ncols=True, leave=False)
        for step, batch in enumerate(bar):
            progress_share = (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch)
            if budget is not None:
                used = spent + time.perf_counter() - started
                if ddp.agree_stop(used >= budget):  # every process stops at the same step
                    break
                progress_share = max(progress_share, used / budget)
            for group in opt.param_groups:
                # (a resume.pt saved before lr_scale existed loads groups without "scale": the rate as it was)
                group["lr"] = learning_rate(tc["lr"], progress_share) * group.get("scale", 1.0)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            batch = augment_exposure(model, batch, rng, (rank, world))
            with autocast():
                if temporal_weight:
                    value = temporal_pair_loss(net, model, batch, criterion, temporal_weight)
                else:
                    inputs, exposure = model_inputs(model, batch)
                    value = criterion(net(*inputs).float(), batch["target"], exposure)  # the loss in fp32
                auxiliary = model.auxiliary_loss(batch)
                if auxiliary is not None:
                    value = value + auxiliary
            opt.zero_grad(set_to_none=True)
            scaler.scale(value).backward()  # averages the gradients over the processes
            scaler.unscale_(opt)
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), tc.get("clip", 1.0))))
            scaler.step(opt)
            scaler.update()
            if ema is not None:
                ema.update(model)
            losses.append(float(value.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        losses = [loss for part in ddp.gather(losses) for loss in part]  # every process's share of each step
        val = validate(shipped, val_set, criterion, tc["batch_size"])
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "val_loss": val["loss"], "val_psnr": val["psnr"], "seconds": round(time.perf_counter() - started, 1),
                  "lr": opt.param_groups[-1]["lr"], "world_size": world, "precision": precision,
                  # the mean gradient norm before clipping: where a gradient summed over the processes instead
                  # of averaged shows (Adam's steps barely change with the gradient's scale)
                  "grad_norm": float(np.mean([n for n in norms if math.isfinite(n)] or [float("nan")]))}
        if ema is not None:
            record["val_psnr_raw"] = validate(model, val_set, criterion, tc["batch_size"])["psnr"]
        history["epochs"].append(record)
        spent += time.perf_counter() - started
        history["train_seconds"] = round(spent, 3)
        raw = f", raw weights {record['val_psnr_raw']:.2f} dB" if ema is not None else ""
        log(f"epoch {epoch + 1}{'' if budget is not None else f'/{epochs}'}: train {record['train_loss']:.4f}  val {val['loss']:.4f}  "
            f"PSNR {val['psnr']:.2f} dB{raw}  ({record['seconds']} s)")
        if rank != 0:
            continue
        training = {"command": command, "config": config.get("config_path", ""), "seed": seed,
                    "dataset_fingerprint": fingerprint,
                    "metrics": {"val_loss": val["loss"], "val_psnr": val["psnr"], "epoch": epoch + 1}}
        meta = dict(name=config["name"], version=config.get("version", "0.1.0"), training=training)
        save_checkpoint(run_dir / "last.pt", shipped, **meta)
        best = max((e["val_psnr"] for e in history["epochs"]), default=None)
        if val["psnr"] >= best:
            save_checkpoint(run_dir / "best.pt", shipped, **meta)
        resume = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                  "history": json.dumps(history)}
        if ema is not None:
            resume["ema"] = ema.model.state_dict()
        if scaler.is_enabled():
            resume["scaler"] = scaler.state_dict()
        _atomic_torch_save(run_dir / "resume.pt", resume)
        (run_dir / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, run_dir / "curves.png", config["name"])
    return history


class WeightAverage:
    """An exponential moving average of a model's weights (Polyak averaging): with a decay of 0.999 it spans the
    last ~1000 steps, which smooths the noise of small-batch steps that validation would otherwise pick from."""

    def __init__(self, model, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"train.ema: decay {decay} must be between 0 and 1")
        self.decay, self.model = decay, copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters()):
            mine.lerp_(theirs, 1 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def _datasets(task: str, root: Path, main: dict, mix: list[dict], options: dict, **kwargs):
    """The main split's dataset, or it and the ``mix`` parts as one :class:`MixedDataset`."""
    parts = []
    for entry in [main, *mix]:
        unknown = set(entry) - {"root", "split", "scenes", "crops_per_scene"}
        if unknown:
            raise ValueError(f"data mix entry {entry}: unknown keys {', '.join(sorted(unknown))}")
        part_options = {**options, "crops_per_scene": entry.get("crops_per_scene", options["crops_per_scene"])}
        parts.append(make_dataset(task, Path(entry.get("root", root)).expanduser(), entry["split"],
                                  scenes=entry.get("scenes"), **part_options, **kwargs))
    return parts[0] if len(parts) == 1 else MixedDataset(parts)


def init_weights(model, source: str) -> Path:
    """Load the weights of ``source`` into ``model``: a checkpoint (a ``.pt`` path, or a run name: its
    ``best.pt``) or a shipped model file (an ``.onnx`` path, relative to the repository root or absolute:
    ``ml_core.shipped``), which a fresh machine has without any training run."""
    path = Path(source).expanduser()
    if path.suffix == ".onnx":
        path = path if path.is_absolute() else paths.REPO_ROOT / path
        other, _ = model_from_onnx(path)
    else:
        if not path.suffix == ".pt":
            path = paths.cache_dir() / "runs" / source / "best.pt"
        other, _ = load_checkpoint(path)
    try:  # the model decides what it can start from (PostpassModel.init_from)
        model.init_from(other)
    except ValueError as error:
        raise ValueError(f"{path}: init checkpoint: {error}") from None
    return path


@torch.no_grad()
def validate(model, dataset, criterion, batch_size: int) -> dict:
    """Mean loss and PSNR over the batches of ``dataset`` in order. Batch i is computed by process i mod the
    world size and every process gets the means over all batches, so the figures (and the choice of ``best.pt``)
    are the same on every process and at any world size."""
    model.eval()
    device = next(model.parameters()).device
    rank, world = ddp.rank(), ddp.world_size()
    batches = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches[rank::world])
    measure = tonemapped_psnr if model.contract().outputs[0].hdr else display_psnr
    mine = []
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        inputs, exposure = model_inputs(model, batch)
        pred = model(*inputs)  # in fp32 whatever the training's precision: the figure of the fp32 model that ships
        mine.append((float(criterion(pred, batch["target"], exposure)), measure(pred, batch["target"])))
    parts = ddp.gather(mine)
    values = [parts[i % world][i // world] for i in range(len(batches))]
    return {"loss": float(np.mean([v[0] for v in values])), "psnr": float(np.mean([v[1] for v in values]))}


def plot_curves(history: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e["epoch"] for e in history["epochs"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(epochs, [e["train_loss"] for e in history["epochs"]], label="train")
    ax1.plot(epochs, [e["val_loss"] for e in history["epochs"]], label="validation")
    losses = [e[k] for e in history["epochs"] for k in ("train_loss", "val_loss")]
    # log scale for the usual positive losses; log_mse is negative (a log already)
    ax1.set(xlabel="epoch", ylabel="loss", yscale="log" if min(losses) > 0 else "linear", title=title)
    ax1.legend()
    ax2.plot(epochs, [e["val_psnr"] for e in history["epochs"]], color="C2")
    ax2.set(xlabel="epoch", ylabel="validation PSNR (dB)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _atomic_torch_save(path: Path, obj) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml_core.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, required=True,
                   help="a JSON config file (ml_core/configs/TASK/NAME.json; experiments in TASK/experiments/)")
    p.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    p.add_argument("--run", "--run-dir", dest="run", type=Path, default=None,
                   help="run folder (default: ~/.cache/postpass/runs/NAME); under torchrun spell it --run-dir (its "
                        "own parser takes --run for an abbreviation of --run-path)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", choices=ddp.DEVICES, default="auto",
                   help="where to train (auto: CUDA when available; under torchrun each process takes the GPU of "
                        "its LOCAL_RANK)")
    p.add_argument("--precision", choices=list(PRECISIONS), default=None,
                   help="mixed precision (overrides the config's train.precision, default fp32): bf16 or fp16 "
                        "on CUDA, bf16 on a CPU with native bf16 (AVX-512 BF16 or AMX), else fp32")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    command = "python -m ml_core.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        config = load_config(args.config, **{"data.root": args.data, "train.epochs": args.epochs, "seed": args.seed,
                                             "train.precision": args.precision})
        device = ddp.pick_device(args.device)
        with ddp.process_group(device):
            train(config, args.run, command, progress=not args.quiet and sys.stderr.isatty(), device=device)
    except (ValueError, OSError) as exc:
        print(f"postpass-train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
