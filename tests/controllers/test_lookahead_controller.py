"""``controllers.lookahead_controller.LookaheadMAC``: training episodes are sampled by the
lookahead policy pi~, test episodes by the real policy pi.

The two are made to differ (pi~'s weights perturbed), then a real runner plays a training batch
and a greedy test batch: the stored behaviour log-probs of the training batch are pi~'s, and the
greedy test actions are pi's mode (mean / argmax), not pi~'s.
"""

from __future__ import annotations

import pytest
import torch

from tests.integration.helpers import LBF
from tests.runners.test_segments import build_runner

CASES = [
    pytest.param("toy_game", {"env_args": {"key": "toy", "time_limit": 1}}, id="continuous-toy-game"),
    pytest.param("gymma", {"env_args": {"key": LBF, "time_limit": 10}}, id="discrete-lbf"),
]


def policy(mac, batch):
    """``mac``'s policy on every step of ``batch`` (``[B, T, n_agents]`` distributions)."""
    with torch.no_grad():
        return mac.policy_distribution(mac.unroll(batch))


@pytest.mark.parametrize("env, overrides", CASES)
def test_training_samples_with_lookahead_and_tests_with_the_real_policy(env, overrides):
    runner, args = build_runner(alg="lookahead_mappo", env=env, rollout_length=0, test_greedy=True, **overrides)
    mac = runner.mac
    assert args.store_log_probs
    with torch.no_grad():
        for parameter in mac.lookahead.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    try:
        train_batch = runner.run(test_mode=False)
        test_batch = runner.run(test_mode=True)
    finally:
        runner.close_env()

    for batch, actor, other in ((train_batch, mac.lookahead, mac.real), (test_batch, mac.real, mac.lookahead)):
        filled = batch["filled"][:, :-1, 0] > 0
        actions = batch["actions"][:, :-1]
        stored = batch["log_prob"][:, :-1, :, 0][filled]
        torch.testing.assert_close(stored, policy(actor, batch).log_prob(actions)[filled], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(stored, policy(other, batch).log_prob(actions)[filled], rtol=1e-3, atol=1e-3)

    filled = test_batch["filled"][:, :-1, 0] > 0
    greedy = test_batch["actions"][:, :-1][filled]
    if runner.get_env_info()["action_kind"] == "continuous":
        torch.testing.assert_close(greedy, policy(mac.real, test_batch).mean[filled])
    else:
        probs = policy(mac.real, test_batch).probs.masked_fill(test_batch["avail_actions"][:, :-1] == 0, -1.0)
        assert torch.equal(greedy[..., 0], probs.argmax(-1)[filled])


def test_sync_copies_the_real_actors_into_independent_lookahead_actors():
    runner, _ = build_runner(alg="lookahead_mappo", env="toy_game", rollout_length=0,
                             env_args={"key": "toy", "time_limit": 1})
    runner.close_env()
    mac = runner.mac
    with torch.no_grad():
        for parameter in mac.lookahead.parameters():
            parameter.add_(1.0)
    mac.sync_lookahead()
    real, lookahead = mac.real.agent.state_dict(), mac.lookahead.agent.state_dict()
    assert all(torch.equal(real[name], lookahead[name]) for name in real)
    with torch.no_grad():
        for parameter in mac.lookahead.parameters():
            parameter.add_(1.0)
    assert all(not torch.equal(real[name], mac.lookahead.agent.state_dict()[name]) for name in real)
    assert [p.data_ptr() for p in mac.parameters()] == [p.data_ptr() for p in mac.real.parameters()]
