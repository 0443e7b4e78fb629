"""The recurrent agent shared by all agents: Linear -> activation -> GRU (or Linear) -> Linear.

Options (``modules.mlp``): ``input_layer_norm`` (LayerNorm on the input), ``hidden_layer_norm``
(LayerNorm after the first layer's activation and on the GRU output fed to the head; the hidden
state carried between steps stays unnormalised, as in HARL's ``RNNLayer``), ``activation`` and
``init`` (orthogonal: the Linear layers as in MLPs, GRU weights with gain 1 and zero biases, as
HARL's ``RNNLayer``). ``hidden_layers`` does not apply: the layers are fixed.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from modules.agentwise import Agents
from modules.mlp import ACTIVATIONS, NetworkOptions, layer_norm, linear, orthogonal_

RNN_GAIN = 1.0
"""Orthogonal gain of the GRU weights (HARL's ``RNNLayer``)."""


class RNNAgent(nn.Module):
    """Parameter-shared recurrent policy/value network; ``use_rnn=False`` swaps the GRU for a Linear.

    ``forward`` takes one step (acting) through the GRU's cell function with the layer's own weights
    (``nn.GRU`` on a one-step sequence pays its sequence set-up, ~20% of the step here);
    ``forward_sequence`` runs a whole episode through the fused ``nn.GRU`` kernel (training),
    several times faster than stepping a GRU cell in Python.
    """

    def __init__(self, input_shape: int, args: SimpleNamespace) -> None:
        super().__init__()
        options = NetworkOptions.from_args(args)
        self.hidden_dim = args.hidden_dim
        self.use_rnn = args.use_rnn
        self.input_norm = layer_norm(input_shape, None) if options.input_layer_norm else nn.Identity()
        self.fc1_norm = layer_norm(args.hidden_dim, None) if options.hidden_layer_norm else nn.Identity()
        self.rnn_norm = layer_norm(args.hidden_dim, None) if options.hidden_layer_norm else nn.Identity()
        self.activation = ACTIVATIONS[options.activation]()
        self.fc1 = linear(input_shape, args.hidden_dim, None, options.init, options.hidden_gain)
        if args.use_rnn:
            self.rnn = nn.GRU(args.hidden_dim, args.hidden_dim, batch_first=True)
            if options.init == "orthogonal":
                orthogonal_(self.rnn, RNN_GAIN)
        else:
            self.rnn = linear(args.hidden_dim, args.hidden_dim, None, options.init, options.hidden_gain)
        self.fc2 = linear(args.hidden_dim, args.n_actions, None, options.init, options.agent_output_gain)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def output_layer_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(weights, biases) of the layer that produces the outputs."""
        return [self.fc2.weight], [self.fc2.bias]

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, input_shape]``, hidden ``[N, hidden_dim]`` -> (outputs ``[N, n_actions]``, hidden).
        ``agents`` (which agents the rows belong to) changes nothing: all share one network."""
        if not self.use_rnn:
            outputs, hidden = self.forward_sequence(inputs.unsqueeze(1), hidden)
            return outputs[:, 0], hidden
        rnn = self.rnn
        hidden = torch.gru_cell(self._embed(inputs), hidden, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
        return self.fc2(self.rnn_norm(hidden)), hidden

    def forward_sequence(
        self, inputs: torch.Tensor, hidden: torch.Tensor, agents: Agents = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs ``[N, T, input_shape]`` -> (outputs ``[N, T, n_actions]``, last hidden ``[N, hidden_dim]``);
        ``agents`` as in ``forward``."""
        x = self._embed(inputs)
        if self.use_rnn:
            x, last = self.rnn(x, hidden.reshape(1, -1, self.hidden_dim))
            last = last[0]
        else:
            x = self.activation(self.rnn(x))
            last = x[:, -1]
        return self.fc2(self.rnn_norm(x)), last

    def _embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """The first layer (with its input and output norms): what the GRU (or Linear) reads."""
        return self.fc1_norm(self.activation(self.fc1(self.input_norm(inputs))))
