"""The three-layer value network every critic here uses, shared or one per agent."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from modules.agentwise import AgentwiseLinear


class ValueMLP(nn.Module):
    """``[B, T, n_agents, in] -> [B, T, n_agents, 1]``; ``per_agent=True`` gives each agent its own weights."""

    def __init__(self, in_features: int, hidden_dim: int, n_agents: int, per_agent: bool) -> None:
        super().__init__()
        self.per_agent = per_agent
        if per_agent:
            self.layers = nn.ModuleList(
                [AgentwiseLinear(n_agents, in_features, hidden_dim), AgentwiseLinear(n_agents, hidden_dim, hidden_dim),
                 AgentwiseLinear(n_agents, hidden_dim, 1)]
            )
        else:
            self.layers = nn.ModuleList(
                [nn.Linear(in_features, hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, 1)]
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        lead = inputs.shape[:-2]
        x = inputs.reshape(-1, *inputs.shape[-2:]) if self.per_agent else inputs
        x = F.relu(self.layers[0](x))
        x = F.relu(self.layers[1](x))
        x = self.layers[2](x)
        return x.reshape(*lead, *x.shape[-2:])
