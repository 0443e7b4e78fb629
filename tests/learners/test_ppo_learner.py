"""``learners.ppo_learner.PPOLearner.train`` on small hand-built batches."""

from __future__ import annotations

import math

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from learners.ppo_learner import PPOLearner, per_agent, transition_tensors
from tests.factories import FakeLogger, make_test_args, store_sampler_log_probs
from utils.returns import ADVANTAGE_ESTIMATORS

ENV_INFO = {"n_agents": 3, "obs_shape": 5, "state_shape": 7, "n_actions": 4, "episode_limit": 6}
LENGTHS = (6, 4, 2, 5)  # one full-length episode (bootstrapped at T), three shorter ones


def make_learner_args(**overrides):
    return make_test_args(ENV_INFO, **{"hidden_dim": 32, **overrides})


def build(seed: int = 0, logger=None, learner_cls: type[PPOLearner] = PPOLearner, **overrides
          ) -> tuple[PPOLearner, object]:
    args = make_learner_args(**overrides)
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    learner = learner_cls(mac, buffer_scheme, logger or FakeLogger(), args)
    return learner, args


def make_batch(args, reward: float | None = None, seed: int = 0, terminate_short: bool = True) -> EpisodeBatch:
    """Episodes of ``LENGTHS``; the shorter ones end by termination (or by time limit if not
    ``terminate_short``). Rewards are ``reward`` on every valid step, random if None."""
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    T = ENV_INFO["episode_limit"]
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), T + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    n, a = ENV_INFO["n_agents"], ENV_INFO["n_actions"]
    reward_dim = 1 if args.common_reward else n
    for b, length in enumerate(LENGTHS):
        avail = (torch.rand(length + 1, n, a, generator=g) < 0.7).int()
        avail[..., 0] |= (avail.sum(-1) == 0).int()
        batch.update(
            {
                "obs": torch.randn(length + 1, n, ENV_INFO["obs_shape"], generator=g),
                "state": torch.randn(length + 1, ENV_INFO["state_shape"], generator=g),
                "avail_actions": avail,
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        actions = torch.multinomial(avail[:length].float().reshape(-1, a), 1, generator=g).reshape(length, n, 1)
        rewards = torch.randn(length, reward_dim, generator=g) if reward is None else torch.full((length, reward_dim), reward)
        terminated = torch.zeros(length, 1)
        if terminate_short and length < T:
            terminated[-1] = 1
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    return batch


def taken_log_probs(learner: PPOLearner, batch: EpisodeBatch) -> torch.Tensor:
    with torch.no_grad():
        return learner.mac.policy_distribution(learner.mac.unroll(batch)).log_prob(batch["actions"][:, :-1])


def valid(batch: EpisodeBatch) -> torch.Tensor:
    """[B, T, n_agents] bool mask of valid transitions."""
    return batch["filled"][:, :-1].bool().expand(-1, -1, ENV_INFO["n_agents"])


def snapshot(module_params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module_params]


STAT_KEYS = {
    "critic_loss", "critic_grad_norm", "td_error_abs", "q_taken_mean", "target_mean", "explained_variance",
    "pg_loss", "agent_grad_norm", "entropy", "approx_kl", "clipfrac", "pi_max", "advantage_mean",
}


# ------------------------------------------------------------------ one update
def test_train_returns_finite_stats_and_changes_parameters():
    learner, args = build()
    batch = make_batch(args)
    agent_before, critic_before = snapshot(learner.mac.parameters()), snapshot(learner.critic.parameters())
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert set(stats) == STAT_KEYS
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert all(not torch.equal(a, b) for a, b in zip(agent_before, learner.mac.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(critic_before, learner.critic.parameters()))
    assert learner.critic_training_steps == args.epochs
    assert 0 < stats["entropy"] <= math.log(ENV_INFO["n_actions"]) + 1e-6
    assert 0.0 <= stats["approx_kl"] and 0.0 <= stats["clipfrac"] <= 1.0


def test_first_epoch_policy_loss_is_mean_advantage_plus_entropy_bonus():
    # ratio = 1 in the first epoch: pg_loss = -(mean_valid A + c_ent * mean_valid H)
    learner, args = build(epochs=1, entropy_coef=0.5)
    batch = make_batch(args)
    with torch.no_grad():
        entropy = learner.mac.policy_distribution(learner.mac.unroll(batch)).entropy()[valid(batch)].mean().item()
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert stats["entropy"] == pytest.approx(entropy, rel=1e-5)
    assert stats["pg_loss"] == pytest.approx(-(stats["advantage_mean"] + 0.5 * entropy), rel=1e-5, abs=1e-6)
    assert 1 / ENV_INFO["n_actions"] - 1e-6 <= stats["pi_max"] <= 1


@pytest.mark.parametrize("reward, sign", [(10.0, 1), (-10.0, -1)])
def test_one_epoch_moves_taken_action_probabilities_with_the_advantage(reward, sign):
    learner, args = build(epochs=1, entropy_coef=0.0, standardise_rewards=False, lr=1e-3)
    batch = make_batch(args, reward=reward)
    mask = valid(batch)
    # precondition: every valid advantage has the sign of the reward (critic outputs are near 0)
    rewards, terminated, m = (per_agent(x, args.n_agents) for x in transition_tensors(batch))
    with torch.no_grad():
        values, target = learner.critic(batch)[..., 0], learner.target_critic(batch)[..., 0]
    advantages, _ = ADVANTAGE_ESTIMATORS["nstep"](rewards, values, terminated, m, args.gamma, nsteps=args.q_nstep,
                                                  target_values=target)
    assert torch.all(sign * advantages[mask] > 0)

    before = taken_log_probs(learner, batch)
    stats = learner.train(batch, t_env=0, episode_num=0)
    change = taken_log_probs(learner, batch) - before
    assert sign * change[mask].mean() > 0
    # the first-order objective the step climbs: sum over valid steps of A_t * d log pi(a_t)
    assert (advantages[mask] * change[mask]).sum() > 0
    # epoch 1 evaluates the ratio before any step: exactly 1 everywhere, so the clipped surrogate
    # is the advantage itself and the losses are plain means over the valid steps
    assert stats["approx_kl"] == 0.0 and stats["clipfrac"] == 0.0
    assert stats["advantage_mean"] == pytest.approx(advantages[mask].mean().item(), rel=1e-5)
    assert stats["pg_loss"] == pytest.approx(-advantages[mask].mean().item(), rel=1e-5)
    assert stats["critic_loss"] == pytest.approx((advantages[mask] ** 2).mean().item(), rel=1e-5)
    assert stats["td_error_abs"] == pytest.approx(advantages[mask].abs().mean().item(), rel=1e-5)


def first_step_with_shifted_behaviour(log_ratio: float, reward: float, **overrides):
    """One epoch, one step, with the behaviour log-probs log mu lowered by ``log_ratio`` below the
    policy's own (so pi / mu = e^log_ratio at the first step): the learner's stats, the n-step
    advantages it trains on, and whether the actors' parameters stayed unchanged."""
    learner, args = build(epochs=1, entropy_coef=0.0, standardise_rewards=False, store_log_probs=True, **overrides)
    batch = make_batch(args, reward=reward)
    mask = valid(batch)
    store_sampler_log_probs(learner, batch, lowered_by=log_ratio)
    rewards, terminated, m = (per_agent(x, args.n_agents) for x in transition_tensors(batch))
    with torch.no_grad():
        values, target = learner.critic(batch)[..., 0], learner.target_critic(batch)[..., 0]
    advantages, _ = ADVANTAGE_ESTIMATORS["nstep"](rewards, values, terminated, m, args.gamma, nsteps=args.q_nstep,
                                                  target_values=target)
    before = snapshot(learner.mac.parameters())
    stats = learner.train(batch, t_env=0, episode_num=0)
    unchanged = all(torch.equal(a, b) for a, b in zip(before, learner.mac.parameters()))
    return stats, advantages[mask], unchanged, args


@pytest.mark.parametrize(
    "log_ratio, reward, clipped",
    [(1.0, 10.0, True), (1.0, -10.0, False), (-1.0, 10.0, False), (-1.0, -10.0, True)],
)
def test_clipped_surrogate_around_mu(log_ratio, reward, clipped):
    """``lka_trust_region: mu``: the ratio r = pi / mu = e^log_ratio is far outside [0.8, 1.2].
    min(r A, clip(r) A) takes the clipped (gradient-free) branch exactly when r A > clip(r) A.
    ``clipfrac`` and ``approx_kl`` are measured from pi^k (= pi at the first step): both 0."""
    stats, advantages, unchanged, args = first_step_with_shifted_behaviour(log_ratio, reward, lka_trust_region="mu")
    ratio = math.exp(log_ratio)
    clip = min(max(ratio, 1 - args.eps_clip), 1 + args.eps_clip)  # 1.2 or 0.8
    expected_surrogate = torch.minimum(ratio * advantages, clip * advantages)
    assert stats["pg_loss"] == pytest.approx(-expected_surrogate.mean().item(), rel=1e-5)
    # the diagnostics are measured from pi^k, which pi still equals: nothing outside its trust region
    assert stats["clipfrac"] == 0.0 and stats["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert unchanged == clipped


@pytest.mark.parametrize("log_ratio, reward", [(1.0, 10.0), (-1.0, -10.0)])
def test_weighted_surrogate_around_pi_k(log_ratio, reward):
    """``lka_trust_region: pi_k`` (the default), same batches: at the first step pi = pi^k, so
    r = pi / pi^k = 1 inside the clip, and the loss is -mean(w A) with w = pi^k / mu = e^log_ratio;
    nothing is clipped, the KL to pi^k is 0, and the policy moves whatever the sign of A."""
    stats, advantages, unchanged, _ = first_step_with_shifted_behaviour(log_ratio, reward)
    assert stats["pg_loss"] == pytest.approx(-math.exp(log_ratio) * advantages.mean().item(), rel=1e-5)
    assert stats["clipfrac"] == 0.0
    assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert not unchanged


def test_approx_kl_and_clipfrac_in_sane_ranges_over_epochs():
    learner, args = build(epochs=8, lr=3e-3)
    batch = make_batch(args)
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert 0.0 < stats["approx_kl"] < 0.5  # k3 >= 0; a few small steps stay close to the old policy
    assert 0.0 <= stats["clipfrac"] <= 1.0


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(dict(advantage_estimator="gae"), id="gae"),
        pytest.param(dict(advantage_estimator="gae", standardise_returns=True), id="gae-standardised-returns"),
        pytest.param(dict(common_reward=False), id="per-agent-rewards"),
        pytest.param(dict(critic_type="ac_critic"), id="ippo"),
        pytest.param(dict(mac="non_shared_mac", agent="rnn_ns", critic_type="cv_critic_ns", use_rnn=False), id="mappo_ns"),
        pytest.param(dict(agent="mlp", target_update_interval_or_tau=200), id="mlp-hard-target"),
    ],
)
def test_train_runs_for_other_configurations(overrides):
    learner, args = build(epochs=2, **overrides)
    batch = make_batch(args, terminate_short=False)
    before = snapshot(learner.mac.parameters())
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert set(stats) == STAT_KEYS
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.mac.parameters()))


def test_padding_content_does_not_matter():
    """Garbage after each episode's final-state slot (obs, state, rewards, actions) changes nothing."""
    learners, results = [], []
    for garbage in (False, True):
        learner, args = build(epochs=2, standardise_rewards=True, standardise_returns=True)
        batch = make_batch(args)
        if garbage:
            g = torch.Generator().manual_seed(5)
            for b, length in enumerate(LENGTHS):
                pad = slice(length + 1, batch.max_seq_length)
                batch["obs"][b, pad] = 100 * torch.randn(batch["obs"][b, pad].shape, generator=g)
                batch["state"][b, pad] = 100 * torch.randn(batch["state"][b, pad].shape, generator=g)
                batch["reward"][b, length:] = 1000.0
                batch["actions"][b, length:] = 3
        results.append(learner.train(batch, t_env=0, episode_num=0))
        learners.append(learner)
    assert results[0] == pytest.approx(results[1], rel=1e-5, abs=1e-6)
    for a, b in zip(learners[0].mac.parameters(), learners[1].mac.parameters()):
        torch.testing.assert_close(a, b)
    for a, b in zip(learners[0].critic.parameters(), learners[1].critic.parameters()):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(learners[0].reward_stats.mean, learners[1].reward_stats.mean)


# ------------------------------------------------------------------ target critic
def test_soft_target_update():
    learner, args = build(epochs=2, target_update_interval_or_tau=0.25)
    batch = make_batch(args)
    target_before = snapshot(learner.target_critic.parameters())
    learner.train(batch, t_env=0, episode_num=0)
    for old, new, source in zip(target_before, learner.target_critic.parameters(), learner.critic.parameters()):
        assert not torch.equal(old, source)
        torch.testing.assert_close(new, old + 0.25 * (source - old))


def test_hard_target_update_every_interval():
    learner, args = build(epochs=1, target_update_interval_or_tau=2)
    batch = make_batch(args)
    initial = snapshot(learner.target_critic.parameters())
    learner.train(batch, t_env=0, episode_num=0)  # 1 critic step: no update yet
    assert all(torch.equal(a, b) for a, b in zip(initial, learner.target_critic.parameters()))
    learner.train(batch, t_env=10, episode_num=4)  # 2 critic steps: copy
    assert all(torch.equal(a, b) for a, b in zip(learner.critic.parameters(), learner.target_critic.parameters()))
    assert learner.last_target_update_step == 2


# ------------------------------------------------------------------ logging
def test_stats_are_logged_once_per_learner_log_interval():
    logger = FakeLogger()
    learner, args = build(logger=logger, epochs=1, learner_log_interval=100)
    batch = make_batch(args)
    stats = learner.train(batch, t_env=0, episode_num=0)  # first call always logs
    assert sorted(key for key, _, _ in logger.calls) == sorted(STAT_KEYS)
    assert all(t == 0 for _, _, t in logger.calls)
    assert {key: value for key, value, _ in logger.calls} == stats

    logger.calls.clear()
    learner.train(batch, t_env=60, episode_num=1)
    learner.train(batch, t_env=99, episode_num=2)
    assert logger.calls == []  # interval not yet passed
    stats = learner.train(batch, t_env=100, episode_num=3)
    assert len(logger.calls) == len(STAT_KEYS)
    assert {key: value for key, value, t in logger.calls if t == 100} == stats
    logger.calls.clear()
    learner.train(batch, t_env=150, episode_num=4)
    assert logger.calls == []


# ------------------------------------------------------------------ persistence
def test_save_and_load_models_round_trip(tmp_path):
    learner, args = build(seed=0, standardise_rewards=True, standardise_returns=True, epochs=2)
    batch = make_batch(args)
    learner.train(batch, t_env=0, episode_num=0)
    learner.save_models(str(tmp_path))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"agent.th", "critic.th", "target_critic.th", "optimisers.th", "normalisers.th"} <= names

    restored, _ = build(seed=1, standardise_rewards=True, standardise_returns=True, epochs=2)
    restored.load_models(str(tmp_path))
    for module in ("critic", "target_critic"):
        a, b = getattr(learner, module).state_dict(), getattr(restored, module).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("reward_stats", "return_stats"):
        a, b = getattr(learner, name), getattr(restored, name)
        assert torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var) and a.count == b.count
        assert a.count > 1  # really updated by training, not the initial epsilon
    with torch.no_grad():
        torch.testing.assert_close(restored.mac.unroll(batch), learner.mac.unroll(batch), rtol=0, atol=0)

    # restored optimisers and normalisers: the next update is identical to the original learner's
    next_batch = make_batch(args, seed=1)
    stats_a = learner.train(next_batch, t_env=10, episode_num=4)
    stats_b = restored.train(next_batch, t_env=10, episode_num=4)
    assert stats_a == pytest.approx(stats_b, rel=1e-6, abs=1e-7)
    for a, b in zip(learner.critic.parameters(), restored.critic.parameters()):
        torch.testing.assert_close(a, b)


class _RecomputingStart(PPOLearner):
    """The learner as it was: pi^k's log-probs run through the actors at the start of every update."""

    def _update_start(self, batch, actions, behaviour, values, first):
        return super()._update_start(batch, actions, behaviour, values, first=False)


@pytest.mark.parametrize("stored", [False, True], ids=["on-policy", "stored-log-probs"])
def test_first_update_reuses_the_behaviour_log_probs_as_pi_k(stored):
    """Without stored log-probs, log mu is the current policy's, computed just before the first
    update: that update takes them as log pi^k instead of running the actors again (same numbers to
    the bit, one pass fewer); the second update, and any batch with a sampler's log-probs, runs them."""
    results = []
    for cls in (PPOLearner, _RecomputingStart):
        learner, args = build(epochs=2, ppo_updates_per_batch=2, store_log_probs=stored, learner_cls=cls)
        batch = make_batch(args)
        if stored:  # a sampler other than the current policy
            store_sampler_log_probs(learner, batch, lowered_by=0.3)
        passes = []
        policy_log_probs = learner.policy_log_probs
        learner.policy_log_probs = lambda *a, **k: passes.append(1) or policy_log_probs(*a, **k)
        stats = learner.train(batch, t_env=0, episode_num=0)
        results.append((stats, snapshot(learner.mac.parameters()), snapshot(learner.critic.parameters()), len(passes)))
    (stats, actors, critic, passes), (stats_before, actors_before, critic_before, passes_before) = results
    assert stats == stats_before
    assert all(torch.equal(a, b) for a, b in zip(actors + critic, actors_before + critic_before))
    assert passes == passes_before - (0 if stored else 1)
