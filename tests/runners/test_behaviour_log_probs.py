"""``store_log_probs``: the runner stores each action's behaviour log-probability as it samples, and
the learners take their ratios against it (the behaviour policy mu kept apart from the policy)."""

from __future__ import annotations

import math

import pytest
import torch

from learners import REGISTRY as learner_registry
from tests.factories import FakeLogger
from tests.runners.test_segments import build_runner

CASES = [
    pytest.param("mappo", "gymma", {"env_args": {"key": "lbforaging:Foraging-8x8-2p-3f-v3", "time_limit": 20},
                                    "agent": "mlp", "obs_last_action": False}, id="discrete-episodes"),
    pytest.param("happo", "mamujoco", {"env_args": {"time_limit": 30}, "rollout_length": 25}, id="continuous-segments"),
]


@pytest.mark.parametrize("alg, env, overrides", CASES)
def test_stored_log_probs_are_the_sampling_policys(alg, env, overrides):
    runner, args = build_runner(alg=alg, env=env, store_log_probs=True, **overrides)
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    learner = learner_registry[args.learner](runner.mac, batch.scheme, FakeLogger(), args)
    actions = batch["actions"][:, :-1]
    with torch.no_grad():
        recomputed = learner.policy_log_probs(batch, actions)
    mask = batch["filled"][:, :-1, 0].bool()
    stored = learner.behaviour_log_probs(batch, actions)
    assert stored.shape == recomputed.shape
    torch.testing.assert_close(stored[mask], recomputed[mask], rtol=1e-5, atol=1e-5)
    assert torch.all(stored[mask] != 0)  # a log-probability was written at every transition
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert all(math.isfinite(v) for v in stats.values())


def test_the_importance_weight_is_taken_against_the_stored_behaviour():
    """Lower the stored log-probs by 1: the weight pi^k / mu of every agent's action is e
    everywhere (the runner stored exactly the sampler's log-probs)."""
    runner, args = build_runner(alg="happo", env="mamujoco", store_log_probs=True, rollout_length=20,
                                env_args={"time_limit": 30}, epochs=1, mini_batches=1, eps_clip=10.0)
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    batch.transition_data["log_prob"] -= 1.0
    learner = learner_registry[args.learner](runner.mac, batch.scheme, FakeLogger(), args)
    stats = learner.train(batch, t_env=0, episode_num=0)
    for agent in range(args.n_agents):
        assert stats[f"is_weight_mean_agent{agent}"] == pytest.approx(math.e, rel=1e-4)
        assert stats[f"is_weight_max_agent{agent}"] == pytest.approx(math.e, rel=1e-4)
