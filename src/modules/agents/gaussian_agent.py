"""Diagonal-Gaussian policy for continuous actions around any registered agent network.

The wrapped network outputs the action mean; the standard deviation is state-independent and
learnable, as in HARL: ``std = sigmoid(p) * std_scale`` with ``p`` initialised to
``std_init_param`` (defaults 1.0 and 0.5: std ~= 0.37 at the start, never above 0.5). Non-shared
networks get one ``p`` per agent, shared ones a single ``p``.

The output layer starts small with bias ``action_mean_init``, so every agent's initial mean is
~``action_mean_init`` whatever it observes (the toy game starts its policies near 0.1 this way):
with ``init="default"`` PyTorch's initial output weights are scaled by ``OUTPUT_WEIGHT_SCALE``;
with ``init="orthogonal"`` the body's output layer already is orthogonal with gain
``init_agent_output_gain`` (HARL's 0.01) and is left as it is.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from modules.agentwise import Agents
from modules.mlp import NetworkOptions

OUTPUT_WEIGHT_SCALE = 0.01
"""Scale of PyTorch's default-initialised output weights (``init="default"``; HARL's 0.01 gain)."""


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
        scale_weights = NetworkOptions.from_args(args).init == "default"  # orthogonal: built at its gain
        with torch.no_grad():
            for weight, bias in zip(weights, biases):
                if scale_weights:
                    weight.mul_(OUTPUT_WEIGHT_SCALE)
                bias.fill_(args.action_mean_init)

    def std(self, agents: Agents = None) -> torch.Tensor:
        """Standard deviations ``[n_agents or 1, action_dim]``; per-agent ones only for ``agents``
        (``[len(agents), action_dim]``) when given. A shared std serves every agent as it is."""
        shared = len(self.std_params) == 1
        params = list(self.std_params) if agents is None or shared else [self.std_params[i] for i in agents]
        return torch.sigmoid(torch.stack(params)) * self.std_scale

    def init_hidden(self) -> torch.Tensor:
        return self.body.init_hidden()

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body(inputs, hidden, agents)

    def forward_sequence(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body.forward_sequence(inputs, hidden, agents)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        return self.body.agent_parameters(agent) + [self.std_params[agent]]
