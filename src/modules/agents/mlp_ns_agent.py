"""One feed-forward network per agent (no parameter sharing), evaluated for all agents at once.

HARL's actors for HAPPO on MaMuJoCo: ReLU MLPs with two hidden layers, one per agent.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F

from modules.agentwise import AgentwiseLinear


class MLPNSAgent(nn.Module):
    """The :class:`MLPAgent` architecture with independent weights per agent."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        self.n_agents = args.n_agents
        self.hidden_dim = args.hidden_dim
        self.layers = nn.ModuleList(
            [
                AgentwiseLinear(self.n_agents, input_shape, args.hidden_dim),
                AgentwiseLinear(self.n_agents, args.hidden_dim, args.hidden_dim),
            ]
        )
        self.head = AgentwiseLinear(self.n_agents, args.hidden_dim, args.n_actions)

    def init_hidden(self) -> torch.Tensor:
        return self.head.biases[0].new_zeros(1, self.hidden_dim)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        """The parameters of agent ``agent``'s own network (for per-agent optimisers)."""
        return [p for layer in (*self.layers, self.head) for p in layer.agent_parameters(agent)]

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return list(self.head.weights), list(self.head.biases)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs.reshape(-1, self.n_agents, inputs.shape[-1])
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.head(x).reshape(-1, self.head.biases[0].shape[-1]), x.reshape(-1, self.hidden_dim)

    def forward_sequence(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` (N = batch * n_agents, agent-major) -> ``[N, T, n_actions]``."""
        n, steps = inputs.shape[:2]
        # fold time into the batch: rows must stay grouped [batch, n_agents] for the agentwise layers
        x = inputs.reshape(-1, self.n_agents, steps, inputs.shape[-1]).transpose(1, 2)
        outputs, features = self.forward(x.reshape(-1, inputs.shape[-1]), hidden)
        outputs = outputs.reshape(-1, steps, self.n_agents, outputs.shape[-1]).transpose(1, 2).reshape(n, steps, -1)
        return outputs, features.reshape(-1, steps, self.n_agents, self.hidden_dim)[:, -1].reshape(-1, self.hidden_dim)
