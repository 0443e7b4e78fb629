"""One feed-forward network per agent (no parameter sharing), evaluated for all agents at once.

HARL's actors for HAPPO on MaMuJoCo: MLPs, one per agent (``modules.mlp`` has HARL's options).
``agents`` (optional, in ``forward``/``forward_sequence``) runs only those agents' networks, on
inputs holding only their rows (``modules.agentwise``).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from modules.agentwise import Agents
from modules.mlp import NetworkOptions, hidden_stack, linear


class MLPNSAgent(nn.Module):
    """The :class:`MLPAgent` architecture with independent weights per agent."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        options = NetworkOptions.from_args(args)
        self.n_agents = args.n_agents
        self.hidden_dim = args.hidden_dim
        self.n_actions = args.n_actions
        self.body = hidden_stack(input_shape, args.hidden_dim, options, n_agents=self.n_agents)
        self.head = linear(args.hidden_dim, args.n_actions, self.n_agents, options.init, options.agent_output_gain)

    def init_hidden(self) -> torch.Tensor:
        return self.head.biases[0].new_zeros(1, self.hidden_dim)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        """The parameters of agent ``agent``'s own network (for per-agent optimisers)."""
        return self.body.agent_parameters(agent) + self.head.agent_parameters(agent)

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return list(self.head.weights), list(self.head.biases)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[batch * k, input_shape]`` (agent-major; k = ``len(agents)``, or n_agents for all)
        -> (``[batch * k, n_actions]``, features ``[batch * k, hidden_dim]``)."""
        k = self.n_agents if agents is None else len(agents)
        features = self.body(inputs.reshape(-1, k, inputs.shape[-1]), agents)  # [batch, k, hidden_dim]
        return self.head(features, agents).reshape(-1, self.n_actions), features.reshape(-1, self.hidden_dim)

    def forward_sequence(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` (N = batch * k, agent-major) -> ``[N, T, n_actions]``."""
        n, steps = inputs.shape[:2]
        k = self.n_agents if agents is None else len(agents)
        # fold time into the batch: rows must stay grouped [batch, k] for the agentwise layers
        x = inputs.reshape(-1, k, steps, inputs.shape[-1]).transpose(1, 2)
        outputs, features = self.forward(x.reshape(-1, inputs.shape[-1]), hidden, agents)
        outputs = outputs.reshape(-1, steps, k, outputs.shape[-1]).transpose(1, 2).reshape(n, steps, -1)
        return outputs, features.reshape(-1, steps, k, self.hidden_dim)[:, -1].reshape(-1, self.hidden_dim)
