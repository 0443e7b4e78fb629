"""Network options (``modules.mlp``): depth, activation, LayerNorms and HARL's orthogonal init for agents
and critics, shared and per agent; the defaults must rebuild the previous networks weight for weight."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from components.env_info import EnvInfo
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment import build
from modules.agents import REGISTRY as agent_registry
from modules.agents.gaussian_agent import GaussianAgent
from modules.agentwise import AgentwiseLayerNorm, AgentwiseLinear
from modules.critics import REGISTRY as critic_registry
from tests.factories import FakeLogger, make_test_args
from utils.config import ConfigError

N_AGENTS, OBS, STATE, N_ACTIONS, LIMIT, HIDDEN = 3, 5, 7, 4, 4, 8
LENGTHS = (4, 2)  # one full episode (bootstrapped), one terminated early
HARL = {"hidden_layers": 3, "input_layer_norm": True, "hidden_layer_norm": True, "init": "orthogonal"}
OPTIONS = [
    {},
    {"activation": "tanh"},
    {"input_layer_norm": True},
    {"hidden_layer_norm": True},
    {"init": "orthogonal"},
    {"hidden_layers": 3},
    HARL,
]
AGENTS = ["mlp", "mlp_ns", "rnn", "rnn_ns"]


def env_info(kind: str) -> dict:
    return {"n_agents": N_AGENTS, "obs_shape": OBS, "state_shape": STATE, "n_actions": N_ACTIONS,
            "episode_limit": LIMIT, "action_kind": kind}


def make_args(kind: str = "continuous", agent: str = "mlp_ns", alg: str = "mappo", **overrides):
    shared = not agent.endswith("_ns")
    defaults = {
        "agent": agent, "mac": "basic_mac" if shared else "non_shared_mac",
        "critic_type": "cv_critic" if shared else "cv_critic_ns", "hidden_dim": HIDDEN, "epochs": 2,
        "mini_batches": 1, "lr": 0.01,
    }
    return make_test_args(env_info(kind), alg=alg, **{**defaults, **overrides})


def build_learner(args, seed: int = 0):
    """The algorithm's learner with its controller; returns (learner, buffer scheme)."""
    scheme, groups, preprocess = build_scheme(env_info(args.test_action_kind), args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return build.build_learner(mac, buffer_scheme, FakeLogger(), args, EnvInfo.from_env(env_info(args.test_action_kind)))


def make_batch(args, seed: int = 0) -> EpisodeBatch:
    """Random episodes of ``LENGTHS`` with large observations (LayerNorm has something to do)."""
    scheme, groups, preprocess = build_scheme(env_info(args.test_action_kind), args)
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    for b, length in enumerate(LENGTHS):
        if args.test_action_kind == "discrete":
            actions = torch.randint(0, N_ACTIONS, (length, N_AGENTS, 1), generator=g)
        else:
            actions = 0.3 * torch.randn(length, N_AGENTS, N_ACTIONS, generator=g)
        batch.update(
            {
                "obs": 5.0 * torch.randn(length + 1, N_AGENTS, OBS, generator=g) + 3.0,
                "state": torch.randn(length + 1, STATE, generator=g),
                "avail_actions": torch.ones(length + 1, N_AGENTS, N_ACTIONS, dtype=torch.int),
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        terminated = torch.zeros(length, 1)
        terminated[-1] = float(length < LIMIT)
        batch.update({"actions": actions, "reward": torch.randn(length, 1, generator=g), "terminated": terminated},
                     bs=b, ts=slice(0, length))
    return batch


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def agent_network(mac) -> nn.Module:
    """The registered agent network inside a controller (unwrapping the Gaussian policy)."""
    return mac.agent.body if isinstance(mac.agent, GaussianAgent) else mac.agent


# ---------------------------------------------------------------------------- every option trains
def option_id(options: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items()) or "defaults"


AGENT_OPTIONS = [pytest.param(agent, options, id=f"{agent}-{option_id(options)}") for agent in AGENTS
                 for options in OPTIONS]


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
@pytest.mark.parametrize("agent, options", AGENT_OPTIONS)
def test_every_option_builds_and_trains(kind, agent, options):
    args = make_args(kind, agent, **options)
    learner = build_learner(args)
    batch = make_batch(args)
    actor_before, critic_before = snapshot(learner.mac.parameters()), snapshot(learner.critic.parameters())
    for t_env in range(2):
        stats = learner.train(batch, t_env=t_env, episode_num=t_env)
        assert all(math.isfinite(v) for v in stats.values()), stats
    with torch.no_grad():
        outputs, values = learner.mac.unroll(batch), learner.critic(batch)
    assert outputs.shape == (len(LENGTHS), LIMIT, N_AGENTS, N_ACTIONS) and torch.isfinite(outputs).all()
    assert values.shape == (len(LENGTHS), LIMIT + 1, N_AGENTS, 1) and torch.isfinite(values).all()
    changed = lambda before, params: sum(not torch.equal(a, b) for a, b in zip(before, params))  # noqa: E731
    assert changed(actor_before, learner.mac.parameters()) == len(actor_before)
    assert changed(critic_before, learner.critic.parameters()) == len(critic_before)


def test_harl_options_with_happo_keep_each_agents_parameters_its_own():
    """HAPPO's per-agent optimisers cover exactly the agent's parameters, LayerNorms included."""
    args = make_args("continuous", "mlp_ns", alg="happo", **HARL)
    learner = build_learner(args)
    owned = [{id(p) for p in learner.mac.agent_parameters(i)} for i in range(N_AGENTS)]
    assert all(not owned[i] & owned[j] for i in range(N_AGENTS) for j in range(i))
    assert set().union(*owned) == {id(p) for p in learner.mac.parameters()}
    network = agent_network(learner.mac)
    norms = [m for m in network.modules() if isinstance(m, AgentwiseLayerNorm)]
    assert len(norms) == 1 + HARL["hidden_layers"]
    assert all({id(p) for p in norm.agent_parameters(1)} <= owned[1] for norm in norms)
    before = snapshot(learner.mac.parameters())
    stats = learner.train(make_batch(args), t_env=0, episode_num=0)
    assert all(math.isfinite(v) for v in stats.values())
    assert all(not torch.equal(a, b) for a, b in zip(before, learner.mac.parameters()))


# ---------------------------------------------------------------------------- LayerNorm
def layer_kinds(stack: nn.Sequential) -> list[str]:
    names = {nn.LayerNorm: "norm", AgentwiseLayerNorm: "norm", nn.Linear: "linear", AgentwiseLinear: "linear",
             nn.ReLU: "act", nn.Tanh: "act"}
    return [names[type(layer)] for layer in stack]


@pytest.mark.parametrize("agent", ["mlp", "mlp_ns"])
@pytest.mark.parametrize("input_norm", [False, True])
@pytest.mark.parametrize("hidden_norm", [False, True])
def test_layer_norms_sit_where_the_options_put_them(agent, input_norm, hidden_norm):
    args = make_args("discrete", agent, hidden_layers=3, input_layer_norm=input_norm, hidden_layer_norm=hidden_norm)
    block = ["linear", "act"] + ["norm"] * hidden_norm
    expected = ["norm"] * input_norm + block * 3
    network = agent_registry[agent](OBS, args)
    critic = critic_registry[args.critic_type](make_batch(args).scheme, args)
    assert layer_kinds(network.body) == expected
    assert layer_kinds(critic.net.body) == expected
    norm_type = nn.LayerNorm if agent == "mlp" else AgentwiseLayerNorm
    n_norms = input_norm + 3 * hidden_norm
    assert sum(isinstance(m, norm_type) for m in network.modules()) == n_norms
    assert sum(isinstance(m, norm_type) for m in critic.modules()) == n_norms


@pytest.mark.parametrize("agent", ["mlp", "mlp_ns"])
def test_hidden_layer_norm_normalises_the_features(agent):
    args = make_args("discrete", agent, hidden_layer_norm=True)
    network = agent_registry[agent](OBS, args)
    _, features = network(10.0 * torch.randn(6 * N_AGENTS, OBS), None)
    torch.testing.assert_close(features.mean(-1), torch.zeros(6 * N_AGENTS), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.var(-1, unbiased=False), torch.ones(6 * N_AGENTS), atol=1e-3, rtol=0)


@pytest.mark.parametrize("agent", AGENTS)
def test_input_layer_norm_makes_outputs_blind_to_input_scale_and_shift(agent):
    """LayerNorm on the input: ``a * x + b`` (per row) gives the same outputs as ``x``; without it, not."""
    x = torch.randn(4 * N_AGENTS, 2, OBS)
    moved = 7.0 * x + 3.0
    for input_norm in (True, False):
        args = make_args("discrete", agent, input_layer_norm=input_norm)
        network = agent_registry[agent](OBS, args)
        hidden = network.init_hidden().expand(x.shape[0], -1)
        same = torch.allclose(network.forward_sequence(x, hidden)[0], network.forward_sequence(moved, hidden)[0],
                              atol=1e-4)
        assert same == input_norm


@pytest.mark.parametrize("agent", ["rnn", "rnn_ns"])
@pytest.mark.parametrize("use_rnn", [True, False])
def test_rnn_agents_hidden_layer_norms(agent, use_rnn):
    """HARL's recurrent actor: LayerNorm after the first layer and on the GRU output fed to the head;
    the hidden state carried to the next step is the GRU's own (unnormalised)."""
    norm_type = nn.LayerNorm if agent == "rnn" else AgentwiseLayerNorm
    x = 4.0 * torch.randn(2 * N_AGENTS, 3, OBS)
    results = {}
    for hidden_norm in (False, True):
        torch.manual_seed(0)  # LayerNorms draw no random numbers: same weights with and without
        network = agent_registry[agent](OBS, make_args("discrete", agent, hidden_layer_norm=hidden_norm,
                                                       use_rnn=use_rnn, hidden_dim=16))
        assert sum(isinstance(m, norm_type) for m in network.modules()) == 2 * hidden_norm
        results[hidden_norm] = network.forward_sequence(x, network.init_hidden().expand(x.shape[0], -1))
        if hidden_norm:  # relu(3 (W x + b)) = 3 relu(W x + b), which the LayerNorm after the layer undoes
            with torch.no_grad():
                for p in [*network.fc1.parameters(), *([] if use_rnn else network.rnn.parameters())]:
                    p.mul_(3.0)
                rescaled = network.forward_sequence(x, network.init_hidden().expand(x.shape[0], -1))
            torch.testing.assert_close(rescaled[0], results[True][0], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(results[True][0], results[False][0])
    if use_rnn:  # the carried state is the GRU's, not a LayerNorm output (rows would have mean 0)
        assert results[True][1].mean(-1).abs().max() > 1e-3


# ---------------------------------------------------------------------------- orthogonal init
def assert_orthogonal(weight_out_in: torch.Tensor, gain: float) -> None:
    """``W W^T = gain^2 I`` over the shorter side of an ``[out, in]`` matrix (rows or columns)."""
    w = weight_out_in.detach()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(gram.shape[0]), atol=1e-5 * max(gain**2, 1e-2), rtol=1e-4)


def linear_weights(layer: nn.Module) -> list[torch.Tensor]:
    """Every ``[out, in]`` weight matrix of a Linear (one) or AgentwiseLinear (one per agent)."""
    return [layer.weight] if isinstance(layer, nn.Linear) else [w.T for w in layer.weights]


def linear_biases(layer: nn.Module) -> list[torch.Tensor]:
    return [layer.bias] if isinstance(layer, nn.Linear) else list(layer.biases)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
@pytest.mark.parametrize("agent", ["mlp", "mlp_ns"])
@pytest.mark.parametrize("activation, hidden_gain", [("relu", math.sqrt(2)), ("tanh", 5 / 3)])
def test_orthogonal_init_gains_of_agents_and_critics(kind, agent, activation, hidden_gain):
    args = make_args(kind, agent, init="orthogonal", activation=activation, hidden_layers=3, input_layer_norm=True,
                     hidden_dim=16, action_mean_init=0.25)
    learner = build_learner(args)
    network, critic = agent_network(learner.mac), learner.critic.net
    for module in (network, critic):
        hidden = [layer for layer in module.body if isinstance(layer, (nn.Linear, AgentwiseLinear))]
        assert len(hidden) == 3
        for layer in hidden:
            for w in linear_weights(layer):
                assert_orthogonal(w, hidden_gain)
            assert all(torch.count_nonzero(b) == 0 for b in linear_biases(layer))
    # the policy head is exactly HARL's gain 0.01 (the Gaussian wrapper must not scale it again)
    for w in linear_weights(network.head):
        assert_orthogonal(w, 0.01)
    head_bias = 0.25 if kind == "continuous" else 0.0  # the Gaussian policy's initial mean
    assert all(torch.all(b == head_bias) for b in linear_biases(network.head))
    for w in linear_weights(critic.head):
        assert_orthogonal(w, 1.0)
    assert all(torch.count_nonzero(b) == 0 for b in linear_biases(critic.head))


@pytest.mark.parametrize("agent", ["mlp", "mlp_ns", "rnn", "rnn_ns"])
def test_agent_output_gain_option(agent):
    network = agent_registry[agent](OBS, make_args("discrete", agent, init="orthogonal", init_agent_output_gain=0.5))
    head = network.head if agent.startswith("mlp") else network.fc2
    for w in linear_weights(head):
        assert_orthogonal(w, 0.5)


@pytest.mark.parametrize("agent", ["rnn", "rnn_ns"])
@pytest.mark.parametrize("use_rnn", [True, False])
def test_orthogonal_init_of_recurrent_agents(agent, use_rnn):
    network = agent_registry[agent](OBS, make_args("discrete", agent, init="orthogonal", use_rnn=use_rnn))
    for w in linear_weights(network.fc1):
        assert_orthogonal(w, math.sqrt(2))
    if not use_rnn:
        for w in linear_weights(network.rnn):
            assert_orthogonal(w, math.sqrt(2))
    elif agent == "rnn":
        for name, p in network.rnn.named_parameters():
            assert_orthogonal(p, 1.0) if name.startswith("weight") else torch.testing.assert_close(p, 0 * p)
    else:
        for gates in (network.rnn.input_gates, network.rnn.hidden_gates):
            for w in linear_weights(gates):
                assert_orthogonal(w, 1.0)
    assert all(torch.count_nonzero(p) == 0 for name, p in network.named_parameters() if "bias" in name)


def test_default_init_is_not_orthogonal():
    network = agent_registry["mlp"](OBS, make_args("discrete", "mlp", hidden_dim=16))
    w = network.body[2].weight
    assert not torch.allclose(w @ w.T, 2 * torch.eye(16), atol=0.1)


# ---------------------------------------------------------------------------- per-agent networks
@pytest.mark.parametrize("agent", ["mlp_ns", "rnn_ns"])
def test_a_step_on_agent_0_leaves_the_other_agents_unchanged(agent):
    options = HARL if agent == "mlp_ns" else {"input_layer_norm": True, "hidden_layer_norm": True, "init": "orthogonal"}
    args = make_args("continuous", agent, **options)
    learner = build_learner(args)
    mac, batch = learner.mac, make_batch(args)
    owned = [{id(p) for p in mac.agent_parameters(i)} for i in range(N_AGENTS)]
    assert set().union(*owned) == {id(p) for p in mac.parameters()} and not owned[0] & owned[1]
    with torch.no_grad():
        before = mac.unroll(batch)
    optimiser = torch.optim.Adam(mac.agent_parameters(0), lr=0.05)
    mac.unroll(batch).square().sum().backward()  # all agents' outputs: only agent 0's parameters may move
    optimiser.step()
    with torch.no_grad():
        after = mac.unroll(batch)
    assert not torch.allclose(after[:, :, 0], before[:, :, 0])
    torch.testing.assert_close(after[:, :, 1:], before[:, :, 1:], rtol=0, atol=0)


@pytest.mark.parametrize("critic_type", ["cv_critic_ns", "ac_critic_ns"])
def test_per_agent_critics_with_options_keep_agents_apart(critic_type):
    args = make_args("continuous", "mlp_ns", critic_type=critic_type, **HARL)
    batch = make_batch(args)
    critic = critic_registry[critic_type](batch.scheme, args)
    critic(batch)[:, :, 0].sum().backward()
    own = [p for layer in (critic.net.body, critic.net.head) for p in layer.agent_parameters(0)]
    others = [p for i in (1, 2) for layer in (critic.net.body, critic.net.head) for p in layer.agent_parameters(i)]
    assert len(own) + len(others) == len(list(critic.parameters()))
    assert all(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in own)
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in others)


# ---------------------------------------------------------------------------- activation
@pytest.mark.parametrize("agent", ["mlp", "mlp_ns"])
def test_tanh_and_relu_networks_differ(agent):
    x = 3.0 * torch.randn(5 * N_AGENTS, OBS)
    outputs = {}
    for activation in ("relu", "tanh"):
        torch.manual_seed(0)  # same weights: the default init draws the same numbers for either activation
        network = agent_registry[agent](OBS, make_args("discrete", agent, activation=activation))
        outputs[activation], features = network(x, None)
        if activation == "relu":
            assert features.min() == 0
        else:
            assert features.min() < 0 and features.abs().max() < 1
    assert not torch.allclose(outputs["relu"], outputs["tanh"])


@pytest.mark.parametrize("agent", ["rnn", "rnn_ns"])
def test_rnn_agents_use_the_activation(agent):
    x = torch.randn(2 * N_AGENTS, 3, OBS)
    outputs = []
    for activation in ("relu", "tanh"):
        torch.manual_seed(0)
        network = agent_registry[agent](OBS, make_args("discrete", agent, activation=activation, use_rnn=False))
        outputs.append(network.forward_sequence(x, network.init_hidden().expand(x.shape[0], -1))[0])
    assert not torch.allclose(*outputs)


# ---------------------------------------------------------------------------- defaults = previous networks
class PreviousMLPAgent(nn.Module):
    """The shared MLP agent as it was built before the options (construction order matters for the seed)."""

    def __init__(self, input_shape: int, hidden: int, n_actions: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(input_shape, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PreviousAgentwiseMLP(nn.Module):
    """The per-agent MLP (agent ``mlp_ns`` and per-agent critics) as it was built before the options."""

    def __init__(self, n_agents: int, input_shape: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([AgentwiseLinear(n_agents, input_shape, hidden),
                                     AgentwiseLinear(n_agents, hidden, hidden)])
        self.head = AgentwiseLinear(n_agents, hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [batch, n_agents, in]
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.head(x)


def assert_same_parameters(new: nn.Module, old: nn.Module) -> None:
    new_params, old_params = list(new.parameters()), list(old.parameters())
    assert [p.shape for p in new_params] == [p.shape for p in old_params]
    for a, b in zip(new_params, old_params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_mlp_agents_are_the_previous_networks(seed):
    x = torch.randn(6 * N_AGENTS, OBS)
    args = make_args("discrete", "mlp")
    torch.manual_seed(seed)
    new = agent_registry["mlp"](OBS, args)
    torch.manual_seed(seed)
    old = PreviousMLPAgent(OBS, HIDDEN, N_ACTIONS)
    assert_same_parameters(new, old)
    torch.testing.assert_close(new(x, None)[0], old(x), rtol=0, atol=0)

    args = make_args("discrete", "mlp_ns")
    torch.manual_seed(seed)
    new = agent_registry["mlp_ns"](OBS, args)
    torch.manual_seed(seed)
    old = PreviousAgentwiseMLP(N_AGENTS, OBS, HIDDEN, N_ACTIONS)
    assert_same_parameters(new, old)
    torch.testing.assert_close(new(x, None)[0], old(x.reshape(-1, N_AGENTS, OBS)).reshape(-1, N_ACTIONS),
                               rtol=0, atol=0)


@pytest.mark.parametrize("critic_type", ["cv_critic", "cv_critic_ns"])
def test_default_critics_are_the_previous_networks(critic_type):
    args = make_args("discrete", "mlp", critic_type=critic_type)
    batch = make_batch(args)
    torch.manual_seed(3)
    critic = critic_registry[critic_type](batch.scheme, args)
    inputs = critic._build_inputs(batch, slice(None))
    torch.manual_seed(3)
    if critic_type == "cv_critic":
        size = inputs.shape[-1]
        old = nn.Sequential(nn.Linear(size, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                            nn.Linear(HIDDEN, 1))
        expected = old(inputs)
    else:
        old = PreviousAgentwiseMLP(N_AGENTS, inputs.shape[-1], HIDDEN, 1)
        expected = old(inputs.reshape(-1, N_AGENTS, inputs.shape[-1])).reshape(*inputs.shape[:-1], 1)
    assert_same_parameters(critic, old)
    torch.testing.assert_close(critic(batch), expected, rtol=0, atol=0)


@pytest.mark.parametrize("agent", ["mlp", "mlp_ns"])
def test_default_gaussian_policy_head_is_scaled_by_0_01(agent):
    """Default init keeps today's Gaussian head: PyTorch's initial weights times 0.01."""
    args = make_args("continuous", agent)
    learner = build_learner(args, seed=0)
    network = agent_network(learner.mac)
    first = network.body[0]
    input_shape = first.weight.shape[1] if agent == "mlp" else first.weights[0].shape[0]
    torch.manual_seed(0)
    plain = agent_registry[agent](input_shape, args)
    head = network.head
    for w, w_plain in zip(linear_weights(head), linear_weights(plain.head)):
        torch.testing.assert_close(w, 0.01 * w_plain)


# ---------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("key, value, allowed", [
    ("hidden_layers", 0, "an integer >= 1"),
    ("hidden_layers", 2.5, "an integer >= 1"),
    ("activation", "gelu", "one of relu, tanh"),
    ("input_layer_norm", "yes", "True or False"),
    ("hidden_layer_norm", 1, "True or False"),
    ("init", "xavier", "one of default, orthogonal"),
    ("init_agent_output_gain", 0, "a number > 0"),
])
@pytest.mark.parametrize("agent", ["mlp", "rnn_ns"])
def test_bad_option_values_are_config_errors(key, value, allowed, agent):
    """Networks built straight from an args namespace (not through a run's config checks) refuse too."""
    args = make_args("discrete", agent)
    scheme = make_batch(args).scheme
    setattr(args, key, value)
    message = re.escape(f"bad value for '{key}': {value!r}; allowed: {allowed}")
    with pytest.raises(ConfigError, match=message):
        agent_registry[agent](OBS, args)
    with pytest.raises(ConfigError, match=message):
        critic_registry[args.critic_type](scheme, args)
