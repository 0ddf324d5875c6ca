"""Optimizer steps per second of a real training config on a synthetic batch, through ``ml_core.train``'s own
pieces: the config's model and loss, its global batch and crop, ``augment_exposure`` (each rank its share of the
global batch's factors), ``model_inputs``, ``ddp.wrap`` (DistributedDataParallel under torchrun), the auxiliary
loss, gradient clipping, AdamW and the weight average. No data loading: the figure is the step itself.

    python -m bench.train_steps 20                                                   # one process
    python -m bench.train_steps 20 --precision bf16                                  # autocast, as ml_core.train
    OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone --nproc_per_node 2 -m bench.train_steps 20

Each process takes ``batch_size / processes`` samples of every step, as ``python -m ml_core.train`` does under
torchrun. After ``--warmup`` steps that are not timed, rank 0 prints one JSON line: the world size, threads per
process, the median milliseconds per step over STEPS steps, steps/s and samples/s (global batch / step time),
the model's parameter count and, with several processes, the median milliseconds of one gloo/nccl all-reduce of
that many float32 values (what DistributedDataParallel exchanges per step, in buckets, overlapped with the
backward pass). ``python -m bench scale`` runs it with 1 and 2 processes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ml_core import ddp, paths, train
from ml_core.losses import LOSSES
from ml_core.models import build

#: the shipped denoiser's recipe (model, loss, batch 16, crop 64)
CONFIG = paths.REPO_ROOT / "ml_core" / "configs" / "denoise" / "denoise_kpn_psnr.json"


def measure(config: dict, steps: int, warmup: int = 3, device: str = "cpu", precision: str = "fp32") -> dict:
    """Time ``steps`` optimizer steps (after ``warmup``) of ``config`` in this process (this rank of torchrun's
    group, which it joins and leaves), in ``precision`` where the device runs it (``train.effective_precision``:
    autocast as ``ml_core.train`` trains, the loss in fp32; no gradient scaler: fp16 is timed without one)."""
    device = ddp.pick_device(device)
    precision = train.effective_precision(precision, device, log=lambda m: print(m, file=sys.stderr))
    amp = train.PRECISIONS[precision]
    with ddp.process_group(device):
        rank, world = ddp.rank(), ddp.world_size()
        tc, crop = config["train"], config["data"]["crop"]
        batch_size = tc["batch_size"]
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} does not divide by {world} processes")
        model = build(config["model"]["architecture"], seed=config.get("seed", 1),
                      **config["model"].get("params", {})).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=tc["lr"], weight_decay=tc.get("weight_decay", 0.0))
        net = ddp.wrap(model, device)
        ema = train.WeightAverage(model, tc["ema"]) if tc.get("ema") else None
        criterion = LOSSES.get(tc.get("loss", "l1"))
        generator = torch.Generator().manual_seed(rank)
        local = batch_size // world
        batch = {item.name: torch.rand(local, len(item.channels), crop, crop, generator=generator)
                 for item in model.contract().image_inputs}
        batch["target"] = torch.rand(local, 3, crop, crop, generator=generator)
        batch = {k: v.to(device) for k, v in batch.items()}
        rng = np.random.default_rng(0)
        net.train()
        times = []
        for _ in range(warmup + steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            x = train.augment_exposure(model, batch, rng, (rank, world))
            inputs, exposure = train.model_inputs(model, x)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                value = criterion(net(*inputs).float(), x["target"], exposure)
                auxiliary = model.auxiliary_loss(x)
                if auxiliary is not None:
                    value = value + auxiliary
            opt.zero_grad(set_to_none=True)
            value.backward()  # averages the gradients over the processes under torchrun
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.get("clip", 1.0))
            opt.step()
            if ema is not None:
                ema.update(model)
            float(value.detach())  # the loop logs the loss each step: wait for it
            times.append(time.perf_counter() - start)
        per_step = float(np.median(times[warmup:]))
        parameters = sum(p.numel() for p in model.parameters())
        allreduce_ms = _allreduce_ms(parameters, device) if world > 1 else None
    return {"world_size": world, "threads": torch.get_num_threads(), "device": str(device), "precision": precision,
            "steps": steps,
            "warmup": warmup, "batch_size": batch_size, "crop": crop, "ms_per_step": round(per_step * 1000, 2),
            "steps_per_second": round(1 / per_step, 3), "samples_per_second": round(batch_size / per_step, 2),
            "parameters": parameters, "allreduce_ms": allreduce_ms, "rank": rank}


def _allreduce_ms(count: int, device: torch.device, repeats: int = 10) -> float:
    """Median milliseconds of one all-reduce of ``count`` float32 values over the group (every rank calls it)."""
    import torch.distributed as dist

    flat = torch.ones(count, device=device)
    times = []
    for _ in range(repeats + 2):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times[2:])) * 1000, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_steps", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("steps", type=int, nargs="?", default=20, help="timed steps (default: %(default)s)")
    p.add_argument("--config", type=Path, default=CONFIG, help="training config (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="steps before the timed ones (default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=ddp.DEVICES, help="(default: %(default)s)")
    p.add_argument("--precision", default="fp32", choices=list(train.PRECISIONS),
                   help="autocast precision, as ml_core.train --precision (default: %(default)s)")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("steps must be >= 1")
    result = measure(train.load_config(args.config), args.steps, args.warmup, args.device, args.precision)
    if result.pop("rank") == 0:
        result["config"] = paths.repo_relative(args.config)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
