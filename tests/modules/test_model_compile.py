"""``ModelTrainer(compile_loss=True)`` with the real compiler (Inductor, which needs the machine's
C++ compiler): the same steps as the uncompiled trainer up to float rounding, and the same numbers
again for the same seed. Marked slow: the compile takes 10-20 s on 2 cores."""

from __future__ import annotations

import warnings

import pytest
import torch

from modules.world_models.model_trainer import ModelTrainer
from tests.modules.test_world_model import continuous_model, linear_system, linear_transitions

pytestmark = pytest.mark.slow


def trained(compile_loss: bool, n_steps: int = 40) -> tuple[ModelTrainer, dict[str, float]]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    trainer = ModelTrainer(continuous_model(), batch_size=128, buffer_size=5000, lr=1e-3, compile_loss=compile_loss)
    trainer.add_transitions(linear_transitions(3000, linear_system(generator), generator))
    torch.manual_seed(1)
    return trainer, trainer.train_steps(n_steps)


def test_compiled_loss_takes_the_uncompiled_steps_up_to_rounding():
    eager, eager_stats = trained(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # it compiled: no fallback warning
        compiled, compiled_stats = trained(True)
        again, again_stats = trained(True)
    assert compiled_stats["model_steps_taken"] == 40.0
    for key, value in eager_stats.items():
        assert compiled_stats[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for (name, p), q in zip(eager.model.named_parameters(), compiled.model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)
    assert again_stats == compiled_stats  # same seed, same numbers
    for p, q in zip(compiled.model.parameters(), again.model.parameters()):
        assert torch.equal(p, q)
    assert compiled.validation_metrics()["model_reward_r2"] == pytest.approx(
        eager.validation_metrics()["model_reward_r2"], abs=1e-3)
