"""Early stopping of the dynamics model's training on the held-out loss (``ModelTrainer(early_stop=...)``,
MBPO's practice): off, it changes nothing; on, it stops a ``train_steps`` call at a check once the
held-out loss has stopped improving, taking exactly the steps a trainer without it would take."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modules.world_models.model_trainer import ModelTrainer
from tests.modules.test_world_model import continuous_model, linear_system, linear_transitions
from utils.config import ConfigError


def trained(n_steps: int, n_models: int = 1, **options) -> tuple[ModelTrainer, dict[str, float]]:
    """A small model given 3,000 transitions of a linear system (which it fits within a few hundred
    steps), and the stats of its ``train_steps(n_steps)``. The global seed is set before building and
    before training, so two calls draw the same initial weights, split and mini-batches."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    trainer = ModelTrainer(continuous_model(n_models=n_models), batch_size=128, buffer_size=5000, lr=1e-3, **options)
    trainer.add_transitions(linear_transitions(3000, linear_system(generator), generator))
    torch.manual_seed(1)
    return trainer, trainer.train_steps(n_steps)


def assert_same_parameters(first: ModelTrainer, second: ModelTrainer) -> None:
    for (name, p), q in zip(first.model.named_parameters(), second.model.parameters()):
        assert torch.equal(p, q), name


def test_off_by_default_and_off_takes_the_plain_steps():
    """``early_stop=False`` (whatever its other settings) is the default and the plain loop: the same
    random mini-batches, the same parameters, the means over all ``n_steps``."""
    default, stats = trained(60)
    off, off_stats = trained(60, early_stop=False, early_stop_interval=1, early_stop_patience=1)
    assert default.early_stop is False
    assert off_stats == stats
    assert stats["model_steps_taken"] == 60.0 and default.gradient_steps == 60
    assert_same_parameters(default, off)

    # the loop as it was before early stopping: the same random draws, bit for bit
    plain, _ = trained(0)
    torch.manual_seed(1)
    total = 0.0
    for _ in range(60):
        batch = plain.train_buffer.sample((plain.model.n_models, plain.batch_size), device=plain.device)
        loss, _ = plain.loss(batch)
        plain.optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(plain.model.parameters(), plain.grad_clip)
        plain.optimiser.step()
        total = total + loss.detach()
    assert stats["model_loss"] == float(total) / 60
    assert_same_parameters(default, plain)


def test_stops_once_the_held_out_loss_stops_improving():
    """The linear system is fitted long before 3,000 steps: the call stops at a check, having taken
    exactly the steps (and reporting the means over them) of a trainer that is asked for that many."""
    options = {"early_stop_interval": 20, "early_stop_patience": 2, "early_stop_tolerance": 0.05}
    trainer, stats = trained(3000, early_stop=True, **options)
    taken = int(stats["model_steps_taken"])
    assert 0 < taken < 3000 and taken % 20 == 0
    assert trainer.gradient_steps == taken
    reference, reference_stats = trained(taken)
    assert reference_stats == stats
    assert_same_parameters(trainer, reference)
    assert trainer.validation_metrics()["model_reward_r2"] > 0.99


@pytest.mark.parametrize("n_models", [1, 3])
def test_each_call_stops_after_its_own_patience_checks(n_models):
    """No check improves the held-out loss by 99%: every call stops after exactly ``patience`` checks,
    counted from its own start (a count or a best carried over from the previous call would stop the
    second call at its first check). The ensemble's held-out loss covers all members."""
    trainer, stats = trained(1000, n_models, early_stop=True, early_stop_interval=10, early_stop_patience=3,
                             early_stop_tolerance=0.99)
    assert stats["model_steps_taken"] == 30.0
    assert trainer.train_steps(1000)["model_steps_taken"] == 30.0
    assert trainer.gradient_steps == 60


@pytest.mark.parametrize(
    "options",
    [
        {"early_stop_patience": 100},  # never runs out of patience within 300 steps (14 checks)
        {"early_stop_tolerance": 0.0, "early_stop_interval": 400},  # no check before the last step
        {"validation_fraction": 0.0},  # no held-out data to check on
    ],
    ids=["patient", "no-check-in-the-call", "no-validation-fifo"],
)
def test_takes_every_step_while_it_cannot_stop(options):
    trainer, stats = trained(300, early_stop=True, **{"early_stop_interval": 20, "early_stop_patience": 1, **options})
    assert stats["model_steps_taken"] == 300.0 and trainer.gradient_steps == 300
    reference, reference_stats = trained(300, validation_fraction=options.get("validation_fraction", 0.1))
    assert reference_stats == stats
    assert_same_parameters(trainer, reference)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"early_stop": 1}, "'early_stop': 1; allowed: True or False"),
        ({"early_stop": "yes"}, "'early_stop': 'yes'"),
        ({"early_stop_interval": 0}, "'early_stop_interval': 0; allowed: an integer >= 1"),
        ({"early_stop_interval": 50.0}, "'early_stop_interval': 50.0"),
        ({"early_stop_patience": 0}, "'early_stop_patience': 0; allowed: an integer >= 1"),
        ({"early_stop_patience": True}, "'early_stop_patience': True"),
        ({"early_stop_tolerance": 1.0}, r"'early_stop_tolerance': 1.0; allowed: a number in \[0, 1\)"),
        ({"early_stop_tolerance": -0.01}, "'early_stop_tolerance': -0.01"),
        ({"early_stop_tolerance": float("nan")}, "'early_stop_tolerance': nan"),
    ],
)
def test_bad_early_stop_arguments_raise_one_line_config_error(options, message):
    with pytest.raises(ConfigError, match=message) as info:
        ModelTrainer(continuous_model(), **options)
    assert "\n" not in str(info.value)
