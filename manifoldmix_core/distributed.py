"""Scale-out under torchrun: every evaluation's images are split across ranks; rank 0 alone writes and searches.

`torchrun --nproc-per-node N -m manifoldmix_core run ...` starts N copies of the same command. Each evaluation
covers one contiguous shard of the set's images per rank and the correct counts are summed (all-reduce), so every
rank sees the ValAcc one process would see. Rank 0, the leader, holds the run directory's claim, writes every
file and runs nevergrad; the others, followers, write nothing: each λ the leader's optimizer asks for reaches them
by broadcast (optim.maximize), and each event the leader journals (measured, replayed from a resumed run's tape,
or refused by a cancel) too, so they take exactly the leader's path. The process group uses gloo, which carries
the few small messages per evaluation on CPUs and GPUs alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import Cancelled, ManifoldMixError
from .runs import CANCELLED, MEASURED


@dataclass(frozen=True)
class Group:
    """This process's place among the ranks of a run (a single process is rank 0 of 1, and talks to nobody)."""

    rank: int = 0
    size: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> range:
        """The indices of n images this rank evaluates: a contiguous share, all of them in a single process."""
        return range(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    def sum(self, count: torch.Tensor) -> int:
        """A count summed over all ranks."""
        if self.size == 1:
            return int(count)
        total = count.detach().to("cpu", torch.int64).reshape(1)
        dist.all_reduce(total)
        return int(total)

    def share(self, value=None):
        """The leader's value, on every rank (followers pass nothing)."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the group together once the run is done (a rank that exits with gloo's threads still up may abort)."""
        if self.size > 1:
            dist.barrier()
            dist.destroy_process_group()


SINGLE = Group()


def join() -> Group:
    """The group torchrun started this process in (WORLD_SIZE > 1), or SINGLE; on a GPU each rank takes its own."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return Group(dist.get_rank(), dist.get_world_size())


class FollowerJournal:
    """A follower's journal: writes nothing, takes each event from the leader, and computes only when the leader does.

    The leader's Journal shares, per event, first the replayed event (then nobody computes) or MEASURED / CANCELLED, then
    the event it wrote; a follower whose own event differs has left the leader's path, which is a bug worth stopping.
    """

    replaying = False

    def __init__(self, group: Group):
        self.group, self.listeners = group, []

    def upcoming(self) -> None:
        return None  # the leader checks the tape

    def record(self, event: dict, compute: Callable[[], dict] | None = None) -> dict:
        first = self.group.share()
        if first == CANCELLED:
            raise Cancelled("cancelled by the user (on rank 0)")
        if first == MEASURED and compute is not None:
            compute()
        full = first if isinstance(first, dict) else self.group.share()
        differs = sorted(k for k, v in event.items() if full.get(k) != v)
        if differs:
            raise ManifoldMixError(f"rank {self.group.rank} left rank 0's path at {event}: {differs} differ from {full}")
        return full
