"""The GPU path of a Lookahead iteration, checked on the CPU: every tensor it touches is on
``args.device``, and its hot loops (model steps, update epochs and mini-batches, imagined steps)
read nothing back to the host: the number of host reads (``aten._local_scalar_dense``: ``.item()``,
``float(t)``, ``bool(t)``) and of copies between devices does not grow with the loops' lengths.
Reads inside ``optimizer.step()`` do not count: Adam keeps its step counts on the host on every
device (PyTorch's default, not ``capturable``), so reading them waits for nothing.

On a CPU-only machine the device assertion holds trivially (every tensor is on the CPU); the
host-read counts are what bites there. Where CUDA is present the same tests also run with
``use_cuda=True``. Finiteness checks, read back at once on the CPU, are deferred here as on a GPU
(``StepChecks.checked_at_once_on``).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from components.adam import Adam
from tests.learners.test_lookahead_learner import build, make_batch
from utils.finite_checks import StepChecks

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
aten = torch.ops.aten


class DeviceAudit(TorchDispatchMode):
    """Records every device an op's tensors are on, the host reads (outside optimiser steps) and
    the cross-device copies."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: set[torch.device] = set()
        self.host_reads = 0
        self.transfers = 0
        self.in_optimiser_step = False

    def __enter__(self):
        self.plain_step = Adam.step
        audit = self

        def marked_step(optimiser: Adam) -> None:
            audit.in_optimiser_step = True
            try:
                audit.plain_step(optimiser)
            finally:
                audit.in_optimiser_step = False

        Adam.step = marked_step
        return super().__enter__()

    def __exit__(self, *exc):
        Adam.step = self.plain_step
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        self.devices.update(t.device for t in tensors)
        if func is aten._local_scalar_dense.default and not self.in_optimiser_step:
            self.host_reads += 1
        if func in (aten._to_copy.default, aten.copy_.default) and len({t.device for t in tensors}) > 1:
            self.transfers += 1
        return out


@pytest.fixture(autouse=True)
def deferred_checks(monkeypatch):
    monkeypatch.setattr(StepChecks, "checked_at_once_on", ())


def audited(work) -> DeviceAudit:
    audit = DeviceAudit()
    with audit:
        work()
    return audit


def lookahead(device: str, **overrides):
    learner, args = build("continuous", use_cuda=device == "cuda", learner_log_interval=0, **overrides)
    if device == "cuda":
        learner.cuda()
    batch = make_batch(args, learner.mac.lookahead)
    batch.to(args.device)
    return learner, args, batch


@pytest.mark.parametrize("device", DEVICES)
def test_every_tensor_of_an_iteration_is_on_the_runs_device(device):
    learner, args, batch = lookahead(device)
    learner.train(batch, t_env=0, episode_num=0)  # the model's FIFO and normalisers see data first
    audit = audited(lambda: learner.train(batch, t_env=1, episode_num=1))
    assert audit.devices == {torch.device(args.device)}
    assert audit.transfers == 0


@pytest.mark.parametrize("device", DEVICES)
def test_model_steps_read_nothing_back(device):
    learner, _, batch = lookahead(device)
    learner.train(batch, t_env=0, episode_num=0)
    trainer = learner.model_trainer
    reads = [audited(lambda n=n: trainer.train_steps(n)).host_reads for n in (3, 9)]
    assert reads[0] == reads[1]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("alg", ["lookahead_happo", "lookahead_mappo"])
def test_update_epochs_and_mini_batches_read_nothing_back(device, alg):
    reads = []
    for epochs, mini_batches in ((1, 1), (3, 2)):
        learner, _, batch = lookahead(device, alg=alg, epochs=epochs, mini_batches=mini_batches)
        reads.append(audited(lambda: learner.real.train(batch, t_env=0, episode_num=0)).host_reads)
    assert reads[0] == reads[1]


@pytest.mark.parametrize("device", DEVICES)
def test_imagined_steps_read_nothing_back(device):
    reads = []
    for horizon in (2, 6):
        learner, _, batch = lookahead(device, lka_horizon=horizon)
        reads.append(audited(lambda: learner.imagined.run(*learner._start_states(batch))).host_reads)
    assert reads[0] == reads[1]
