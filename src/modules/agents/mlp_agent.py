"""A feed-forward agent (no memory) shared by all agents: ``hidden_stack -> Linear``.

Defaults: Linear -> ReLU -> Linear -> ReLU -> Linear; ``modules.mlp`` lists the options (depth,
activation, LayerNorms, HARL's orthogonal init).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from modules.agentwise import Agents
from modules.mlp import NetworkOptions, hidden_stack, linear


class MLPAgent(nn.Module):
    """Parameter-shared MLP; the returned "hidden" is the last features (kept only for the interface)."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        options = NetworkOptions.from_args(args)
        self.hidden_dim = args.hidden_dim
        self.body = hidden_stack(input_shape, args.hidden_dim, options, n_agents=None)
        self.head = linear(args.hidden_dim, args.n_actions, None, options.init, options.agent_output_gain)

    def init_hidden(self) -> torch.Tensor:
        return self.head.weight.new_zeros(1, self.hidden_dim)

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return [self.head.weight], [self.head.bias]

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, input_shape]`` -> (outputs ``[N, n_actions]``, features ``[N, hidden_dim]``).
        ``agents`` (which agents the rows belong to) changes nothing: all share one network."""
        features = self.body(inputs)
        return self.head(features), features

    def forward_sequence(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` -> (``[N, T, n_actions]``, features of the last step); ``agents``
        as in ``forward``."""
        features = self.body(inputs)
        return self.head(features), features[:, -1]
