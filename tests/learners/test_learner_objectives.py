"""What one ``train`` call of ``PPOLearner`` / ``HAPPOLearner`` optimises, checked on outcomes.

* The entropy bonus: with every advantage 0 the clipped surrogate has no gradient, so a step can only
  follow ``+ entropy_coef * H``: every agent's policy entropy must go up (and ``pg_loss = -c H``).
* HAPPO's factor M in *every* call: 1 for the call's first agent, the first agent's new/old ratio of
  the call for the second (M must not carry over between calls).
* Reward and value normalisation (``standardise_rewards`` / ``standardise_returns``): the tensors the
  learner trains on equal the formulas applied by hand to the running statistics.

Batches are hand-built (``make_batch``), ``mlp_ns`` / ``rnn`` actors are small, one mini-batch.
"""

from __future__ import annotations

import copy

import pytest
import torch

import learners.happo_learner as happo_module
from components.env_info import EnvInfo
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment.build import build_learner
from learners.ppo_learner import per_agent, transition_tensors
from tests.factories import FakeLogger, make_test_args
from utils.returns import ADVANTAGE_ESTIMATORS

EPISODE_LIMIT = 5
LENGTHS = (5, 3, 4, 2)  # one full-length episode (bootstrapped at T), three terminated earlier
N_ACTIONS = 3
KINDS = ["discrete", "continuous"]


def env_info(kind: str, n_agents: int = 2) -> dict:
    return {"n_agents": n_agents, "obs_shape": 4, "state_shape": 6, "n_actions": N_ACTIONS,
            "episode_limit": EPISODE_LIMIT, "action_kind": kind}


def build(alg: str, kind: str = "discrete", seed: int = 0, **overrides):
    """A learner from ``algs/ALG.yaml`` with small networks and one mini-batch, and its args."""
    info = env_info(kind)
    args = make_test_args(info, alg=alg, **{"hidden_dim": 16, "epochs": 1, "mini_batches": 1, **overrides})
    scheme, groups, preprocess = build_scheme(info, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return build_learner(mac, buffer_scheme, FakeLogger(), args, EnvInfo.from_env(info)), args


def make_batch(args, seed: int = 0, reward_scale: float = 1.0, reward_offset: float = 0.0) -> EpisodeBatch:
    """Episodes of ``LENGTHS`` (the short ones terminate) with random obs, available actions, actions
    and rewards ``offset + scale * N(0, 1)``."""
    info = env_info(args.test_action_kind, args.n_agents)
    scheme, groups, preprocess = build_scheme(info, args)
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), EPISODE_LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    n = args.n_agents
    reward_dim = 1 if args.common_reward else n
    for b, length in enumerate(LENGTHS):
        if args.test_action_kind == "discrete":
            avail = (torch.rand(length + 1, n, N_ACTIONS, generator=g) < 0.7).int()
            avail[..., 0] |= (avail.sum(-1) == 0).int()
            actions = torch.multinomial(avail[:length].float().reshape(-1, N_ACTIONS), 1, generator=g)
            actions = actions.reshape(length, n, 1)
        else:
            avail = torch.ones(length + 1, n, N_ACTIONS, dtype=torch.int)
            actions = 0.1 + 0.4 * torch.randn(length, n, N_ACTIONS, generator=g)
        batch.update({"obs": torch.randn(length + 1, n, info["obs_shape"], generator=g),
                      "state": torch.randn(length + 1, info["state_shape"], generator=g),
                      "avail_actions": avail}, bs=b, ts=slice(0, length + 1), mark_filled=False)
        rewards = reward_offset + reward_scale * torch.randn(length, reward_dim, generator=g)
        terminated = torch.zeros(length, 1)
        if length < EPISODE_LIMIT:
            terminated[-1] = 1
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    return batch


def valid(batch: EpisodeBatch) -> torch.Tensor:
    """``[B, T]`` bool mask of valid transitions."""
    return batch["filled"][:, :-1, 0].bool()


def policy(learner, batch: EpisodeBatch):
    with torch.no_grad():
        return learner.mac.policy_distribution(learner.mac.unroll(batch))


def entropy_per_agent(learner, batch: EpisodeBatch) -> torch.Tensor:
    """Mean policy entropy of each agent over the valid steps, ``[n_agents]``."""
    return policy(learner, batch).entropy()[valid(batch)].mean(0)


def zero_advantages(learner) -> None:
    """Make the learner see A = 0 everywhere (critic targets unchanged)."""
    compute = learner._advantages

    def zeroed(*args, **kwargs):
        advantages, returns = compute(*args, **kwargs)
        return torch.zeros_like(advantages), returns

    learner._advantages = zeroed


# ------------------------------------------------------------------ the entropy bonus
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_with_zero_advantages_a_train_call_raises_every_agents_entropy(alg, kind):
    learner, args = build(alg, kind, entropy_coef=0.01, lr=0.003, epochs=2)
    batch = make_batch(args)
    zero_advantages(learner)
    before = entropy_per_agent(learner, batch)
    if kind == "discrete":
        assert (before < torch.log(torch.tensor(float(N_ACTIONS))) - 1e-3).all()  # room to grow
    learner.train(batch, t_env=0, episode_num=0)
    after = entropy_per_agent(learner, batch)
    assert (after > before).all(), (before, after)


@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_with_zero_advantages_the_policy_loss_is_minus_the_entropy_bonus(alg):
    """One epoch: pg_loss = -c * mean valid entropy (HAPPO: averaged over the per-agent steps, each
    agent's own entropy; agents are updated one at a time, so the later agent's entropy is unchanged)."""
    learner, args = build(alg, entropy_coef=0.5)
    batch = make_batch(args)
    zero_advantages(learner)
    entropy = entropy_per_agent(learner, batch)
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert stats["pg_loss"] == pytest.approx(-0.5 * entropy.mean().item(), rel=1e-5)


# ------------------------------------------------------------------ HAPPO's factor M in every call
class OrderedTorch:
    """Stands in for ``torch`` in ``learners.happo_learner``: ``randperm`` hands out ``orders`` in turn."""

    def __init__(self, orders: list[list[int]]) -> None:
        self.orders = list(orders)

    def randperm(self, n: int, *args, **kwargs) -> torch.Tensor:
        order = self.orders.pop(0)
        assert n == len(order)
        return torch.tensor(order)

    def __getattr__(self, name: str):
        return getattr(torch, name)


@pytest.mark.parametrize("kind", KINDS)
def test_happo_factor_restarts_at_one_in_every_call(monkeypatch, kind):
    orders = [[0, 1], [1, 0], [0, 1], [1, 0]]
    monkeypatch.setattr(happo_module, "torch", OrderedTorch(orders))
    learner, args = build("happo", kind, lr=0.01, normalise_advantages=False)
    steps: list[dict] = []
    original = learner._agent_step

    def spy(agent, minibatch, actions, advantages, start, old_log_probs, mask, factor):
        steps.append({"agent": agent, "factor": factor.clone(), "logp": policy(learner, batch).log_prob(actions)})
        return original(agent, minibatch, actions, advantages, start, old_log_probs, mask, factor)

    learner._agent_step = spy
    for call, order in enumerate(orders):
        batch = make_batch(args, seed=call)
        mask = valid(batch).float()
        old = policy(learner, batch).log_prob(batch["actions"][:, :-1])  # the behaviour policy of this call
        steps.clear()
        learner.train(batch, t_env=call, episode_num=call)
        first, second = steps
        assert [first["agent"], second["agent"]] == order
        assert torch.equal(first["factor"], torch.ones_like(first["factor"])), f"call {call}: M of the first agent"
        ratio = torch.exp(second["logp"][..., order[0]] - old[..., order[0]]) * mask
        torch.testing.assert_close(second["factor"], ratio, rtol=1e-5, atol=1e-6)
        assert (ratio[mask.bool()] - 1).abs().max() > 1e-3  # the first agent really moved
        # the second agent has not moved yet when its step starts
        torch.testing.assert_close(second["logp"][..., order[1]], old[..., order[1]], rtol=0, atol=1e-6)


# ------------------------------------------------------------------ reward and value normalisation
def gae_by_hand(rewards, values, terminated, mask, args):
    return ADVANTAGE_ESTIMATORS[args.advantage_estimator](
        rewards, values, terminated, mask, args.gamma, nsteps=args.q_nstep, gae_lambda=args.gae_lambda,
        target_values=values)


def spy_updates(learner) -> list:
    """Record the tensors every ``_update`` of ``learner`` trains on (``BatchTensors``)."""
    seen = []
    update = learner._update

    def spy(batch, data, first, critic_read):
        seen.append(data)
        return update(batch, data, first, critic_read)

    learner._update = spy
    return seen


@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_standardised_rewards_are_centred_and_scaled_by_the_running_statistics(alg):
    """Two train calls: the reward normaliser has seen every valid reward of both batches, once,
    and the second call trains on its rewards standardised by those statistics."""
    learner, args = build(alg, standardise_rewards=True, epochs=2)
    stats = learner.reward_stats
    first, second = make_batch(args, seed=1, reward_scale=4.0, reward_offset=3.0), make_batch(args, seed=2)
    seen = spy_updates(learner)
    learner.train(first, t_env=0, episode_num=0)
    learner.train(second, t_env=1, episode_num=1)
    rewards, mask = seen[-1].rewards, seen[-1].mask
    data = torch.cat([b["reward"][:, :-1][valid(b)] for b in (first, second)])  # every valid reward so far
    mean, var = data.mean(0), data.var(0, unbiased=False)
    torch.testing.assert_close(stats.mean, mean, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(stats.var, var, rtol=1e-3, atol=1e-3)
    assert stats.count == pytest.approx(len(data), abs=1e-3)
    expected = (second["reward"][:, :-1] - stats.mean) / torch.sqrt(stats.var + 1e-8) * mask[..., :1]
    torch.testing.assert_close(rewards, expected.expand(-1, -1, args.n_agents))
    assert torch.all(rewards[~valid(second)] == 0)


@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_value_normalisation_denormalises_values_and_normalises_targets(alg):
    """``standardise_returns``: the critic outputs normalised values. Advantages use the denormalised
    values (with the statistics before this batch, which computing them leaves unchanged); the
    critic's targets are the returns normalised by the statistics updated with this batch's returns."""
    learner, args = build(alg, standardise_returns=True, standardise_rewards=False, normalise_advantages=False,
                          target_update_interval_or_tau=1.0)
    stats = learner.return_stats
    warm_up = make_batch(args, seed=3, reward_scale=5.0, reward_offset=20.0)
    warm_mask = warm_up["filled"][:, :-1].float()
    stats.update(warm_up["reward"][:, :-1].expand(-1, -1, args.n_agents) * 10, warm_mask)  # far from (0, 1)
    assert (stats.mean.abs() > 1).all()
    mean, var = stats.mean.clone(), stats.var.clone()

    batch = make_batch(args, seed=4, reward_scale=5.0, reward_offset=20.0)
    rewards, terminated, mask = (per_agent(x, args.n_agents) for x in transition_tensors(batch))
    with torch.no_grad():
        values = learner.critic(batch)[..., 0] * torch.sqrt(var + 1e-8) + mean
    advantages_by_hand, returns_by_hand = gae_by_hand(rewards, values, terminated, mask, args)

    advantages, returns = learner._advantages(batch, rewards, terminated, mask)
    torch.testing.assert_close(advantages, advantages_by_hand, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(returns, returns_by_hand, rtol=1e-4, atol=1e-4)
    assert torch.equal(stats.mean, mean) and torch.equal(stats.var, var)  # computing them changed nothing

    expected_stats = copy.deepcopy(stats)
    expected_stats.update(returns_by_hand, mask[..., :1])
    learner._fold_into_return_stats(returns, mask)
    torch.testing.assert_close(stats.mean, expected_stats.mean, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(stats.var, expected_stats.var, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(learner._critic_targets(returns), (returns - stats.mean) / torch.sqrt(stats.var + 1e-8))
    assert not torch.allclose(stats.mean, mean)  # this batch's returns were folded in


@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_the_return_normaliser_sees_each_batch_once(alg):
    """MAPPO recomputes advantages every epoch, HAPPO once: either way a train call folds one batch
    of returns into the normaliser (its count grows by the batch's valid transitions, not x epochs)."""
    learner, args = build(alg, standardise_returns=True, epochs=3)
    batch = make_batch(args)
    learner.train(batch, t_env=0, episode_num=0)
    count = learner.return_stats.count
    learner.train(batch, t_env=1, episode_num=1)
    assert learner.return_stats.count - count == pytest.approx(valid(batch).sum().item(), abs=1e-3)
