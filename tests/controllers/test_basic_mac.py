"""Multi-agent controllers on a real scheme (``run.build_scheme``) and real args (``run.make_args``)."""

from __future__ import annotations

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from tests.factories import make_test_args

ENV_INFO = {"n_agents": 3, "obs_shape": 5, "state_shape": 7, "n_actions": 4, "episode_limit": 6}
BATCH = 3


def make_mac_args(**overrides):
    return make_test_args(ENV_INFO, **{"hidden_dim": 16, **overrides})


def make_batch(args, batch_size: int = BATCH, seed: int = 0, lengths=(6, 4, 2)) -> EpisodeBatch:
    """Random episodes of the given lengths; every step has at least one available action."""
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    batch = EpisodeBatch(scheme, groups, batch_size, ENV_INFO["episode_limit"] + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    n, a, T = ENV_INFO["n_agents"], ENV_INFO["n_actions"], ENV_INFO["episode_limit"]
    for b in range(batch_size):
        length = lengths[b % len(lengths)]
        avail = (torch.rand(length + 1, n, a, generator=g) < 0.6).int()
        avail[..., 0] |= (avail.sum(-1) == 0).int()  # never a step without an available action
        batch.update(
            {
                "obs": torch.randn(length + 1, n, ENV_INFO["obs_shape"], generator=g),
                "state": torch.randn(length + 1, ENV_INFO["state_shape"], generator=g),
                "avail_actions": avail,
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        probs = avail[:length].float()
        actions = torch.multinomial(probs.reshape(-1, a), 1, generator=g).reshape(length, n, 1)
        batch.update({"actions": actions, "reward": torch.randn(length, generator=g)}, bs=b, ts=slice(0, length))
    assert T + 1 == batch.max_seq_length
    return batch


def build(mac="basic_mac", seed=0, **overrides):
    args = make_mac_args(mac=mac, **overrides)
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    # the buffer's scheme (with actions_onehot) is what run.py hands to the controller
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    return mac_registry[mac](buffer_scheme, groups, args), args


AGENT_CONFIGS = [
    pytest.param(dict(agent="rnn", use_rnn=True), id="rnn-gru"),
    pytest.param(dict(agent="rnn", use_rnn=False), id="rnn-linear"),
    pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", use_rnn=True), id="rnn_ns-gru"),
    pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", use_rnn=False), id="rnn_ns-linear"),
    pytest.param(dict(agent="mlp"), id="mlp"),
    pytest.param(dict(agent="rnn", use_rnn=True, obs_last_action=True, obs_agent_id=False), id="rnn-last-action"),
    pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", obs_last_action=True), id="rnn_ns-last-action"),
]


@pytest.mark.parametrize("config", AGENT_CONFIGS)
def test_unroll_equals_stepwise_forward(config):
    mac, args = build(**config)
    batch = make_batch(args)
    T = batch.max_seq_length - 1
    with torch.no_grad():
        unrolled = mac.unroll(batch)
        mac.init_hidden(batch.batch_size)
        stepped = torch.stack([mac.forward(batch, t) for t in range(T)], dim=1)
    assert unrolled.shape == (BATCH, T, ENV_INFO["n_agents"], ENV_INFO["n_actions"])
    torch.testing.assert_close(unrolled, stepped, rtol=1e-5, atol=1e-6)
    # the recurrent state carries information: a different first observation changes later outputs
    if config.get("agent") != "mlp" and config.get("use_rnn", True):
        batch["obs"][:, 0] += 1.0
        with torch.no_grad():
            changed = mac.unroll(batch)
        assert not torch.allclose(changed[:, 3], unrolled[:, 3])


@pytest.mark.parametrize("config", AGENT_CONFIGS[:5])
def test_probabilities_respect_avail_actions(config):
    mac, args = build(**config)
    batch = make_batch(args)
    with torch.no_grad():
        probs = mac.unroll(batch)
    avail = batch["avail_actions"][:, :-1]
    filled = batch["filled"][:, :-1, 0].bool()
    valid_probs, valid_avail = probs[filled], avail[filled]
    assert (valid_avail == 0).any()  # the test data has unavailable actions
    assert torch.all(valid_probs[valid_avail == 0] == 0)
    assert torch.all(valid_probs[valid_avail == 1] > 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))


def test_last_action_input_is_the_previous_onehot_action():
    mac, args = build(obs_last_action=True, obs_agent_id=True)
    batch = make_batch(args)
    inputs = mac._build_inputs(batch, slice(0, 4))
    obs_dim, n_actions = ENV_INFO["obs_shape"], ENV_INFO["n_actions"]
    last = inputs[..., obs_dim : obs_dim + n_actions]
    assert torch.all(last[:, 0] == 0)
    assert torch.equal(last[:, 1:], batch["actions_onehot"][:, :3])
    assert torch.equal(inputs[0, 2, :, obs_dim + n_actions :], torch.eye(ENV_INFO["n_agents"]))


@pytest.mark.parametrize("config", [AGENT_CONFIGS[0], AGENT_CONFIGS[2], AGENT_CONFIGS[4]])
def test_load_state_copies_weights_independently(config):
    mac, args = build(seed=0, **config)
    other, _ = build(seed=1, **config)
    batch = make_batch(args)
    with torch.no_grad():
        assert not torch.allclose(mac.unroll(batch), other.unroll(batch))
        other.load_state(mac)
        expected = mac.unroll(batch)
        torch.testing.assert_close(other.unroll(batch), expected, rtol=0, atol=0)
        for p in mac.parameters():  # changing the source afterwards leaves the copy alone
            p.add_(0.5)
        assert not torch.allclose(mac.unroll(batch), expected)
        torch.testing.assert_close(other.unroll(batch), expected, rtol=0, atol=0)


@pytest.mark.parametrize("config", [AGENT_CONFIGS[0], AGENT_CONFIGS[2]])
def test_save_and_load_models_round_trip(tmp_path, config):
    mac, args = build(seed=0, **config)
    other, _ = build(seed=1, **config)
    batch = make_batch(args)
    mac.save_models(str(tmp_path))
    assert (tmp_path / "agent.th").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # no partial files left
    other.load_models(str(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(other.unroll(batch), mac.unroll(batch), rtol=0, atol=0)
    for a, b in zip(mac.parameters(), other.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_greedy_test_mode_returns_argmax():
    mac, args = build()
    batch = make_batch(args, lengths=(6,))
    mac.init_hidden(BATCH)
    with torch.no_grad():
        actions = mac.select_actions(batch, t_ep=0, t_env=0, test_mode=True)
        mac.init_hidden(BATCH)
        probs = mac.forward(batch, 0)
    assert actions.shape == (BATCH, ENV_INFO["n_agents"])
    assert torch.equal(actions, probs.argmax(-1))
    assert torch.all(batch["avail_actions"][:, 0].gather(-1, actions.unsqueeze(-1)) == 1)


def test_select_actions_for_a_subset_of_envs():
    mac, args = build()
    batch = make_batch(args, lengths=(6,))
    mac.init_hidden(BATCH)
    with torch.no_grad():
        actions = mac.select_actions(batch, t_ep=0, t_env=0, bs=[2, 0], test_mode=True)
        mac.init_hidden(BATCH)
        probs = mac.forward(batch, 0)
    assert actions.shape == (2, ENV_INFO["n_agents"])
    assert torch.equal(actions, probs[[2, 0]].argmax(-1))


def test_sampling_frequencies_match_probabilities():
    mac, args = build()
    n_samples = 4000
    one = make_batch(args, batch_size=1, lengths=(6,))
    # the same episode repeated: every row has the same probabilities, one call gives many samples
    batch = one[[0] * n_samples]
    mac.init_hidden(n_samples)
    torch.manual_seed(123)
    with torch.no_grad():
        actions = mac.select_actions(batch, t_ep=0, t_env=0, test_mode=False)
        mac.init_hidden(1)
        probs = mac.forward(one, 0)[0]  # [n_agents, n_actions]
    counts = torch.nn.functional.one_hot(actions, ENV_INFO["n_actions"]).float().mean(0)
    # 4 standard errors of a frequency: 4 * sqrt(0.25 / 4000) ~= 0.032
    torch.testing.assert_close(counts, probs, rtol=0, atol=0.032)
    assert torch.all(counts[probs == 0] == 0)
    assert (actions != actions[0]).any()  # it really samples


def test_non_shared_mac_rejects_a_shared_agent():
    with pytest.raises(ValueError, match=r"non_shared_mac needs a non-shared agent \(agent=rnn_ns\), got agent='rnn'"):
        build(mac="non_shared_mac", agent="rnn")


def test_non_shared_agents_do_not_share_weights():
    mac, args = build(mac="non_shared_mac", agent="rnn_ns")
    batch = make_batch(args, lengths=(6,))
    # give every agent the same observation: shared weights would give identical outputs
    batch["obs"][:] = batch["obs"][:, :, :1]
    batch["avail_actions"][:] = 1
    with torch.no_grad():
        probs = mac.unroll(batch)
    assert not torch.allclose(probs[:, :, 0], probs[:, :, 1])
    shared, _ = build(agent="rnn", obs_agent_id=False)
    with torch.no_grad():
        shared_probs = shared.unroll(batch)
    torch.testing.assert_close(shared_probs[:, :, 0], shared_probs[:, :, 1])
