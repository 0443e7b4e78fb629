"""Lookahead's real update in the base learners (``lka_trust_region``, ``ppo_updates_per_batch``):
on-policy data give PPO / HAPPO whichever trust region, and repeated updates re-centre on the
policy each one reached while mu stays the sampler.

* ``pi_k`` and ``mu`` coincide when mu is pi^k: bit for bit when log mu is recomputed from pi^k
  (no stored log-probs), within float rounding when it is the log-prob a runner stored;
* ``ppo_updates_per_batch = 2``: the second update starts from the policy the first reached (its
  clip centre and weight pi^(1) / mu), mu unchanged; HAPPO draws a new order and restarts M.
"""

from __future__ import annotations

import pytest
import torch

import learners.happo_learner as happo_module
from tests.factories import store_sampler_log_probs
from tests.learners.test_learner_objectives import KINDS, build, make_batch


def trained_parameters(alg: str, kind: str, trust_region: str, stored: bool, calls: int = 2) -> list[torch.Tensor]:
    learner, args = build(alg, kind, lka_trust_region=trust_region, store_log_probs=stored, epochs=3,
                          mini_batches=2, lr=0.01, advantage_estimator="gae")
    for call in range(calls):
        batch = make_batch(args, seed=call)
        if stored:
            store_sampler_log_probs(learner, batch)
        torch.manual_seed(10 + call)
        learner.train(batch, t_env=call, episode_num=call)
    return [p.detach().clone() for p in learner.mac.parameters()] + [p.detach().clone() for p in learner.critic.parameters()]


@pytest.mark.parametrize("stored, tolerance", [(False, 0.0), (True, 1e-6)], ids=["recomputed-mu", "stored-mu"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alg", ["mappo", "happo"])
def test_on_policy_both_trust_regions_are_ppo(alg, kind, stored, tolerance):
    """Two train calls of 3 epochs x 2 mini-batches: the same actors and critic around pi^k as
    around mu, bit for bit with log mu recomputed, within rounding with it stored."""
    around_pi_k = trained_parameters(alg, kind, "pi_k", stored=stored)
    around_mu = trained_parameters(alg, kind, "mu", stored=stored)
    for a, b in zip(around_pi_k, around_mu, strict=True):
        if tolerance == 0.0:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=tolerance)


def test_weight_truncation_caps_pi_k_over_mu():
    """``lka_weight_clip`` = 1.5 with mu = pi^k / e^2 (w = e^2 = 7.4 everywhere): the first step's
    loss is -mean(1.5 A), not -mean(7.4 A)."""
    losses = {}
    for clip in (None, 1.5):
        learner, args = build("mappo", "discrete", lka_weight_clip=clip, entropy_coef=0.0, normalise_advantages=False,
                              advantage_estimator="gae", standardise_rewards=False, store_log_probs=True)
        batch = make_batch(args)
        store_sampler_log_probs(learner, batch, lowered_by=2.0)
        advantages = []
        compute = learner._advantages
        learner._advantages = lambda *a, **k: advantages.append(compute(*a, **k)) or advantages[-1]
        losses[clip] = learner.train(batch, t_env=0, episode_num=0)["pg_loss"]
        mask = make_batch(args)["filled"][:, :-1].float().expand(-1, -1, args.n_agents)
        mean_advantage = ((advantages[0][0] * mask).sum() / mask.sum()).item()
        expected = (torch.tensor(2.0).exp().item() if clip is None else clip) * mean_advantage
        assert losses[clip] == pytest.approx(-expected, rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_two_updates_per_batch_recentre_on_the_first_updates_policy(kind):
    """MAPPO, ``ppo_updates_per_batch=2``: two updates; the second's pi^k is the policy after the
    first (so its clip centre and its weight pi^(1) / mu move), its mu the stored sampler's."""
    learner, args = build("mappo", kind, ppo_updates_per_batch=2, store_log_probs=True, epochs=2, lr=0.01,
                          advantage_estimator="vtrace")
    batch = make_batch(args)
    store_sampler_log_probs(learner, batch)
    sampler = batch["log_prob"][:, :-1, :, 0].clone()
    starts = []
    update_start = learner._update_start

    def spy(batch_, actions, behaviour, values, first):
        start, values, log_rho = update_start(batch_, actions, behaviour, values, first)
        starts.append((start.clone(), behaviour.clone(), log_rho.clone(),
                       [p.detach().clone() for p in learner.mac.parameters()]))
        return start, values, log_rho

    learner._update_start = spy
    learner.train(batch, t_env=0, episode_num=0)

    assert len(starts) == 2
    (start_0, mu_0, log_rho_0, params_0), (start_1, mu_1, log_rho_1, params_1) = starts
    mask = batch["filled"][:, :-1].bool().expand(-1, -1, args.n_agents)
    torch.testing.assert_close(mu_0[mask], sampler[mask])
    assert torch.equal(mu_1, mu_0)  # the sampler stays the sampler
    torch.testing.assert_close(start_0[mask], sampler[mask], rtol=0, atol=1e-6)  # pi^(0) = mu here
    assert any(not torch.equal(a, b) for a, b in zip(params_0, params_1))  # the first update moved pi
    assert (start_1 - start_0)[mask].abs().max() > 1e-4  # and the second is centred where it went
    torch.testing.assert_close(log_rho_1, (start_1 - mu_1).sum(-1, keepdim=True))  # V-trace of pi^(1) vs mu


@pytest.mark.parametrize("kind", KINDS)
def test_two_happo_updates_draw_two_orders_and_restart_the_factor(monkeypatch, kind):
    orders = iter([[0, 1], [1, 0]])
    monkeypatch.setattr(happo_module.HAPPOLearner, "agent_order", lambda self: next(orders))
    learner, args = build("happo", kind, ppo_updates_per_batch=2, lr=0.01)
    calls = []
    step = learner._agent_step

    def spy(agent, *rest):
        calls.append((agent, rest[-1].clone()))
        return step(agent, *rest)

    learner._agent_step = spy
    learner.train(make_batch(args), t_env=0, episode_num=0)
    assert [agent for agent, _ in calls] == [0, 1, 1, 0]  # one epoch, one mini-batch each
    for index in (0, 2):  # the first agent of each update: M = 1 again
        assert torch.equal(calls[index][1], torch.ones_like(calls[index][1]))
    assert not torch.equal(calls[1][1], torch.ones_like(calls[1][1]))
