"""Decentralised critic V(o_i) on each agent's own observation (IPPO's critic)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

import torch
from torch import nn

from components.episode_buffer import EpisodeBatch
from modules.critics.mlp import ValueMLP
from modules.inputs import agent_ids, steps_of
from modules.mlp import NetworkOptions


class ACCritic(nn.Module):
    """V from the agent's own observation and (shared weights only) its one-hot id."""

    per_agent = False

    def __init__(self, scheme: Mapping[str, Any], args: SimpleNamespace) -> None:
        super().__init__()
        self.n_agents = args.n_agents
        obs = scheme["obs"]["vshape"]
        size = (obs if isinstance(obs, int) else obs[0]) + (0 if self.per_agent else self.n_agents)
        self.net = ValueMLP(size, args.hidden_dim, self.n_agents, self.per_agent, NetworkOptions.from_args(args))

    def forward(self, batch: EpisodeBatch, t: int | slice | None = None) -> torch.Tensor:
        """Values ``[B, steps, n_agents, 1]`` at step ``t``, at the steps of a slice ``t`` (learners
        pass the transitions only), or at every stored step."""
        ts = steps_of(t)
        obs = batch["obs"][:, ts]
        if not self.per_agent:
            obs = torch.cat([obs, agent_ids(obs.shape[0], obs.shape[1], self.n_agents, obs.device)], dim=-1)
        return self.net(obs)


class ACCriticNS(ACCritic):
    """:class:`ACCritic` with one network per agent."""

    per_agent = True
