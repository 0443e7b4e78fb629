"""A feed-forward agent (no memory): Linear -> ReLU -> Linear -> ReLU -> Linear."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


class MLPAgent(nn.Module):
    """Parameter-shared MLP; the returned "hidden" is the last features (kept only for the interface)."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.body = nn.Sequential(
            nn.Linear(input_shape, args.hidden_dim),
            nn.ReLU(),
            nn.Linear(args.hidden_dim, args.hidden_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(args.hidden_dim, args.n_actions)

    def init_hidden(self) -> torch.Tensor:
        return self.head.weight.new_zeros(1, self.hidden_dim)

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return [self.head.weight], [self.head.bias]

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(inputs)
        return self.head(features), features

    def forward_sequence(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` -> (``[N, T, n_actions]``, features of the last step)."""
        features = self.body(inputs)
        return self.head(features), features[:, -1]
