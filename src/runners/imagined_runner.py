"""Roll a controller inside a learned dynamics model: Lookahead's imagined rollouts.

The Lookahead paper (Algorithm 1, line 5; Algorithm 2 for HAPPO) predicts where the teammates'
policies are going by one policy update on trajectories sampled *in the model*. This runner
produces those trajectories as an :class:`EpisodeBatch` of the run's own scheme, so the base
learner (HAPPO, MAPPO, IPPO) trains on them unchanged.

All ``lka_rollouts`` rollouts advance together as tensor ops; the only Python loop is over the
``lka_horizon`` steps. Each rollout starts from a recent real state (chosen by the caller).
Per step the controller samples actions (all actions are available in imagination) and the model
(``modules.world_models``) predicts the next state, the reward, the termination (probability >
0.5) and the agents' next observations (through the env's published ``state_to_obs`` map, exact
for MaMuJoCo's full-state mode, or the model's own prediction for envs without one).

Row b of the batch is rollout b. After a predicted termination the rest of the row is masked
(``filled = 0``); the horizon end is not a termination: the final slot holds the last predicted
state unfilled, so learners bootstrap it from the critic (a truncation). Feed-forward agents only:
a recurrent agent would need its hidden state at the real start state (``experiment.config_checks``).
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import torch

from components.episode_buffer import EpisodeBatch
from components.interfaces import Controller, StatLogger
from runners.acting import act


class ImaginedRunner:
    """``run(start_states, start_obs)`` -> an EpisodeBatch ``[n_rollouts, lka_horizon + 1]``."""

    def __init__(self, args: SimpleNamespace, logger: StatLogger) -> None:
        self.args = args
        self.logger = logger
        self.horizon = args.lka_horizon
        self.mac: Controller | None = None
        self.model: Any = None
        self.new_batch: Callable[..., EpisodeBatch] | None = None

    def setup(self, scheme: Mapping, groups: Mapping, preprocess: Mapping, mac: Controller, model: Any) -> None:
        """``mac`` acts (the lookahead actors), ``model`` (a ``DynamicsModel``) predicts."""
        self.new_batch = partial(
            EpisodeBatch, scheme, groups, max_seq_length=self.horizon + 1, preprocess=preprocess,
            device=self.args.device,
        )
        self.mac = mac
        self.model = model

    @torch.no_grad()
    def run(self, start_states: torch.Tensor, start_obs: torch.Tensor) -> EpisodeBatch:
        """Imagined rollouts from ``start_states [N, state_dim]`` (agents observing ``start_obs
        [N, n_agents, obs_dim]`` there) for ``lka_horizon`` steps."""
        n = start_states.shape[0]
        batch = self.new_batch(batch_size=n)
        state, obs = start_states.to(batch.device), start_obs.to(batch.device)
        avail = torch.ones_like(batch["avail_actions"][:, 0])
        alive = torch.ones(n, dtype=torch.bool, device=batch.device)
        self.mac.init_hidden(batch_size=n)
        for t in range(self.horizon):
            batch.update({"state": state, "obs": obs, "avail_actions": avail}, ts=t, mark_filled=False)
            transition = act(self.mac, batch, t, t_env=0, rows=slice(None), test_mode=False)
            prediction = self.model.step_with_obs(state, transition["actions"])
            terminated = (prediction.termination_prob > 0.5) & alive
            batch.update({**transition, "reward": prediction.reward, "terminated": terminated.long()}, ts=t)
            batch.transition_data["filled"][:, t, 0] = alive.long()  # rows ended earlier stay masked
            alive = alive & ~terminated
            state, obs = prediction.next_state, prediction.next_obs
        batch.update({"state": state, "obs": obs, "avail_actions": avail}, ts=self.horizon, mark_filled=False)
        return batch
