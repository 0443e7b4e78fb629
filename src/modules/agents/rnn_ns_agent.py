"""One recurrent network per agent (no parameter sharing), evaluated for all agents at once.

``agents`` (optional, in ``forward``/``forward_sequence``) runs only those agents' networks, on
inputs and hidden states holding only their rows (``modules.agentwise``).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from modules.agents.rnn_agent import RNN_GAIN
from modules.agentwise import Agents, AgentwiseGRUCell, apply_layer
from modules.mlp import ACTIVATIONS, NetworkOptions, layer_norm, linear, orthogonal_


class RNNNSAgent(nn.Module):
    """The :class:`RNNAgent` architecture (and options) with independent weights per agent."""

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        options = NetworkOptions.from_args(args)
        self.n_agents = args.n_agents
        self.hidden_dim = args.hidden_dim
        self.use_rnn = args.use_rnn
        self.n_actions = args.n_actions
        n = self.n_agents
        self.input_norm = layer_norm(input_shape, n) if options.input_layer_norm else nn.Identity()
        self.fc1_norm = layer_norm(args.hidden_dim, n) if options.hidden_layer_norm else nn.Identity()
        self.rnn_norm = layer_norm(args.hidden_dim, n) if options.hidden_layer_norm else nn.Identity()
        self.activation = ACTIVATIONS[options.activation]()
        self.fc1 = linear(input_shape, args.hidden_dim, self.n_agents, options.init, options.hidden_gain)
        if args.use_rnn:
            self.rnn = AgentwiseGRUCell(self.n_agents, args.hidden_dim, args.hidden_dim)
            if options.init == "orthogonal":
                orthogonal_(self.rnn, RNN_GAIN)
        else:
            self.rnn = linear(args.hidden_dim, args.hidden_dim, self.n_agents, options.init, options.hidden_gain)
        self.fc2 = linear(args.hidden_dim, args.n_actions, self.n_agents, options.init, options.agent_output_gain)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[batch * k, input_shape]`` (agent-major; k = ``len(agents)``, or n_agents for all),
        hidden ``[batch * k, hidden_dim]`` -> (outputs ``[batch * k, n_actions]``, hidden)."""
        k = self.n_agents if agents is None else len(agents)
        x = apply_layer(self.input_norm, inputs.reshape(-1, k, inputs.shape[-1]), agents)
        x = apply_layer(self.fc1_norm, self.activation(self.fc1(x, agents)), agents)
        h_in = hidden.reshape(-1, k, self.hidden_dim)
        h = self.rnn(x, h_in, agents) if self.use_rnn else self.activation(self.rnn(x, agents))
        # the carried hidden state h stays unnormalised
        outputs = self.fc2(apply_layer(self.rnn_norm, h, agents), agents)
        return outputs.reshape(-1, self.n_actions), h.reshape(-1, self.hidden_dim)

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        """The parameters of agent ``agent``'s own network (for per-agent optimisers)."""
        layers = (self.input_norm, self.fc1, self.fc1_norm, self.rnn, self.rnn_norm, self.fc2)
        return [p for layer in layers if hasattr(layer, "agent_parameters") for p in layer.agent_parameters(agent)]

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return list(self.fc2.weights), list(self.fc2.biases)

    def forward_sequence(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` (N = batch * k) -> (``[N, T, n_actions]``, last hidden)."""
        outputs = []
        for t in range(inputs.shape[1]):
            out, hidden = self.forward(inputs[:, t], hidden, agents)
            outputs.append(out)
        return torch.stack(outputs, dim=1), hidden
