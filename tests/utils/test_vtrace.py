"""V-trace (``utils.returns.vtrace``): a hand-computed case, truncation, and GAE when mu == pi."""

from __future__ import annotations

import math

import pytest
import torch

from utils.returns import ADVANTAGE_ESTIMATORS, gae, vtrace


def test_vtrace_hand_computed_two_steps():
    """One episode of 2 steps ending by termination; gamma 0.9, lambda 0.8, rho_bar = c_bar = 1."""
    rewards = torch.tensor([[[1.0], [2.0]]])
    values = torch.tensor([[[0.5], [1.0], [7.0]]])  # V(s_2) = 7 is never used: s_2 is terminal
    terminated = torch.tensor([[[0.0], [1.0]]])
    mask = torch.ones(1, 2, 1)
    log_rho = torch.log(torch.tensor([[[0.5], [3.0]]]))  # rho_0 = 0.5, rho_1 = 3 -> clipped to 1
    advantages = vtrace(rewards, values, terminated, mask, 0.9, 0.8, log_rho)
    delta_1 = 1.0 * (2.0 - 1.0)
    delta_0 = 0.5 * (1.0 + 0.9 * 1.0 - 0.5)
    a_1 = delta_1
    a_0 = delta_0 + 0.9 * (0.8 * 0.5) * a_1  # c_0 = lambda * min(1, 0.5)
    torch.testing.assert_close(advantages, torch.tensor([[[a_0], [a_1]]]))


def test_vtrace_bootstraps_a_truncation_and_stops_at_episode_ends():
    """Row 0: truncated after 2 steps (bootstrap from V(s_2)); nothing crosses into padding."""
    rewards = torch.tensor([[[1.0], [1.0], [0.0]]])
    values = torch.tensor([[[0.0], [0.0], [10.0], [99.0]]])
    terminated = torch.zeros(1, 3, 1)
    mask = torch.tensor([[[1.0], [1.0], [0.0]]])
    advantages = vtrace(rewards, values, terminated, mask, 0.5, 1.0, torch.zeros(1, 3, 1))
    assert advantages[0, 1, 0].item() == pytest.approx(1.0 + 0.5 * 10.0)
    assert advantages[0, 0, 0].item() == pytest.approx(1.0 + 0.5 * advantages[0, 1, 0].item())
    assert advantages[0, 2, 0].item() == 0.0


@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 0.0), (1.0, 1.0)])
def test_vtrace_equals_gae_on_policy(gamma, lam):
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(4, 6, 3, generator=g)
    values = torch.randn(4, 7, 3, generator=g)
    terminated = torch.zeros(4, 6, 3)
    terminated[1, 3] = 1
    mask = torch.ones(4, 6, 3)
    mask[1, 4:] = 0
    mask[2, 2:] = 0
    expected = gae(rewards, values, terminated, mask, gamma, lam)
    torch.testing.assert_close(vtrace(rewards, values, terminated, mask, gamma, lam, torch.zeros(4, 6, 1)), expected)


def test_vtrace_handles_huge_log_ratios():
    rewards, values = torch.ones(1, 2, 1), torch.zeros(1, 3, 1)
    log_rho = torch.tensor([[[500.0], [-500.0]]])
    advantages = vtrace(rewards, values, torch.zeros(1, 2, 1), torch.ones(1, 2, 1), 0.9, 0.9, log_rho)
    assert all(math.isfinite(v) for v in advantages.flatten().tolist())
    assert advantages[0, 1, 0].item() == pytest.approx(0.0, abs=1e-6)  # rho = exp(-500) ~ 0
    assert advantages[0, 0, 0].item() == pytest.approx(1.0)  # rho_0 = 1, c_0 = 0.9 * 1, A_1 ~ 0


def test_vtrace_estimator_without_ratios_is_gae_exactly():
    """The registry's ``vtrace`` on on-policy data (no ``log_rho``) returns GAE's numbers bit for bit,
    so a learner whose behaviour and target policies coincide reproduces the GAE learner."""
    g = torch.Generator().manual_seed(1)
    rewards, values = torch.randn(3, 5, 2, generator=g), torch.randn(3, 6, 2, generator=g)
    terminated, mask = torch.zeros(3, 5, 2), torch.ones(3, 5, 2)
    expected = ADVANTAGE_ESTIMATORS["gae"](rewards, values, terminated, mask, 0.99, gae_lambda=0.95)
    got = ADVANTAGE_ESTIMATORS["vtrace"](rewards, values, terminated, mask, 0.99, gae_lambda=0.95)
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    with_ratios = ADVANTAGE_ESTIMATORS["vtrace"](rewards, values, terminated, mask, 0.99, gae_lambda=0.95,
                                                 log_rho=torch.full((3, 5, 1), -1.0))
    assert not torch.allclose(with_ratios[0], expected[0])


def test_policy_advantage_hand_computed_with_rho_not_one():
    """One 3-step episode truncated at T (bootstrapped from V(s_3)); gamma 0.9, lambda 0.8;
    rho = [0.5, 2 -> 1, 0.25]. The critic subtracts V, V-trace bootstraps with Vhat (a target critic).
    A_t = r_t + g Vhat_{t+1} - V_t + g l (v_{t+1} - Vhat_{t+1}), with no rho_t, and v_{3} - Vhat_3 = 0."""
    rewards = torch.tensor([[[1.0], [-2.0], [0.5]]])
    values = torch.tensor([[[0.2], [0.4], [-0.3], [9.0]]])  # V: what the advantage subtracts
    bootstrap = torch.tensor([[[0.1], [0.6], [-0.5], [1.5]]])  # Vhat: what V-trace bootstraps with
    terminated, mask = torch.zeros(1, 3, 1), torch.ones(1, 3, 1)
    log_rho = torch.log(torch.tensor([[[0.5], [2.0], [0.25]]]))
    g, l = 0.9, 0.8
    advantages, targets = ADVANTAGE_ESTIMATORS["vtrace"](rewards, values, terminated, mask, g, gae_lambda=l,
                                                         log_rho=log_rho, target_values=bootstrap)
    # V-trace targets by hand: rho = c/l = [0.5, 1, 0.25]
    d2 = 0.25 * (0.5 + g * 1.5 - (-0.5))
    d1 = 1.0 * (-2.0 + g * (-0.5) - 0.6)
    d0 = 0.5 * (1.0 + g * 0.6 - 0.1)
    a2 = d2
    a1 = d1 + g * l * 1.0 * a2
    a0 = d0 + g * l * 0.5 * a1
    v = [0.1 + a0, 0.6 + a1, -0.5 + a2]
    torch.testing.assert_close(targets[0, :, 0], torch.tensor(v))
    expected = [
        1.0 + g * 0.6 - 0.2 + g * l * (v[1] - 0.6),
        -2.0 + g * (-0.5) - 0.4 + g * l * (v[2] - (-0.5)),
        0.5 + g * 1.5 - (-0.3),  # the segment's last slot: no correction
    ]
    torch.testing.assert_close(advantages[0, :, 0], torch.tensor(expected))
    assert advantages[0, 0, 0].item() != pytest.approx(v[0] - 0.2)  # not today's value-target advantage


@pytest.mark.parametrize("per_agent", [False, True])
def test_policy_advantage_equals_gae_when_every_rho_is_one(per_agent):
    g = torch.Generator().manual_seed(1)
    rewards = torch.randn(3, 5, 2, generator=g)
    values, bootstrap = torch.randn(3, 6, 2, generator=g), torch.randn(3, 6, 2, generator=g)
    terminated, mask = torch.zeros(3, 5, 2), torch.ones(3, 5, 2)
    terminated[0, 2], mask[0, 3:] = 1, 0
    mask[1, 4:] = 0  # truncated before T
    log_rho = torch.zeros(3, 5, 2 if per_agent else 1)
    advantages, targets = ADVANTAGE_ESTIMATORS["vtrace"](rewards, values, terminated, mask, 0.99, gae_lambda=0.95,
                                                         log_rho=log_rho, target_values=bootstrap)
    gae_adv, gae_targets = ADVANTAGE_ESTIMATORS["gae"](rewards, values, terminated, mask, 0.99, gae_lambda=0.95,
                                                       target_values=bootstrap)
    torch.testing.assert_close(advantages, gae_adv, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(targets * mask, gae_targets * mask, rtol=1e-6, atol=1e-6)
