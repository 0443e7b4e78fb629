"""Agent networks: ``REGISTRY[args.agent](input_shape, args)``.

All take ``inputs [batch * n_agents, input_shape]`` and ``hidden [batch * n_agents, hidden_dim]``
(agent-major within each batch row) and return ``(outputs [batch * n_agents, n_actions], hidden)``;
``forward_sequence`` does the same for ``[N, T, input_shape]`` inputs (whole episodes, for training).
Both take an optional ``agents`` (indices): the rows then hold only those agents (``len(agents)``
per batch row) and non-shared agents run only their networks; shared ones ignore it.
"""

from modules.agents.mlp_agent import MLPAgent
from modules.agents.mlp_ns_agent import MLPNSAgent
from modules.agents.rnn_agent import RNNAgent
from modules.agents.rnn_ns_agent import RNNNSAgent

REGISTRY = {
    "rnn": RNNAgent,
    "rnn_ns": RNNNSAgent,
    "mlp": MLPAgent,
    "mlp_ns": MLPNSAgent,
}
