"""Centralised state-value critics: MAPPO's V(s, i) (shared, with the agent's id, or per agent) and
HARL's V(s) (one value per step that every agent reads)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

import torch
from torch import nn

from components.episode_buffer import EpisodeBatch
from modules.critics.mlp import ValueMLP
from modules.inputs import action_feature_size, agent_ids, last_actions, steps_of
from modules.mlp import NetworkOptions


class CentralVCritic(nn.Module):
    """V from the global state, plus (options) all agents' observations, all agents' last actions,
    and the one-hot id of the agent whose value it is (EPyMARL's MAPPO critic: a row per agent)."""

    per_agent = False
    one_value = False  # StateVCritic: one value per step, computed once and read by every agent

    def __init__(self, scheme: Mapping[str, Any], args: SimpleNamespace) -> None:
        super().__init__()
        self.args = args
        self.n_agents = args.n_agents
        self.use_agent_id = not (self.per_agent or self.one_value)
        self.rows = 1 if self.one_value else self.n_agents  # input rows per step
        options = NetworkOptions.from_args(args)
        self.net = ValueMLP(self._get_input_shape(scheme), args.hidden_dim, self.n_agents, self.per_agent, options)

    def forward(self, batch: EpisodeBatch, t: int | slice | None = None) -> torch.Tensor:
        """Values ``[B, steps, n_agents, 1]`` at step ``t``, at the steps of a slice ``t`` (learners
        pass the transitions only), or at every stored step."""
        ts = steps_of(t)
        values = self.net(self._build_inputs(batch, ts))
        return values.expand(-1, -1, self.n_agents, -1) if self.one_value else values

    def _build_inputs(self, batch: EpisodeBatch, ts: slice) -> torch.Tensor:
        """``[B, steps, rows, features]``: the step's features once per agent (``rows`` = n_agents)
        or once (``one_value``)."""
        state = batch["state"][:, ts]
        bs, n_steps = state.shape[:2]
        per_agent = lambda x: x.reshape(bs, n_steps, 1, -1).expand(-1, -1, self.rows, -1)  # noqa: E731
        parts = [per_agent(state)]
        if self.args.obs_individual_obs:
            parts.append(per_agent(batch["obs"][:, ts]))
        if self.args.obs_last_action:
            parts.append(per_agent(last_actions(batch, ts)))
        if self.use_agent_id:
            parts.append(agent_ids(bs, n_steps, self.n_agents, state.device))
        return torch.cat(parts, dim=-1)

    def _get_input_shape(self, scheme: Mapping[str, Any]) -> int:
        size = scheme["state"]["vshape"]
        size = size if isinstance(size, int) else size[0]
        obs = scheme["obs"]["vshape"]
        if self.args.obs_individual_obs:
            size += (obs if isinstance(obs, int) else obs[0]) * self.n_agents
        if self.args.obs_last_action:
            size += action_feature_size(scheme) * self.n_agents
        if self.use_agent_id:
            size += self.n_agents
        return size


class CentralVCriticNS(CentralVCritic):
    """:class:`CentralVCritic` with one network per agent (no agent id needed)."""

    per_agent = True


class StateVCritic(CentralVCritic):
    """HARL's centralised critic V(s): one value per step from the features every agent shares (the
    state and, as options, all observations and last actions; no agent id), computed once and read
    by every agent. With a common reward each agent's targets are the same, so the value loss
    averaged over the agents' identical rows is the loss over the steps, as in HARL; ``cv_critic``
    learns V(s, i) instead on n_agents rows per step, twice the critic's work with two agents."""

    one_value = True
