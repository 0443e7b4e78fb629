"""The recurrent agent shared by all agents: Linear -> ReLU -> GRU (or Linear) -> Linear."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F


class RNNAgent(nn.Module):
    """Parameter-shared recurrent policy/value network; ``use_rnn=False`` swaps the GRU for a Linear.

    ``forward`` takes one step (acting); ``forward_sequence`` runs a whole episode through the fused
    ``nn.GRU`` kernel (training), several times faster than stepping a GRU cell in Python.
    """

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.use_rnn = args.use_rnn
        self.fc1 = nn.Linear(input_shape, args.hidden_dim)
        if args.use_rnn:
            self.rnn = nn.GRU(args.hidden_dim, args.hidden_dim, batch_first=True)
        else:
            self.rnn = nn.Linear(args.hidden_dim, args.hidden_dim)
        self.fc2 = nn.Linear(args.hidden_dim, args.n_actions)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return [self.fc2.weight], [self.fc2.bias]

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, input_shape]``, hidden ``[N, hidden_dim]`` -> (outputs ``[N, n_actions]``, hidden)."""
        outputs, hidden = self.forward_sequence(inputs.unsqueeze(1), hidden)
        return outputs[:, 0], hidden

    def forward_sequence(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` -> (outputs ``[N, T, n_actions]``, last hidden ``[N, hidden_dim]``)."""
        x = F.relu(self.fc1(inputs))
        if self.use_rnn:
            x, last = self.rnn(x, hidden.reshape(1, -1, self.hidden_dim))
            last = last[0]
        else:
            x = F.relu(self.rnn(x))
            last = x[:, -1]
        return self.fc2(x), last
