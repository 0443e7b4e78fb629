"""How many CPU threads torch uses, phase by phase.

Rollouts run small networks one step at a time beside the env workers, which need the cores: there
torch keeps ``torch_threads`` (1). The learner phases (real and imagined updates, model training)
run while the env workers wait, so they may use every core the run holds (``learner_threads``):
the CPUs this process may run on, or fewer where the environment says how many it was given
(``OMP_NUM_THREADS``, which Ray sets to a task's CPUs, so a sweep trial takes its share).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def cpus_held() -> int:
    """The CPUs this process holds: ``OMP_NUM_THREADS`` where set to a positive integer (Ray's share of
    a task, a scheduler's allocation), else the CPUs it may run on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    given = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(int(given), affinity)) if given.isdigit() and int(given) > 0 else affinity


def learner_threads(setting: int) -> int:
    """``learner_threads`` as configured: 0 means every CPU the run holds (:func:`cpus_held`)."""
    return setting if setting > 0 else cpus_held()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads, then go back to the number before."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
