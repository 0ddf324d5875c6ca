"""Data-parallel training: the process group torchrun describes, each rank's share of the batches, and the few
collective steps the training loop takes.

``torchrun`` starts one process per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address in its environment; :func:`process_group` joins them (gloo on CPU, nccl on CUDA). Without torchrun there
is no group: the process is rank 0 of 1 and every helper here gives what one process has, so a plain
``python -m ml_core.train`` runs the same code as each rank of a torchrun.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

DEVICES = ("auto", "cpu", "cuda")


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher that sets its environment)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU. Under torchrun each process of a node takes the GPU of its
    ``LOCAL_RANK``."""
    if name not in DEVICES:
        raise ValueError(f"device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device cuda: torch sees no CUDA device (use --device cpu or auto)")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if local >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK {local}: this node has {torch.cuda.device_count()} CUDA device(s); "
                         f"start at most that many processes per node (--nproc_per_node)")
    return torch.device("cuda", local)


@contextmanager
def process_group(device: torch.device):
    """Join torchrun's process group for the length of the block (its rendezvous comes from the environment):
    gloo on CPU, nccl on CUDA. Outside torchrun, or when a group exists already, it does nothing."""
    if not launched() or dist.is_initialized():
        yield
        return
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    try:
        yield
        # every rank done before any leaves: a rank whose peer tore down the gloo pairs first aborted at exit
        # ("terminate called without an active exception", about one run in four of bench.train_steps)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module that trains: ``model`` itself in one process, else a DistributedDataParallel of it, which
    starts every rank from rank 0's parameters and buffers and averages the gradients over the ranks in
    ``backward``. Checkpoints and the weight average keep using ``model`` (its plain names, no ``module.``)."""
    if world_size() == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def from_rank0(make):
    """``make()`` evaluated on rank 0 and sent to every rank (e.g. the resume state: only rank 0 writes the run
    folder, which need not be shared with the other nodes)."""
    if world_size() == 1:
        return make()
    box = [make() if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(values: list) -> list[list]:
    """Every rank's list of (picklable) values, in rank order, on every rank."""
    if world_size() == 1:
        return [values]
    out = [None] * world_size()
    dist.all_gather_object(out, values)
    return out


def agree_stop(stop: bool) -> bool:
    """True on every rank when any rank says stop (a time budget read from each process's own clock must end
    the same step everywhere, or the ranks' collective calls would no longer pair up)."""
    if world_size() == 1:
        return stop
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces only CUDA tensors
    flag = torch.tensor([1 if stop else 0], dtype=torch.int32, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


class GlobalBatchSampler(DistributedSampler):
    """This rank's share of each global batch of ``batch_size`` items.

    The epoch's shuffle is one permutation of the whole dataset whatever the world size (seeded by ``seed`` and
    the epoch, :meth:`set_epoch`), cut into ``len // batch_size`` global batches (the rest is dropped); rank r
    takes the r-th of ``world_size`` equal contiguous slices of each. The ranks together see exactly the batches
    one process sees, item for item and in the same order, so a config gives the same optimisation at any world
    size (the loss is a mean over the batch; DistributedDataParallel averages the ranks' gradients). A loader
    takes it with ``batch_size=sampler.local_batch``."""

    def __init__(self, dataset, batch_size: int, seed: int, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        if batch_size % num_replicas:
            raise ValueError(f"train.batch_size {batch_size} is the global batch and must divide by the number of "
                             f"processes ({num_replicas}): each takes batch_size / processes items per step")
        self.batch_size, self.local_batch = batch_size, batch_size // num_replicas
        self.steps = len(dataset) // batch_size
        self.num_samples, self.total_size = self.steps * self.local_batch, self.steps * batch_size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        # the one draw torch's DataLoader(shuffle=True, generator=...) took before its shuffle (its workers' base
        # seed): kept, so runs shuffle as the single-process trainer did before data parallelism
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        order = torch.randperm(len(self.dataset), generator=generator)[:self.total_size]
        return iter(order.view(self.steps, self.num_replicas, self.local_batch)[:, self.rank].flatten().tolist())
