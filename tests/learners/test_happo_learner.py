"""``learners.happo_learner.HAPPOLearner`` (ALGORITHM.md §3) and the PPO options it is configured with.

Small hand-built batches, ``mlp_ns`` actors, discrete and continuous actions. The agent order is
fixed where a test needs it by replacing ``torch`` inside the happo module with a stand-in whose
``randperm`` returns that order; ``_agent_step`` is wrapped by a spy that records, at every call,
the factor M it receives, the stats it returns and the state of every agent at that moment.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

import learners.happo_learner as happo_module
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from learners.happo_learner import HAPPOLearner
from learners.ppo_learner import per_agent, transition_tensors
from tests.factories import FakeLogger, make_test_args, store_sampler_log_probs
from utils.config import ConfigError
from utils.logging import as_floats
from utils.returns import ADVANTAGE_ESTIMATORS

ACTION_DIM = 3
EPISODE_LIMIT = 5
LENGTHS = (5, 3, 4, 2)  # one full-length episode (bootstrapped at T), three terminated earlier
KINDS = ["discrete", "continuous"]


def env_info(kind: str, n_agents: int) -> dict:
    return {
        "n_agents": n_agents, "obs_shape": 4, "state_shape": 6, "n_actions": ACTION_DIM,
        "episode_limit": EPISODE_LIMIT, "action_kind": kind,
    }


def build(kind: str = "discrete", n_agents: int = 2, seed: int = 0, logger=None, **overrides):
    """A HAPPO learner from happo.yaml (+ small networks, few epochs, ``overrides``) and its args."""
    info = env_info(kind, n_agents)
    args = make_test_args(info, alg="happo", **{"hidden_dim": 16, "epochs": 2, "mini_batches": 1, **overrides})
    scheme, groups, preprocess = build_scheme(info, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return HAPPOLearner(mac, buffer_scheme, logger or FakeLogger(), args), args


def make_batch(args, seed: int = 0, reward: float | None = None) -> EpisodeBatch:
    """Episodes of ``LENGTHS`` (the short ones terminate); actions drawn from available ones (discrete)
    or around 0.1 (continuous); rewards ``reward`` on every valid step, random if None."""
    info = env_info(args.test_action_kind, args.n_agents)
    scheme, groups, preprocess = build_scheme(info, args)
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), EPISODE_LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    n = args.n_agents
    for b, length in enumerate(LENGTHS):
        if args.test_action_kind == "discrete":
            avail = (torch.rand(length + 1, n, ACTION_DIM, generator=g) < 0.7).int()
            avail[..., 0] |= (avail.sum(-1) == 0).int()
            actions = torch.multinomial(avail[:length].float().reshape(-1, ACTION_DIM), 1, generator=g)
            actions = actions.reshape(length, n, 1)
        else:
            avail = torch.ones(length + 1, n, ACTION_DIM, dtype=torch.int)
            actions = 0.1 + 0.4 * torch.randn(length, n, ACTION_DIM, generator=g)
        batch.update(
            {
                "obs": torch.randn(length + 1, n, info["obs_shape"], generator=g),
                "state": torch.randn(length + 1, info["state_shape"], generator=g),
                "avail_actions": avail,
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        rewards = torch.randn(length, 1, generator=g) if reward is None else torch.full((length, 1), reward)
        terminated = torch.zeros(length, 1)
        if length < EPISODE_LIMIT:
            terminated[-1] = 1
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    return batch


def valid_mask(batch: EpisodeBatch, n_agents: int) -> torch.Tensor:
    """``[B, T, n_agents]`` float mask of valid transitions."""
    return batch["filled"][:, :-1].float().expand(-1, -1, n_agents)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x[mask.bool()].mean()


def taken_log_probs(learner: HAPPOLearner, batch: EpisodeBatch) -> torch.Tensor:
    """log pi(a_t | o_t) ``[B, T, n_agents]`` of the stored actions under the current actors."""
    with torch.no_grad():
        return learner.mac.policy_distribution(learner.mac.unroll(batch)).log_prob(batch["actions"][:, :-1])


def gae_by_hand(learner: HAPPOLearner, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) from the current critic, without the learner's own plumbing (raw rewards)."""
    n, args = learner.n_agents, learner.settings
    rewards = batch["reward"][:, :-1].expand(-1, -1, n)
    terminated = batch["terminated"][:, :-1].float().expand(-1, -1, n)
    mask = valid_mask(batch, n)
    with torch.no_grad():
        values, target = learner.critic(batch)[..., 0], learner.target_critic(batch)[..., 0]
    return ADVANTAGE_ESTIMATORS["gae"](
        rewards, values, terminated, mask, args.gamma, gae_lambda=args.gae_lambda, target_values=target
    )


def agent_snapshot(learner: HAPPOLearner) -> list[list[torch.Tensor]]:
    return [[p.detach().clone() for p in learner.mac.agent_parameters(i)] for i in range(learner.n_agents)]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class FixedOrderTorch:
    """Stands in for ``torch`` in ``learners.happo_learner``: ``randperm`` gives a fixed agent order."""

    def __init__(self, order: list[int]) -> None:
        self.order = order

    def randperm(self, n: int, *args, **kwargs) -> torch.Tensor:
        assert n == len(self.order)
        return torch.tensor(self.order)

    def __getattr__(self, name: str):
        return getattr(torch, name)


def fix_order(monkeypatch, order: list[int]) -> None:
    monkeypatch.setattr(happo_module, "torch", FixedOrderTorch(order))


def spy_agent_steps(learner: HAPPOLearner, batch: EpisodeBatch | None = None) -> list[dict]:
    """Wrap ``learner._agent_step``; each call appends {agent, factor, advantages, start_log_probs (pi^k),
    old_log_probs (mu), params, critic, logp?, stats}.
    ``logp`` (taken log-probs on ``batch`` at the call, before the step) only when ``batch`` is given."""
    calls: list[dict] = []
    original = learner._agent_step

    def spy(agent, minibatch, actions, advantages, start, old_log_probs, mask, factor):
        record = {
            "agent": agent,
            "factor": factor.detach().clone(),
            "advantages": advantages.detach().clone(),
            "start_log_probs": start.detach().clone(),
            "old_log_probs": old_log_probs.detach().clone(),
            "params": agent_snapshot(learner),
            "critic": [p.detach().clone() for p in learner.critic.parameters()],
        }
        if batch is not None:
            record["logp"] = taken_log_probs(learner, batch)
        stats = original(agent, minibatch, actions, advantages, start, old_log_probs, mask, factor)
        record["stats"] = as_floats(stats)  # a step's diagnostics stay tensors until the update ends
        calls.append(record)
        return stats

    learner._agent_step = spy
    return calls


HAND_SETUP = dict(
    epochs=1, mini_batches=1, normalise_advantages=False, entropy_coef=0.0, standardise_returns=False,
    standardise_rewards=False, lr=0.01,
)


# ------------------------------------------------------------------ the factor M, by hand
@pytest.mark.parametrize("trust_region", ["pi_k", "mu"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shift", [0.0, 1.0], ids=["mu=pi_k", "mu=pi_k/e"])
def test_two_agent_factor_and_loss_by_hand(monkeypatch, kind, shift, trust_region):
    """Order [0, 1], one step each. Agent 0: M = 1, r = 1, loss = -mean(A^0). Agent 1: M = pi0_new / mu0
    per sample; loss = -mean(M * w * min(r A^1, clip(r) A^1)). Agent 1 has not moved, and its
    behaviour log-probs mu are pi^k's lowered by ``shift``: around pi^k, r = pi / pi^k = 1 and
    w = pi^k / mu = e^shift; around mu, r = pi / mu = e^shift (the clip binds where A > 0) and w = 1."""
    fix_order(monkeypatch, [0, 1])
    learner, args = build(kind, lka_trust_region=trust_region, store_log_probs=True, **HAND_SETUP)
    batch = make_batch(args)
    mask = valid_mask(batch, 2)
    store_sampler_log_probs(learner, batch, lowered_by=torch.tensor([0.0, shift]))
    true_old = taken_log_probs(learner, batch)
    old = true_old - torch.tensor([0.0, shift])  # what the learner treats as the behaviour log-probs
    advantages, _ = gae_by_hand(learner, batch)
    assert (advantages[mask.bool()] > 0).any() and (advantages[mask.bool()] < 0).any()
    calls = spy_agent_steps(learner, batch)

    stats = learner.train(batch, t_env=0, episode_num=0)

    assert [c["agent"] for c in calls] == [0, 1]
    first, second = calls
    torch.testing.assert_close(first["advantages"], advantages)
    # agent 0 goes first: M = 1 everywhere and its ratio is exactly 1
    assert torch.equal(first["factor"], torch.ones_like(first["factor"]))
    assert first["stats"]["pg_loss"] == pytest.approx(-masked_mean(advantages[..., 0], mask[..., 0]).item(), rel=1e-5)
    assert first["stats"]["approx_kl"] == 0.0 and first["stats"]["clipfrac"] == 0.0  # agent 0's own ratio is 1

    # agent 1: M = pi^0_new / pi^0_old, per sample, from the actors as they are after agent 0's step
    new = second["logp"]
    factor = torch.exp(new[..., 0] - old[..., 0]) * mask[..., 0]
    torch.testing.assert_close(second["factor"], factor, rtol=1e-5, atol=1e-6)
    assert (factor[mask[..., 0].bool()] - 1).abs().max() > 1e-3  # agent 0 really moved
    assert torch.all(second["factor"][~mask[..., 0].bool()] == 0)  # padding carries no weight

    to_mu = torch.exp(new[..., 1] - old[..., 1])
    torch.testing.assert_close(to_mu[mask[..., 1].bool()], torch.full_like(to_mu[mask[..., 1].bool()], math.exp(shift)))
    if trust_region == "pi_k":
        ratio, weight = torch.exp(new[..., 1] - true_old[..., 1]), to_mu
    else:
        ratio, weight = to_mu, torch.ones_like(to_mu)
    a1 = advantages[..., 1]
    surrogate = weight * torch.min(ratio * a1, ratio.clamp(1 - args.eps_clip, 1 + args.eps_clip) * a1)
    expected = -masked_mean(factor * surrogate, mask[..., 1])
    assert second["stats"]["pg_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() != pytest.approx(-masked_mean(a1, mask[..., 1]).item(), rel=1e-3)  # M mattered

    # factor_mean: M after both agents, the product of both agents' ratios of the final actors to the
    # behaviour policy mu (the lowered log-probs: M's new log-probs are the current policy's, never mu's)
    final = taken_log_probs(learner, batch)
    compounded = torch.exp((final - old).sum(-1)) * mask[..., 0]
    assert stats["factor_mean"] == pytest.approx(masked_mean(compounded, mask[..., 0]).item(), rel=1e-5)
    assert stats["pg_loss"] == pytest.approx((first["stats"]["pg_loss"] + second["stats"]["pg_loss"]) / 2, rel=1e-6)
    assert stats["first_agent"] == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_agent_step_diagnostics_are_the_updated_agents(monkeypatch, kind):
    fix_order(monkeypatch, [0, 1])
    learner, args = build(kind, **HAND_SETUP)
    batch = make_batch(args)
    calls = spy_agent_steps(learner, batch)
    learner.train(batch, t_env=0, episode_num=0)
    second = calls[1]
    assert (second["factor"] != 1).any()  # precondition: agent 0 has moved
    # agent 1 has not moved yet: its own ratio is 1 everywhere, so k3 KL and clip fraction are 0
    assert second["stats"]["approx_kl"] == pytest.approx(0.0, abs=1e-7)
    assert second["stats"]["clipfrac"] == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_factor_compounds_over_three_agents(monkeypatch, kind):
    """Order [2, 0, 1], two epochs: the m-th agent's M is the product of the earlier agents' ratios,
    the same tensor in all of that agent's steps."""
    order = [2, 0, 1]
    fix_order(monkeypatch, order)
    learner, args = build(kind, n_agents=3, epochs=2, mini_batches=1, lr=0.01, entropy_coef=0.0)
    batch = make_batch(args)
    mask = valid_mask(batch, 3)[..., 0]
    old = taken_log_probs(learner, batch)
    calls = spy_agent_steps(learner, batch)
    learner.train(batch, t_env=0, episode_num=0)

    assert [c["agent"] for c in calls] == [2, 2, 0, 0, 1, 1]
    for m, agent in enumerate(order):
        first_call, second_call = calls[2 * m], calls[2 * m + 1]
        done = order[:m]  # agents already updated; their log-probs no longer change in this call
        expected = torch.exp((first_call["logp"][..., done] - old[..., done]).sum(-1))
        expected = expected * mask if done else torch.ones_like(expected)
        torch.testing.assert_close(first_call["factor"], expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(second_call["factor"], first_call["factor"])
        torch.testing.assert_close(first_call["old_log_probs"], old)


# ------------------------------------------------------------------ sequential updates
@pytest.mark.parametrize("kind", KINDS)
def test_only_the_agent_being_updated_changes(monkeypatch, kind):
    order = [1, 0, 2]
    fix_order(monkeypatch, order)
    learner, args = build(kind, n_agents=3, epochs=2, lr=0.01)
    batch = make_batch(args)
    initial = agent_snapshot(learner)
    critic_initial = [p.detach().clone() for p in learner.critic.parameters()]
    calls = spy_agent_steps(learner)
    learner.train(batch, t_env=0, episode_num=0)
    final = agent_snapshot(learner)

    assert [c["agent"] for c in calls] == [1, 1, 0, 0, 2, 2]
    states = [c["params"] for c in calls] + [final]
    for step, call in enumerate(calls):  # between two consecutive snapshots only call["agent"] moved
        before, after = states[step], states[step + 1]
        for agent in range(3):
            assert same(before[agent], after[agent]) == (agent != call["agent"]), (step, agent)
    for m, agent in enumerate(order):  # agents later in the order are untouched until their turn
        for later in order[m:]:
            assert same(calls[2 * m]["params"][later], initial[later])
    # the critic is trained after all the actors
    assert all(same(c["critic"], critic_initial) for c in calls)
    assert not same(list(learner.critic.parameters()), critic_initial)


def test_order_is_random_per_call_and_reproducible():
    def first_agents(seed: int) -> tuple[list[float], list[dict]]:
        learner, args = build(n_agents=3, epochs=1)
        batch = make_batch(args)
        calls = spy_agent_steps(learner)
        torch.manual_seed(seed)
        firsts, all_stats = [], []
        for k in range(12):
            calls.clear()
            stats = learner.train(batch, t_env=k, episode_num=k)
            order = [c["agent"] for c in calls]
            assert sorted(order) == [0, 1, 2]  # a permutation: every agent exactly once
            assert stats["first_agent"] == float(order[0])
            firsts.append(stats["first_agent"])
            all_stats.append(stats)
        return firsts, all_stats

    firsts, stats_a = first_agents(seed=3)
    assert len(set(firsts)) > 1
    again, stats_b = first_agents(seed=3)
    assert again == firsts
    assert stats_a == stats_b
    other, _ = first_agents(seed=4)
    assert other != firsts


# ------------------------------------------------------------------ optimisers
@pytest.mark.parametrize("kind", KINDS)
def test_one_optimiser_per_agent_over_its_own_parameters(kind):
    learner, args = build(kind, n_agents=3, actor_lr=1e-3, critic_lr=2e-3, adam_eps=1e-5)
    assert len(learner.agent_optimisers) == 3
    seen = set()
    for i, optimiser in enumerate(learner.agent_optimisers):
        params = [p for group in optimiser.param_groups for p in group["params"]]
        assert [id(p) for p in params] == [id(p) for p in learner.mac.agent_parameters(i)]
        assert seen.isdisjoint(id(p) for p in params)
        seen.update(id(p) for p in params)
        assert all(group["lr"] == 1e-3 and group["eps"] == 1e-5 for group in optimiser.param_groups)
    assert seen == {id(p) for p in learner.mac.parameters()}
    if kind == "continuous":
        assert all(
            any(p is learner.mac.agent.std_params[i] for p in learner.agent_optimisers[i].param_groups[0]["params"])
            for i in range(3)
        )
    assert learner.critic_optimiser.param_groups[0]["lr"] == 2e-3
    assert learner.critic_optimiser.param_groups[0]["eps"] == 1e-5
    assert not hasattr(learner, "agent_optimiser")


def test_shared_agent_is_rejected():
    with pytest.raises(ConfigError, match=r"shares parameters between agents; use a \*_ns agent"):
        build("discrete", mac="basic_mac", agent="rnn")


def test_shared_agent_is_rejected_continuous():
    with pytest.raises(ConfigError, match=r"shares parameters between agents; use a \*_ns agent"):
        build("continuous", mac="basic_mac", agent="rnn")


# ------------------------------------------------------------------ whole train calls
@pytest.mark.parametrize("kind", KINDS)
def test_train_returns_finite_stats_and_moves_every_network(kind):
    learner, args = build(kind, n_agents=3)
    batch = make_batch(args)
    initial, critic_initial = agent_snapshot(learner), [p.detach().clone() for p in learner.critic.parameters()]
    stats = learner.train(batch, t_env=0, episode_num=0)
    expected_keys = {
        "critic_loss", "critic_grad_norm", "td_error_abs", "q_taken_mean", "target_mean", "explained_variance",
        "pg_loss", "agent_grad_norm", "entropy", "approx_kl", "clipfrac", "advantage_mean", "factor_mean",
        "first_agent", "pi_max" if kind == "discrete" else "action_std",
    }
    assert set(stats) == expected_keys
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert stats["factor_mean"] > 0 and stats["factor_mean"] != 1.0
    assert stats["first_agent"] in (0.0, 1.0, 2.0)
    if kind == "continuous":
        assert stats["action_std"] == pytest.approx(0.5 / (1 + math.exp(-1)), abs=0.01)  # near its initial value
    final = agent_snapshot(learner)
    for agent in range(3):
        assert all(not torch.equal(a, b) for a, b in zip(initial[agent], final[agent]))
    assert all(not torch.equal(a, b) for a, b in zip(critic_initial, learner.critic.parameters()))
    assert learner.critic_training_steps == args.epochs * args.mini_batches


@pytest.mark.parametrize("critic_type", ["cv_critic", "state_v_critic"])
@pytest.mark.parametrize("kind", KINDS)
def test_critic_loss_decreases_on_a_fixed_batch(kind, critic_type):
    """happo.yaml's critic (value normalisation, Huber, clipped value loss, no target critic), as
    EPyMARL's V(s, i) and as HARL's V(s) (happo_harl)."""
    learner, args = build(kind, epochs=5, lr=0.003, critic_type=critic_type)
    batch = make_batch(args, reward=1.0)
    losses = [learner.train(batch, t_env=k, episode_num=k)["critic_loss"] for k in range(15)]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_restore_per_agent_optimisers(tmp_path, kind):
    learner, args = build(kind, seed=0, epochs=2)
    batch = make_batch(args)
    learner.train(batch, t_env=0, episode_num=0)
    learner.save_models(str(tmp_path))
    saved = torch.load(tmp_path / "optimisers.th")
    assert len(saved["agents"]) == args.n_agents and "critic" in saved

    restored, _ = build(kind, seed=1, epochs=2)
    restored.load_models(str(tmp_path))
    for mine, theirs in zip(learner.agent_optimisers, restored.agent_optimisers, strict=True):
        a, b = mine.state_dict()["state"], theirs.state_dict()["state"]
        assert a.keys() == b.keys() and len(a) > 0
        for key in a:
            assert all(torch.equal(a[key][k], b[key][k]) for k in ("step", "exp_avg", "exp_avg_sq"))

    next_batch = make_batch(args, seed=1)
    torch.manual_seed(7)  # same agent order (and the same mini-batches) for both
    stats_a = learner.train(next_batch, t_env=10, episode_num=4)
    torch.manual_seed(7)
    stats_b = restored.train(next_batch, t_env=10, episode_num=4)
    assert stats_a == pytest.approx(stats_b, rel=1e-6, abs=1e-7)
    for a, b in zip(learner.mac.parameters(), restored.mac.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(learner.critic.parameters(), restored.critic.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    # without the optimiser states (fresh Adam moments) the same update differs
    fresh, _ = build(kind, seed=1, epochs=2)
    fresh.mac.load_models(str(tmp_path))
    fresh.critic.load_state_dict(torch.load(tmp_path / "critic.th"))
    fresh.target_critic.load_state_dict(torch.load(tmp_path / "target_critic.th"))
    fresh.return_stats.load_state_dict(torch.load(tmp_path / "normalisers.th")["return"])
    torch.manual_seed(7)
    stats_c = fresh.train(next_batch, t_env=10, episode_num=4)
    assert stats_c != pytest.approx(stats_a, rel=1e-6, abs=1e-7)
    assert any(not torch.equal(a, b) for a, b in zip(learner.mac.parameters(), fresh.mac.parameters()))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_does_not_matter(kind):
    results, learners = [], []
    for garbage in (False, True):
        learner, args = build(kind)
        batch = make_batch(args)
        if garbage:
            for b, length in enumerate(LENGTHS):
                batch["obs"][b, length + 1 :] = 100.0
                batch["state"][b, length + 1 :] = -100.0
                batch["reward"][b, length:] = 1000.0
                batch["actions"][b, length:] = 2 if kind == "discrete" else 1.5
        torch.manual_seed(0)
        results.append(learner.train(batch, t_env=0, episode_num=0))
        learners.append(learner)
    assert results[0] == pytest.approx(results[1], rel=1e-5, abs=1e-6)
    for a, b in zip(learners[0].mac.parameters(), learners[1].mac.parameters()):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ value-loss and advantage options
def test_huber_value_loss_on_large_returns():
    """First critic step of a train call (the critic is untouched by the actor updates before it)."""
    learner, args = build(
        epochs=1, value_loss="huber", huber_delta=1.0, value_clip=0.0, standardise_returns=False,
        standardise_rewards=False,
    )
    batch = make_batch(args, reward=50.0)
    mask = valid_mask(batch, 2).bool()
    _, returns = gae_by_hand(learner, batch)
    with torch.no_grad():
        values = learner.critic(batch)[:, :-1, :, 0]
    error = (values - returns)[mask].abs()
    assert error.min() > 1.0  # every error is in the linear part
    huber = torch.where(error <= 1.0, 0.5 * error**2, error - 0.5)
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert stats["critic_loss"] == pytest.approx(huber.mean().item(), rel=1e-5)
    assert stats["critic_loss"] < 0.1 * (error**2).mean().item()  # far below what MSE would give


def test_huber_value_loss_both_regimes_via_critic_step():
    learner, args = build(value_loss="huber", huber_delta=1.0, value_clip=0.0)
    batch = make_batch(args)
    mask = valid_mask(batch, 2)
    with torch.no_grad():
        values = learner.critic(batch)[:, :-1, :, 0]
    g = torch.Generator().manual_seed(0)
    offsets = torch.randn(values.shape, generator=g) * 3  # errors on both sides of delta = 1
    error = offsets.abs()[mask.bool()]
    assert (error < 1).any() and (error > 1).any()
    stats = learner._critic_step(batch, values + offsets, values, mask)
    expected = torch.where(error <= 1.0, 0.5 * error**2, error - 0.5).mean()
    assert stats["critic_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert stats["critic_loss"] == pytest.approx(F.huber_loss(offsets[mask.bool()], 0 * error).item(), rel=1e-5)


@pytest.mark.parametrize("value_clip, expected_high", [(0.2, 3.24), (0.0, 1.0)])
def test_clipped_value_loss_takes_the_larger_error(value_clip, expected_high):
    """old = V - 1, so the clipped value is old + 0.2 = V - 0.8. Target V + 1: unclipped error 1,
    clipped (1.8)^2 = 3.24 -> 3.24. Target V - 1: unclipped 1, clipped (0.2)^2 = 0.04 -> 1."""
    learner, args = build(value_loss="mse", value_clip=value_clip)
    batch = make_batch(args)
    mask = valid_mask(batch, 2)
    with torch.no_grad():
        values = learner.critic(batch)[:, :-1, :, 0]
    up = torch.zeros_like(values, dtype=torch.bool)
    up[::2] = True  # episodes 0 and 2 get targets above, 1 and 3 below
    returns = torch.where(up, values + 1.0, values - 1.0)
    before = [p.detach().clone() for p in learner.critic.parameters()]
    stats = learner._critic_step(batch, returns, values - 1.0, mask)
    per_entry = torch.where(up, torch.tensor(expected_high), torch.tensor(1.0))
    assert stats["critic_loss"] == pytest.approx(masked_mean(per_entry, mask).item(), rel=1e-5)
    assert not same(before, list(learner.critic.parameters()))  # the unclipped entries still give a gradient


def test_clipped_value_loss_has_no_gradient_where_the_clipped_error_wins():
    learner, args = build(value_loss="mse", value_clip=0.2, grad_norm_clip=1e9)
    batch = make_batch(args)
    mask = valid_mask(batch, 2)
    with torch.no_grad():
        values = learner.critic(batch)[:, :-1, :, 0]
    # every target above: the clipped error (flat in V) wins everywhere, so the step does nothing
    stats = learner._critic_step(batch, values + 1.0, values - 1.0, mask)
    assert stats["critic_loss"] == pytest.approx(3.24, rel=1e-5)
    assert stats["critic_grad_norm"] == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_normalised_advantages_have_zero_mean_unit_std(kind):
    raw_learner, args = build(kind, normalise_advantages=False, standardise_returns=False, standardise_rewards=False)
    norm_learner, _ = build(kind, normalise_advantages=True, standardise_returns=False, standardise_rewards=False)
    batch = make_batch(args)
    tensors = [per_agent(x, args.n_agents) for x in transition_tensors(batch)]
    raw = raw_learner._advantages(batch, *tensors)
    normed = norm_learner._advantages(batch, *tensors)
    mask = valid_mask(batch, 2).bool()
    a = normed[0][mask]
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert a.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    assert torch.all(normed[0][~mask] == 0)
    r = raw[0][mask]
    assert r.std().item() > 0 and abs(r.mean().item()) > 1e-3  # the raw ones were not already standard
    torch.testing.assert_close(a, (r - r.mean()) / r.std(unbiased=False), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(normed[1], raw[1])  # critic targets are not normalised


@pytest.mark.parametrize(
    "mini_batches, n_groups, batch_size",
    [
        (1, 1, 4),
        (2, 2, 4),
        (10, 4, 4),
        pytest.param(3, 3, 4),
        pytest.param(10, 10, 16, id="happo.yaml-16-episodes-10-mini-batches"),
    ],
)
def test_minibatches_are_disjoint_episode_groups_covering_the_batch(mini_batches, n_groups, batch_size):
    learner, args = build(mini_batches=mini_batches, mini_batch_unit="episodes")
    info = env_info(args.test_action_kind, args.n_agents)
    batch = EpisodeBatch(*build_scheme(info, args)[:2], batch_size, 3)
    mask = torch.ones(batch_size, 2, args.n_agents)

    def episode_groups() -> list[list[int]]:
        return [mb.select(torch.arange(batch_size)).tolist() for mb in learner._minibatches(batch, mask)]

    torch.manual_seed(0)
    groups = episode_groups()
    assert len(groups) == n_groups
    episodes = sorted(e for group in groups for e in group)
    assert episodes == list(range(batch_size))  # disjoint and covering
    sizes = [len(group) for group in groups]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1  # balanced
    if n_groups > 1:
        orders = {tuple(e for g in episode_groups() for e in g) for _ in range(20)}
        assert len(orders) > 1  # regrouped at random every epoch


@pytest.mark.parametrize("kind", KINDS)
def test_train_with_two_mini_batches(monkeypatch, kind):
    fix_order(monkeypatch, [1, 0])
    learner, args = build(kind, epochs=2, mini_batches=2, mini_batch_unit="episodes")
    batch = make_batch(args)
    groups: list[list[int]] = []
    minibatches = learner._minibatches

    def recording(batch, mask):
        for mb in minibatches(batch, mask):
            groups.append(sorted(mb.select(torch.arange(batch.batch_size)).tolist()))
            yield mb

    learner._minibatches = recording
    calls = spy_agent_steps(learner)
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert [c["agent"] for c in calls] == [1, 1, 1, 1, 0, 0, 0, 0]  # 2 epochs x 2 mini-batches per agent
    assert all(c["factor"].shape[0] == 2 for c in calls)  # each step sees 2 of the 4 episodes
    # 2 agents x 2 epochs + 2 critic epochs, each epoch two disjoint groups covering all episodes
    assert len(groups) == 12
    for epoch in range(6):
        assert sorted(groups[2 * epoch] + groups[2 * epoch + 1]) == [0, 1, 2, 3]
    assert learner.critic_training_steps == 4
