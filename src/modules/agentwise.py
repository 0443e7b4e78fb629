"""Layers holding one independent set of weights per agent, evaluated in one batched op.

Non-shared ("_ns") agents and critics use these instead of a Python loop over per-agent networks:
inputs are ``[batch, n_agents, in]`` and agent ``i`` only ever sees its own weights. Each agent's
weights are separate leaf tensors (stacked at forward time), so a learner can give every agent its
own optimiser (HAPPO updates agents one at a time) via ``agent_parameters(i)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class AgentwiseLinear(nn.Module):
    """``y[:, i] = x[:, i] @ W_i + b_i`` for every agent ``i``; x: ``[batch, n_agents, in]``."""

    def __init__(self, n_agents: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # same range as nn.Linear's default init
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound)) for _ in range(n_agents)]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.empty(1, out_features).uniform_(-bound, bound)) for _ in range(n_agents)]
        )

    @property
    def weight(self) -> torch.Tensor:
        """All agents' weights ``[n_agents, in, out]``."""
        return torch.stack(list(self.weights))

    @property
    def bias(self) -> torch.Tensor:
        """All agents' biases ``[n_agents, 1, out]``."""
        return torch.stack(list(self.biases))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x.transpose(0, 1), self.weight).transpose(0, 1)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        return [self.weights[agent], self.biases[agent]]


class AgentwiseGRUCell(nn.Module):
    """A GRU cell per agent (same equations as ``nn.GRUCell``); x ``[B, n, in]``, h ``[B, n, hidden]``."""

    def __init__(self, n_agents: int, in_features: int, hidden: int) -> None:
        super().__init__()
        self.input_gates = AgentwiseLinear(n_agents, in_features, 3 * hidden)
        self.hidden_gates = AgentwiseLinear(n_agents, hidden, 3 * hidden)
        bound = 1.0 / math.sqrt(hidden)  # nn.GRUCell's init range
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x_r, x_z, x_n = self.input_gates(x).chunk(3, dim=-1)
        h_r, h_z, h_n = self.hidden_gates(h).chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        candidate = torch.tanh(x_n + reset * h_n)
        return (1 - update) * candidate + update * h

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        return self.input_gates.agent_parameters(agent) + self.hidden_gates.agent_parameters(agent)
