"""Network options and the feed-forward layer stacks built from them, for agents and critics.

``NetworkOptions.from_args(args)`` reads the "agent network" config keys. The defaults build
today's networks exactly (``Linear -> ReLU`` blocks with PyTorch's default init, created in the
same order, so the same seed gives the same weights). HARL's tuned MaMuJoCo networks are
(HARL ``harl/models/base/mlp.py``, ``harl/utils/models_tools.py``):

* ``input_layer_norm``: LayerNorm on the network input (HARL's ``use_feature_normalization``);
* blocks ``Linear -> activation -> LayerNorm`` (``hidden_layer_norm``), ``hidden_layers`` of them;
* ``init="orthogonal"``: orthogonal weights with gain ``calculate_gain(activation)`` in hidden
  layers, zero biases; the policy's output layer gain ``init_agent_output_gain`` (HARL 0.01), the
  critic's output gain 1.

Every builder makes a shared network (``n_agents=None``: ``nn.Linear`` / ``nn.LayerNorm`` on
``[..., features]``) or one network per agent (``AgentwiseLinear`` / ``AgentwiseLayerNorm`` on
``[batch, n_agents, features]``, all agents in one batched op).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

from modules.agentwise import Agents, AgentwiseLayerNorm, AgentwiseLinear, apply_layer
from utils.config import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
"""``activation`` choices: name -> module (the name is also ``nn.init.calculate_gain``'s)."""
INITS = ("default", "orthogonal")
"""``init`` choices: PyTorch's default layer init, or HARL's orthogonal init with zero biases."""
CRITIC_OUTPUT_GAIN = 1.0
"""Orthogonal gain of a critic's value output layer (HARL's critics use 1)."""


@dataclass(frozen=True)
class NetworkOptions:
    """The architecture and init options of agent and critic networks (see the module docstring)."""

    hidden_layers: int
    activation: str
    input_layer_norm: bool
    hidden_layer_norm: bool
    init: str
    agent_output_gain: float

    @classmethod
    def from_args(cls, args: SimpleNamespace) -> NetworkOptions:
        """Read and check the config keys (``experiment.config_checks`` checks them for runs too; this keeps
        networks built directly from an args namespace just as safe).

        Raises:
            ConfigError: ``bad value for 'KEY': VALUE; allowed: ...``, as ``experiment.config_checks``.
        """
        allowed = {
            "hidden_layers": ("an integer >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
            "activation": (f"one of {', '.join(ACTIVATIONS)}", lambda v: v in ACTIVATIONS),
            "input_layer_norm": ("True or False", lambda v: isinstance(v, bool)),
            "hidden_layer_norm": ("True or False", lambda v: isinstance(v, bool)),
            "init": (f"one of {', '.join(INITS)}", lambda v: v in INITS),
            "init_agent_output_gain": (
                "a number > 0", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
            ),
        }
        for key, (what, accepts) in allowed.items():
            value = getattr(args, key)
            if not accepts(value):
                raise ConfigError(f"bad value for '{key}': {value!r}; allowed: {what}")
        return cls(
            args.hidden_layers, args.activation, args.input_layer_norm, args.hidden_layer_norm, args.init,
            float(args.init_agent_output_gain),
        )

    @property
    def hidden_gain(self) -> float:
        """Orthogonal gain of hidden layers: ``calculate_gain(activation)`` (sqrt(2) for ReLU, 5/3 for tanh)."""
        return nn.init.calculate_gain(self.activation)


def orthogonal_(module: nn.Module, gain: float) -> None:
    """Orthogonal weights (scaled by ``gain``) and zero biases for every layer inside ``module``.

    Weights are made orthogonal as ``[out, in]`` matrices, as ``nn.init.orthogonal_`` on an
    ``nn.Linear`` (``AgentwiseLinear`` stores ``[in, out]``, so its transpose is initialised).
    ``nn.GRU`` weights get HARL's ``RNNLayer`` treatment with the same ``gain``.
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                nn.init.orthogonal_(layer.weight, gain)
                nn.init.zeros_(layer.bias)
            elif isinstance(layer, AgentwiseLinear):
                for weight, bias in zip(layer.weights, layer.biases):
                    weight.copy_(nn.init.orthogonal_(weight.new_empty(weight.shape[::-1]), gain).T)
                    bias.zero_()
            elif isinstance(layer, nn.GRU):
                for name, parameter in layer.named_parameters():
                    if name.startswith("weight"):
                        nn.init.orthogonal_(parameter, gain)
                    else:
                        nn.init.zeros_(parameter)


def linear(in_features: int, out_features: int, n_agents: int | None, init: str, gain: float) -> nn.Module:
    """``nn.Linear`` (shared) or ``AgentwiseLinear`` (``n_agents`` networks); ``gain`` is used by orthogonal init."""
    if n_agents is None:
        layer: nn.Module = nn.Linear(in_features, out_features)
    else:
        layer = AgentwiseLinear(n_agents, in_features, out_features)
    if init == "orthogonal":
        orthogonal_(layer, gain)
    return layer


def layer_norm(features: int, n_agents: int | None) -> nn.Module:
    """``nn.LayerNorm`` over the last dim (shared) or one per agent (``AgentwiseLayerNorm``)."""
    return nn.LayerNorm(features) if n_agents is None else AgentwiseLayerNorm(n_agents, features)


class LayerStack(nn.Sequential):
    """An ``nn.Sequential`` whose per-agent layers hand out agent ``i``'s own parameters and can run
    for a subset of agents (``agents``; see ``modules.agentwise``)."""

    def forward(self, x: torch.Tensor, agents: Agents = None) -> torch.Tensor:
        """``x`` ``[..., features]`` (shared) or ``[batch, len(agents), features]`` (per agent; all if None)."""
        for layer in self:
            x = apply_layer(layer, x, agents)
        return x

    def agent_parameters(self, agent: int) -> list[nn.Parameter]:
        """Agent ``agent``'s parameters in every agentwise layer (for per-agent optimisers)."""
        return [p for layer in self if hasattr(layer, "agent_parameters") for p in layer.agent_parameters(agent)]


def hidden_stack(in_features: int, hidden_dim: int, options: NetworkOptions, n_agents: int | None) -> LayerStack:
    """``[LayerNorm] -> (Linear -> activation [-> LayerNorm]) x hidden_layers``: inputs ``[..., in_features]``
    (``[batch, n_agents, in_features]`` when ``n_agents`` is set) -> features ``[..., hidden_dim]``."""
    layers: list[nn.Module] = [layer_norm(in_features, n_agents)] if options.input_layer_norm else []
    for depth in range(options.hidden_layers):
        width_in = in_features if depth == 0 else hidden_dim
        layers.append(linear(width_in, hidden_dim, n_agents, options.init, options.hidden_gain))
        layers.append(ACTIVATIONS[options.activation]())
        if options.hidden_layer_norm:
            layers.append(layer_norm(hidden_dim, n_agents))
    return LayerStack(*layers)
