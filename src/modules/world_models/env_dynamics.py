"""An env's own dynamics in the dynamics model's place: ``lka_model: env``.

Some envs publish their transition and reward functions as batched torch ops (the env info's
``true_dynamics``; the toy game does). Imagining with them instead of a learned model gives
Lookahead without model error: an upper bound on what a better model could give, and a way to
tell the model's share of a result from the trust region's and the advantage's.
"""

from __future__ import annotations

from typing import Callable

import torch

from modules.world_models.dynamics_model import ImaginedStep

TrueDynamics = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


class EnvDynamics:
    """``step_with_obs`` of :class:`DynamicsModel` (what the imagined runner calls), exact.

    Args:
        dynamics: the env info's ``true_dynamics``, ``(state, actions) -> (next_state, team reward
            [N, 1], termination probability [N], next_obs)``.
        reward_dim: 1 (a common reward) or ``n_agents`` (the team reward given to each agent).
    """

    def __init__(self, dynamics: TrueDynamics, reward_dim: int) -> None:
        self.dynamics = dynamics
        self.reward_dim = reward_dim

    @torch.no_grad()
    def step_with_obs(self, state: torch.Tensor, actions: torch.Tensor) -> ImaginedStep:
        """One exact step of ``N`` rollouts (see :meth:`DynamicsModel.step_with_obs`)."""
        next_state, reward, termination_prob, next_obs = self.dynamics(state, actions)
        return ImaginedStep(next_state, reward.expand(-1, self.reward_dim), termination_prob, next_obs)
