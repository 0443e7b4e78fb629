"""components/adam.py: torch.optim.Adam's numbers to the bit, a step by hand, checkpoints (ours and
torch.optim.Adam's) that resume exactly, and no import of torch's compiler stack."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from components.adam import Adam
from tests.support import processes

SRC = Path(__file__).resolve().parents[2] / "src"


def network() -> torch.nn.Sequential:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def groups(net: torch.nn.Sequential) -> list[dict]:
    """Two groups, as the dynamics model's: weight decay on the first layer only."""
    return [{"params": list(net[0].parameters()), "weight_decay": 1e-2},
            {"params": list(net[2].parameters()), "weight_decay": 0.0}]


def train(net: torch.nn.Sequential, optimiser, steps: int, seed: int) -> None:
    """``steps`` steps on a fixed stream of inputs; every third step the last layer gets no
    gradient (a per-agent optimiser sees that), so its moments and step count must stand still."""
    inputs = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x = torch.randn(16, 5, generator=inputs)
        optimiser.zero_grad()
        if step % 3 == 2:
            net[0](x).square().mean().backward()
        else:
            net(x).square().mean().backward()
        optimiser.step()


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_the_same_numbers_as_torch_adam_to_the_bit():
    ours, theirs = network(), network()
    train(ours, Adam(groups(ours), lr=1e-2, eps=1e-5), 40, seed=0)
    train(theirs, torch.optim.Adam(groups(theirs), lr=1e-2, eps=1e-5), 40, seed=0)
    assert same_parameters(ours, theirs)
    assert not same_parameters(ours, network())  # it did train


def test_a_step_by_hand():
    """One step from zero moments: theta - lr * g / (|g| + eps) elementwise (bias corrections
    cancel at t = 1), with the L2 term in g."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.5, 0.0])
    Adam([{"params": [p], "weight_decay": 0.1}], lr=0.1, eps=1e-8).step()
    g = torch.tensor([0.5 + 0.1 * 1.0, 0.0 + 0.1 * -2.0])
    torch.testing.assert_close(p.detach(), torch.tensor([1.0, -2.0]) - 0.1 * g / (g.abs() + 1e-8))


@pytest.mark.parametrize("saved_by", [Adam, torch.optim.Adam], ids=["ours", "torch"])
def test_a_checkpoint_continues_where_it_stopped(saved_by):
    """20 steps straight equal 10 steps, a save, a load into a fresh optimiser of ours, and 10 more;
    a checkpoint that torch.optim.Adam wrote (the runs before this class) loads the same way."""
    straight = network()
    optimiser = saved_by(groups(straight), lr=1e-2, eps=1e-5)
    train(straight, optimiser, 10, seed=0)
    train(straight, optimiser, 10, seed=1)

    stopped = network()
    before = saved_by(groups(stopped), lr=1e-2, eps=1e-5)
    train(stopped, before, 10, seed=0)
    after = Adam(groups(stopped), lr=1.0, eps=1.0)  # the settings come from the checkpoint
    after.load_state_dict(copy.deepcopy(before.state_dict()))
    train(stopped, after, 10, seed=1)
    assert same_parameters(stopped, straight)
    assert after.param_groups[0]["lr"] == 1e-2 and after.state_dict()["state"][0]["step"].item() == 20


def test_fused_takes_the_same_steps_up_to_rounding():
    """``fused=True`` (torch's fused kernel, config ``adam_fused``): the same update, rounded
    differently, so 40 steps end within float tolerance of the plain ones; its step counts sit
    beside the parameters in float32, and a plain checkpoint resumes in it."""
    plain, fused = network(), network()
    train(plain, Adam(groups(plain), lr=1e-2, eps=1e-5), 40, seed=0)
    optimiser = Adam(groups(fused), lr=1e-2, eps=1e-5, fused=True)
    train(fused, optimiser, 40, seed=0)
    for p, q in zip(plain.parameters(), fused.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    assert not same_parameters(fused, plain)  # the fused kernel ran: it rounds differently
    step = optimiser.state_dict()["state"][0]["step"]
    assert step.dtype == torch.float32 and step.item() == 40

    # a plain optimiser's checkpoint resumes in a fused one
    a, b = network(), network()
    first = Adam(groups(a), lr=1e-2, eps=1e-5)
    train(a, first, 10, seed=0)
    b.load_state_dict(a.state_dict())
    resumed = Adam(groups(b), lr=1e-2, eps=1e-5, fused=True)
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    train(a, first, 10, seed=1)
    train(b, resumed, 10, seed=1)
    assert resumed.state_dict()["state"][0]["step"].item() == 20
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_of_other_parameters_is_refused():
    net = network()
    with pytest.raises(ValueError, match=r"groups of \[2\] parameters, this optimiser \[2, 2\]"):
        Adam(groups(net), lr=1e-2).load_state_dict(Adam(net[0].parameters(), lr=1e-2).state_dict())


def test_it_does_not_import_torchs_compiler_stack():
    """``torch.optim.Adam`` imports ``torch._dynamo`` at its first call (about 1.3 s here); this one
    does not (``python -X importtime`` lists every module a process imports)."""
    script = ("import torch; from components.adam import Adam; net = torch.nn.Linear(2, 1); {make}; o.zero_grad(); "
              "net(torch.ones(1, 2)).sum().backward(); o.step(); o.load_state_dict(o.state_dict())")
    imported = {}
    for name, make in (("ours", "o = Adam(net.parameters(), lr=0.1)"),
                       ("torch", "o = torch.optim.Adam(net.parameters(), lr=0.1)")):
        result = processes.run([sys.executable, "-X", "importtime", "-c", script.format(make=make)], cwd=SRC,
                               capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        imported[name] = result.stderr
    assert " torch._dynamo\n" not in imported["ours"] and " torch._dynamo\n" in imported["torch"]
