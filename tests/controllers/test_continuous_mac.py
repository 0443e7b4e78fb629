"""Controllers with continuous actions: a diagonal-Gaussian policy (``GaussianAgent``) around every agent."""

from __future__ import annotations

import math

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from tests.factories import make_test_args
from utils.config import ConfigError

ENV_INFO = {
    "n_agents": 2, "obs_shape": 4, "state_shape": 6, "n_actions": 3, "action_kind": "continuous", "episode_limit": 5,
}
N_AGENTS, ACTION_DIM, T = ENV_INFO["n_agents"], ENV_INFO["n_actions"], ENV_INFO["episode_limit"]
BATCH = 3
INITIAL_STD = 0.5 / (1 + math.exp(-1.0))  # sigmoid(std_init_param = 1) * std_scale (0.5) = 0.3655


def make_mac_args(env_info=ENV_INFO, **overrides):
    return make_test_args(env_info, alg="happo", **{"hidden_dim": 16, **overrides})


def build(mac="non_shared_mac", seed=0, env_info=ENV_INFO, **overrides):
    args = make_mac_args(env_info, mac=mac, **overrides)
    scheme, groups, preprocess = build_scheme(env_info, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme  # what run.py passes
    torch.manual_seed(seed)
    return mac_registry[mac](buffer_scheme, groups, args), args


def make_batch(args, batch_size: int = BATCH, seed: int = 0, lengths=(5, 3, 2), obs_scale: float = 1.0) -> EpisodeBatch:
    """Random episodes with continuous actions around 0.1 (all actions available)."""
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    batch = EpisodeBatch(scheme, groups, batch_size, T + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    for b in range(batch_size):
        length = lengths[b % len(lengths)]
        batch.update(
            {
                "obs": obs_scale * torch.randn(length + 1, N_AGENTS, ENV_INFO["obs_shape"], generator=g),
                "state": torch.randn(length + 1, ENV_INFO["state_shape"], generator=g),
                "avail_actions": torch.ones(length + 1, N_AGENTS, ACTION_DIM, dtype=torch.int),
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        actions = 0.1 + 0.4 * torch.randn(length, N_AGENTS, ACTION_DIM, generator=g)
        batch.update({"actions": actions, "reward": torch.randn(length, generator=g)}, bs=b, ts=slice(0, length))
    return batch


NS_AGENTS = [
    pytest.param(dict(mac="non_shared_mac", agent="mlp_ns"), id="mlp_ns"),
    pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", use_rnn=True), id="rnn_ns-gru"),
]
SHARED_AGENTS = [
    pytest.param(dict(mac="basic_mac", agent="rnn", use_rnn=True, obs_agent_id=True), id="rnn-gru"),
    pytest.param(dict(mac="basic_mac", agent="mlp", obs_agent_id=True), id="mlp"),
]
ALL_AGENTS = NS_AGENTS + SHARED_AGENTS


# ------------------------------------------------------------------ scheme
def test_scheme_stores_raw_float_action_vectors():
    args = make_mac_args()
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    assert scheme["actions"]["vshape"] == (ACTION_DIM,)
    assert scheme["actions"]["dtype"] == torch.float32
    assert preprocess == {}
    batch = make_batch(args)
    assert "actions_onehot" not in batch.scheme
    with pytest.raises(KeyError):
        batch["actions_onehot"]
    assert batch["actions"].dtype == torch.float32
    assert batch["actions"].shape == (BATCH, T + 1, N_AGENTS, ACTION_DIM)
    # fractional values survive storage (a long/one-hot path would truncate them)
    assert not torch.equal(batch["actions"][0, 0], batch["actions"][0, 0].round())


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize(
    "config",
    ALL_AGENTS + [pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", obs_last_action=True), id="rnn_ns-last-action")],
)
def test_forward_shape_and_unroll_equals_stepwise_forward(config):
    mac, args = build(**config)
    batch = make_batch(args)
    with torch.no_grad():
        unrolled = mac.unroll(batch)
        mac.init_hidden(BATCH)
        stepped = torch.stack([mac.forward(batch, t) for t in range(T)], dim=1)
    assert stepped.shape == (BATCH, T, N_AGENTS, ACTION_DIM)
    assert unrolled.shape == (BATCH, T, N_AGENTS, ACTION_DIM)
    torch.testing.assert_close(unrolled, stepped, rtol=1e-5, atol=1e-6)
    if config.get("obs_last_action"):  # raw previous actions are an input: changing one changes later means
        batch["actions"][:, 1] += 1.0
        with torch.no_grad():
            assert not torch.allclose(mac.unroll(batch)[:, 2], unrolled[:, 2])


@pytest.mark.parametrize("config", ALL_AGENTS)
def test_initial_policy_mean_and_std(config):
    mac, args = build(action_mean_init=0.1, **config)
    assert (args.std_init_param, args.std_scale) == (1.0, 0.5)  # the defaults these numbers come from
    batch = make_batch(args, obs_scale=3.0)  # large observations: the mean still starts near the bias
    with torch.no_grad():
        means = mac.unroll(batch)
        std = mac.agent.std()
    assert torch.all((means - 0.1).abs() < 0.05), (means - 0.1).abs().max()
    assert not torch.all(means == 0.1)  # the output weights are small, not zero
    n_rows = N_AGENTS if args.agent.endswith("_ns") else 1
    assert std.shape == (n_rows, ACTION_DIM)
    torch.testing.assert_close(std, torch.full((n_rows, ACTION_DIM), INITIAL_STD))
    assert INITIAL_STD == pytest.approx(0.3655, abs=1e-4)
    policy = mac.policy_distribution(means)
    torch.testing.assert_close(policy.base_dist.stddev, torch.full_like(means, INITIAL_STD))


@pytest.mark.parametrize("std_init_param, std_scale", [(0.0, 0.5), (-2.0, 1.0)])
def test_std_follows_std_init_param_and_scale(std_init_param, std_scale):
    mac, _ = build(agent="mlp_ns", std_init_param=std_init_param, std_scale=std_scale)
    expected = std_scale / (1 + math.exp(-std_init_param))
    torch.testing.assert_close(mac.agent.std(), torch.full((N_AGENTS, ACTION_DIM), expected))
    with torch.no_grad():  # sigmoid bounds the std by std_scale whatever the parameter becomes
        for p in mac.agent.std_params:
            p.fill_(50.0)
    assert torch.all(mac.agent.std() <= std_scale)


@pytest.mark.parametrize("config", NS_AGENTS)
def test_non_shared_agents_have_their_own_std(config):
    mac, args = build(**config)
    batch = make_batch(args)
    assert len(mac.agent.std_params) == N_AGENTS
    with torch.no_grad():
        means = mac.unroll(batch)
        before = mac.policy_distribution(means).base_dist.stddev.clone()
        mac.agent.std_params[1].add_(torch.tensor([0.5, -0.5, 1.0]))
        after = mac.policy_distribution(means).base_dist.stddev
    assert torch.equal(after[:, :, 0], before[:, :, 0])
    assert torch.all(after[:, :, 1] != before[:, :, 1])
    torch.testing.assert_close(after[0, 0, 1], 0.5 * torch.sigmoid(torch.tensor([1.5, 0.5, 2.0])))


@pytest.mark.parametrize("config", SHARED_AGENTS)
def test_shared_agents_share_one_std(config):
    mac, args = build(**config)
    batch = make_batch(args)
    assert len(mac.agent.std_params) == 1
    with torch.no_grad():
        means = mac.unroll(batch)
        mac.agent.std_params[0].add_(1.0)
        stddev = mac.policy_distribution(means).base_dist.stddev
    torch.testing.assert_close(stddev, torch.full_like(means, 0.5 * torch.sigmoid(torch.tensor(2.0)).item()))


# ------------------------------------------------------------------ acting
@pytest.mark.parametrize("config", ALL_AGENTS)
def test_greedy_test_actions_are_exactly_the_mean(config):
    mac, args = build(**config)
    batch = make_batch(args, lengths=(5,))
    with torch.no_grad():
        mac.init_hidden(BATCH)
        actions = [mac.select_actions(batch, t_ep=t, t_env=0, test_mode=True) for t in range(2)]
        mac.init_hidden(BATCH)
        means = [mac.forward(batch, t) for t in range(2)]
    for a, m in zip(actions, means):
        assert a.shape == (BATCH, N_AGENTS, ACTION_DIM) and a.dtype == torch.float32
        assert torch.equal(a, m)


def test_greedy_actions_for_a_subset_of_envs():
    mac, args = build()
    batch = make_batch(args, lengths=(5,))
    with torch.no_grad():
        mac.init_hidden(BATCH)
        actions = mac.select_actions(batch, t_ep=0, t_env=0, bs=[2, 0], test_mode=True)
        mac.init_hidden(BATCH)
        means = mac.forward(batch, 0)
    assert torch.equal(actions, means[[2, 0]])


@pytest.mark.parametrize("config", [ALL_AGENTS[0], ALL_AGENTS[2]])
def test_training_and_non_greedy_actions_sample_with_the_policy_std(config):
    mac, args = build(**config)
    with torch.no_grad():  # distinct stds per dimension (and per agent where the agent has its own)
        for i, p in enumerate(mac.agent.std_params):
            p.copy_(torch.tensor([-1.0, 0.0, 2.0]) + i)
        expected_std = mac.agent.std().expand(N_AGENTS, ACTION_DIM)
    n_samples = 4000
    batch = make_batch(args, batch_size=1, lengths=(5,))[[0] * n_samples]  # one episode, many rows
    torch.manual_seed(1)
    with torch.no_grad():
        mac.init_hidden(n_samples)
        actions = mac.select_actions(batch, t_ep=0, t_env=0, test_mode=False)
        mac.init_hidden(n_samples)
        means = mac.forward(batch, 0)
    assert actions.shape == (n_samples, N_AGENTS, ACTION_DIM) and actions.dtype == torch.float32
    assert torch.equal(means, means[:1].expand_as(means))  # same inputs, same mean
    # 4 standard errors: of a mean ~ 4 * 0.5 / sqrt(4000) = 0.032; of a std ~ 4 * std / sqrt(2 * 4000)
    torch.testing.assert_close(actions.mean(0), means[0], rtol=0, atol=0.032)
    torch.testing.assert_close(actions.std(0), expected_std, rtol=4 / math.sqrt(2 * n_samples), atol=0)
    # test episodes sample too when test_greedy is off
    mac.action_selector.test_greedy = False
    with torch.no_grad():
        mac.init_hidden(n_samples)
        test_actions = mac.select_actions(batch, t_ep=0, t_env=0, test_mode=True)
    torch.testing.assert_close(test_actions.std(0), expected_std, rtol=4 / math.sqrt(2 * n_samples), atol=0)


# ------------------------------------------------------------------ per-agent parameters (HAPPO)
@pytest.mark.parametrize("config", NS_AGENTS)
def test_agent_parameters_partition_the_parameters(config):
    mac, args = build(**config)
    all_ids = [id(p) for p in mac.parameters()]
    per_agent = [[id(p) for p in mac.agent_parameters(i)] for i in range(N_AGENTS)]
    flat = [pid for ids in per_agent for pid in ids]
    assert len(flat) == len(set(flat))  # no parameter belongs to two agents (or twice to one)
    assert sorted(flat) == sorted(all_ids)  # and every parameter belongs to some agent
    for i in range(N_AGENTS):
        assert id(mac.agent.std_params[i]) in per_agent[i]


@pytest.mark.parametrize("config", NS_AGENTS)
def test_agent_parameters_only_drive_their_agent(config):
    mac, args = build(**config)
    batch = make_batch(args)
    with torch.no_grad():
        means = mac.unroll(batch)
        std = mac.agent.std()
        for p in mac.agent_parameters(0):
            p.add_(0.3)
        changed_means = mac.unroll(batch)
        changed_std = mac.agent.std()
    assert torch.equal(changed_means[:, :, 1], means[:, :, 1]) and torch.equal(changed_std[1], std[1])
    assert not torch.allclose(changed_means[:, :, 0], means[:, :, 0])
    assert not torch.allclose(changed_std[0], std[0])


def test_shared_agent_has_no_per_agent_parameters_discrete():
    discrete = dict(ENV_INFO, action_kind="discrete")
    mac, _ = build(mac="basic_mac", agent="rnn", env_info=discrete)
    with pytest.raises(ConfigError, match=r"agent 'rnn' shares parameters between agents; use a \*_ns agent"):
        mac.agent_parameters(0)


@pytest.mark.parametrize("config", SHARED_AGENTS)
def test_shared_agent_has_no_per_agent_parameters_continuous(config):
    mac, _ = build(**config)
    with pytest.raises(ConfigError, match=r"shares parameters between agents; use a \*_ns agent"):
        mac.agent_parameters(0)


# ------------------------------------------------------------------ configuration errors
def test_discrete_only_selector_is_rejected():
    with pytest.raises(ConfigError, match=r"action_selector 'epsilon_greedy' supports discrete actions only"):
        build(action_selector="epsilon_greedy")
    build(action_selector="epsilon_greedy", env_info=dict(ENV_INFO, action_kind="discrete"))  # fine when discrete


def test_action_value_output_is_rejected():
    with pytest.raises(ConfigError, match=r"agent_output_type 'q' \(action values\) supports discrete actions only"):
        build(mac="basic_mac", agent="rnn", agent_output_type="q", action_selector="soft_policies")
    build(mac="basic_mac", agent="rnn", agent_output_type="q", env_info=dict(ENV_INFO, action_kind="discrete"))
