"""Diagonal-Gaussian policy for continuous actions around any registered agent network.

The wrapped network outputs the action mean; the standard deviation is state-independent and
learnable, as in HARL: ``std = sigmoid(p) * std_scale`` with ``p`` initialised to
``std_init_param`` (defaults 1.0 and 0.5: std ~= 0.37 at the start, never above 0.5). Non-shared
networks get one ``p`` per agent, shared ones a single ``p``.

The output layer starts small (weights scaled by ``OUTPUT_WEIGHT_SCALE``, HARL's 0.01 gain) with
bias ``action_mean_init``, so every agent's initial mean is ~``action_mean_init`` whatever it
observes (the toy game starts its policies near 0.1 this way).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

OUTPUT_WEIGHT_SCALE = 0.01


class GaussianAgent(nn.Module):
    """``forward``/``forward_sequence`` give the mean (as the wrapped agent); ``std()`` the deviations."""

    def __init__(self, body: nn.Module, args: SimpleNamespace, per_agent: bool) -> None:
        super().__init__()
        self.body = body
        self.hidden_dim = body.hidden_dim
        self.std_scale = args.std_scale
        n_std = args.n_agents if per_agent else 1
        self.std_params = nn.ParameterList(
            [nn.Parameter(torch.full((args.n_actions,), float(args.std_init_param))) for _ in range(n_std)]
        )
        weights, biases = body.output_layer_parameters()
        with torch.no_grad():
            for weight, bias in zip(weights, biases):
                weight.mul_(OUTPUT_WEIGHT_SCALE)
                bias.fill_(args.action_mean_init)

    def std(self) -> torch.Tensor:
        """Per-agent standard deviations ``[n_agents or 1, action_dim]``."""
        return torch.sigmoid(torch.stack(list(self.std_params))) * self.std_scale

    def init_hidden(self) -> torch.Tensor:
        return self.body.init_hidden()

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body(inputs, hidden)

    def forward_sequence(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body.forward_sequence(inputs, hidden)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        return self.body.agent_parameters(agent) + [self.std_params[agent]]
