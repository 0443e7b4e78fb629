"""Layers holding one independent set of weights per agent, evaluated in one batched op.

Non-shared ("_ns") agents and critics use these instead of a Python loop over per-agent networks:
inputs are ``[batch, n_agents, in]`` and agent ``i`` only ever sees weights ``[i]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class AgentwiseLinear(nn.Module):
    """``y[:, i] = x[:, i] @ W[i] + b[i]`` for every agent ``i``; x: ``[batch, n_agents, in]``."""

    def __init__(self, n_agents: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # same range as nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(n_agents, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_agents, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x.transpose(0, 1), self.weight).transpose(0, 1)


class AgentwiseGRUCell(nn.Module):
    """A GRU cell per agent (same equations as ``nn.GRUCell``); x ``[B, n, in]``, h ``[B, n, hidden]``."""

    def __init__(self, n_agents: int, in_features: int, hidden: int) -> None:
        super().__init__()
        self.input_gates = AgentwiseLinear(n_agents, in_features, 3 * hidden)
        self.hidden_gates = AgentwiseLinear(n_agents, hidden, 3 * hidden)
        for layer in (self.input_gates, self.hidden_gates):  # nn.GRUCell's init range
            bound = 1.0 / math.sqrt(hidden)
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.uniform_(layer.bias, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x_r, x_z, x_n = self.input_gates(x).chunk(3, dim=-1)
        h_r, h_z, h_n = self.hidden_gates(h).chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        candidate = torch.tanh(x_n + reset * h_n)
        return (1 - update) * candidate + update * h
