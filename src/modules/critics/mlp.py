"""The value network every critic here uses (``hidden_stack -> Linear(1)``), shared or one per agent."""

from __future__ import annotations

import torch
from torch import nn

from modules.mlp import CRITIC_OUTPUT_GAIN, NetworkOptions, hidden_stack, linear


class ValueMLP(nn.Module):
    """``[B, T, n_agents, in] -> [B, T, n_agents, 1]``; ``per_agent=True`` gives each agent its own weights.

    Defaults (``options`` from the config): Linear -> ReLU -> Linear -> ReLU -> Linear.
    """

    def __init__(
        self, in_features: int, hidden_dim: int, n_agents: int, per_agent: bool, options: NetworkOptions
    ) -> None:
        super().__init__()
        self.per_agent = per_agent
        networks = n_agents if per_agent else None
        self.body = hidden_stack(in_features, hidden_dim, options, n_agents=networks)
        self.head = linear(hidden_dim, 1, networks, options.init, CRITIC_OUTPUT_GAIN)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        lead = inputs.shape[:-2]
        x = inputs.reshape(-1, *inputs.shape[-2:]) if self.per_agent else inputs  # agentwise: [batch, n_agents, in]
        x = self.head(self.body(x))
        return x.reshape(*lead, *x.shape[-2:])
