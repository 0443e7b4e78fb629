"""One recurrent network per agent (no parameter sharing), evaluated for all agents at once."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F

from modules.agentwise import AgentwiseGRUCell, AgentwiseLinear


class RNNNSAgent(nn.Module):
    """The :class:`RNNAgent` architecture with independent weights per agent."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        self.n_agents = args.n_agents
        self.hidden_dim = args.hidden_dim
        self.use_rnn = args.use_rnn
        self.fc1 = AgentwiseLinear(self.n_agents, input_shape, args.hidden_dim)
        if args.use_rnn:
            self.rnn = AgentwiseGRUCell(self.n_agents, args.hidden_dim, args.hidden_dim)
        else:
            self.rnn = AgentwiseLinear(self.n_agents, args.hidden_dim, args.hidden_dim)
        self.fc2 = AgentwiseLinear(self.n_agents, args.hidden_dim, args.n_actions)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.fc1(inputs.reshape(-1, self.n_agents, inputs.shape[-1])))
        h_in = hidden.reshape(-1, self.n_agents, self.hidden_dim)
        h = self.rnn(x, h_in) if self.use_rnn else F.relu(self.rnn(x))
        return self.fc2(h).reshape(-1, self.fc2.weight.shape[-1]), h.reshape(-1, self.hidden_dim)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        """The parameters of agent ``agent``'s own network (for per-agent optimisers)."""
        return [p for layer in (self.fc1, self.rnn, self.fc2) for p in layer.agent_parameters(agent)]

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return list(self.fc2.weights), list(self.fc2.biases)

    def forward_sequence(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` (N = batch * n_agents) -> (``[N, T, n_actions]``, last hidden)."""
        outputs = []
        for t in range(inputs.shape[1]):
            out, hidden = self.forward(inputs[:, t], hidden)
            outputs.append(out)
        return torch.stack(outputs, dim=1), hidden
