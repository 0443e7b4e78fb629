"""n-step returns and GAE (``utils.returns``) against hand-computed numbers.

Shapes follow the module: ``rewards/terminated/mask [B, T, ...]``, ``values [B, T + 1, ...]``.
All hand calculations use gamma = 0.5 so that the arithmetic stays exact in float32.
"""

from __future__ import annotations

import pytest
import torch

from utils.returns import ADVANTAGE_ESTIMATORS, episode_ends, gae, nstep_returns

GAMMA = 0.5


def t(*rows) -> torch.Tensor:
    """[B, T] float tensor from rows of numbers."""
    return torch.tensor(rows, dtype=torch.float32)


def close(actual: torch.Tensor, expected) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=0, atol=1e-5)


# Episode A: terminated at t=2 (length 3) in a batch of T=4; step 3 is padding.
#   r = [1, 2, 4, pad], V = [10, 20, 30, 40, 50] (V[3] is the final state: never used, terminated)
A = dict(r=t([1, 2, 4, 0]), v=t([10, 20, 30, 40, 50]), term=t([0, 0, 1, 0]), mask=t([1, 1, 1, 0]))
# Episode B: no termination, runs the whole batch (T=3): truncated at T, bootstrap from V[3] = 40.
B = dict(r=t([1, 2, 4]), v=t([10, 20, 30, 40]), term=t([0, 0, 0]), mask=t([1, 1, 1]))
# Episode C: time limit after 2 steps (truncated) in a batch of T=4; V[2] = 30 is the stored final state.
#   Padding holds garbage (r=100, V=77/88) that must never leak into valid steps.
C = dict(r=t([1, 2, 100, 100]), v=t([10, 20, 30, 77, 88]), term=t([0, 0, 0, 0]), mask=t([1, 1, 0, 0]))


def nstep(ep: dict, n: int) -> torch.Tensor:
    return nstep_returns(ep["r"], ep["v"], ep["term"], ep["mask"], GAMMA, n)


def gae_of(ep: dict, lam: float) -> torch.Tensor:
    return gae(ep["r"], ep["v"], ep["term"], ep["mask"], GAMMA, lam)


def test_episode_ends():
    close(episode_ends(t([1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0])), [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]])


# ------------------------------------------------------------------ n-step returns
def test_nstep_termination_before_T_does_not_bootstrap():
    # n = 2:
    # G0 = r0 + g r1 + g^2 V2          = 1 + 0.5*2 + 0.25*30 = 9.5
    # G1 = r1 + g r2 + g^2 (1-term2) V3 = 2 + 0.5*4 + 0       = 4
    # G2 = r2 + g (1-term2) V3          = 4 + 0               = 4   (window cut at the episode end)
    close(nstep(A, 2)[0, :3], [9.5, 4.0, 4.0])


def test_nstep_truncated_at_T_bootstraps_from_last_value():
    # n = 2, V[T] = V3 = 40:
    # G0 = 1 + 0.5*2 + 0.25*V2 = 1 + 1 + 7.5  = 9.5
    # G1 = 2 + 0.5*4 + 0.25*V3 = 2 + 2 + 10   = 14
    # G2 = 4 + 0.5*V3          = 4 + 20       = 24  (window cut at T)
    close(nstep(B, 2)[0], [9.5, 14.0, 24.0])


def test_nstep_truncated_before_T_bootstraps_from_final_state():
    # n = 3, episode of length 2, stored final state V[2] = 30; padding rewards (100) are ignored:
    # G0 = 1 + 0.5*2 + 0.25*V2 = 1 + 1 + 7.5 = 9.5
    # G1 = 2 + 0.5*V2          = 2 + 15      = 17
    close(nstep(C, 3)[0, :2], [9.5, 17.0])


def test_nstep_one_is_the_td_target():
    # G_t = r_t + g (1 - term_t) V_{t+1} on every valid step
    close(nstep(A, 1)[0, :3], [1 + 0.5 * 20, 2 + 0.5 * 30, 4 + 0.0])  # [11, 17, 4]
    close(nstep(B, 1)[0], [11.0, 17.0, 24.0])
    close(nstep(C, 1)[0, :2], [11.0, 17.0])
    # and on random data with several episodes per row
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(3, 7, generator=g), torch.randn(3, 8, generator=g)
    mask = t([1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0])
    term = t([0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0])
    expected = rewards + GAMMA * (1 - term) * values[:, 1:]
    returns = nstep_returns(rewards, values, term, mask, GAMMA, 1)
    close(returns * mask, expected * mask)


@pytest.mark.parametrize("n", [3, 4, 10])
def test_nstep_at_least_T_is_monte_carlo_plus_bootstrap(n):
    # B (T=3), n >= T: discounted sum to T plus g^(T-t) V3:
    # G0 = 1 + 0.5*2 + 0.25*4 + 0.125*40 = 1 + 1 + 1 + 5 = 8
    # G1 = 2 + 0.5*4 + 0.25*40          = 2 + 2 + 10    = 14
    # G2 = 4 + 0.5*40                                   = 24
    close(nstep(B, n)[0], [8.0, 14.0, 24.0])
    # A (terminated): pure Monte-Carlo, G0 = 1 + 0.5*2 + 0.25*4 = 3, G1 = 2 + 0.5*4 = 4, G2 = 4
    close(nstep(A, n)[0, :3], [3.0, 4.0, 4.0])
    # C (time limit at 2): G0 = 1 + 0.5*2 + 0.25*30 = 9.5, G1 = 2 + 0.5*30 = 17
    close(nstep(C, n)[0, :2], [9.5, 17.0])


def stack(*episodes: dict, agents: int = 2) -> dict:
    """Batch of episodes padded to the longest T, with a trailing agent axis: agent k is the episode
    scaled by (k + 1) (returns and advantages are linear in (r, V), so they scale the same way)."""
    T = max(ep["r"].shape[1] for ep in episodes)
    out = {}
    for key in ("r", "v", "term", "mask"):
        rows = []
        for ep in episodes:
            x = ep[key][0]
            width = T + (1 if key == "v" else 0)
            rows.append(torch.cat([x, torch.zeros(width - x.shape[0])]))
        x = torch.stack(rows)
        scale = torch.arange(1, agents + 1, dtype=torch.float32) if key in ("r", "v") else torch.ones(agents)
        out[key] = x.unsqueeze(-1) * scale
    return out


def test_nstep_multi_agent_trailing_dims():
    batch = stack(A, B, C)  # B is zero-padded from T=3 to T=4 and masked there
    returns = nstep(batch, 2)
    assert returns.shape == (3, 4, 2)
    expected = torch.tensor([[9.5, 4.0, 4.0], [9.5, 14.0, 24.0]])
    close(returns[0, :3, 0], expected[0])
    close(returns[0, :3, 1], 2 * expected[0])
    close(returns[1, :3, 0], expected[1])
    close(returns[1, :3, 1], 2 * expected[1])
    # C with n = 2: G0 = 1 + 0.5*2 + 0.25*30 = 9.5, G1 = 2 + 0.5*30 = 17
    close(returns[2, :2, 0], [9.5, 17.0])
    close(returns[2, :2, 1], [19.0, 34.0])


# ------------------------------------------------------------------ GAE
def test_gae_terminated_episode():
    # deltas: d0 = 1 + 0.5*20 - 10 = 1, d1 = 2 + 0.5*30 - 20 = -3, d2 = 4 + 0 - 30 = -26 (terminal)
    # lambda = 0.5, g*lambda = 0.25:
    # A2 = -26; A1 = -3 + 0.25*(-26) = -9.5; A0 = 1 + 0.25*(-9.5) = -1.375; A3 (padding) = 0
    close(gae_of(A, 0.5)[0], [-1.375, -9.5, -26.0, 0.0])


def test_gae_truncated_at_T():
    # deltas: 1 + 10 - 10 = 1, 2 + 15 - 20 = -3, 4 + 0.5*40 - 30 = -6
    # A2 = -6; A1 = -3 + 0.25*(-6) = -4.5; A0 = 1 + 0.25*(-4.5) = -0.125
    close(gae_of(B, 0.5)[0], [-0.125, -4.5, -6.0])


def test_gae_truncated_before_T_and_padding_is_zero():
    # deltas: d0 = 1 + 0.5*20 - 10 = 1, d1 = 2 + 0.5*V2 - 20 = 2 + 15 - 20 = -3
    # A1 = -3; A0 = 1 + 0.25*(-3) = 0.25; padded steps: exactly 0 despite the garbage there
    adv = gae_of(C, 0.5)[0]
    close(adv, [0.25, -3.0, 0.0, 0.0])
    assert torch.all(adv[2:] == 0)


def test_gae_lambda_one_is_monte_carlo_minus_value():
    # B: MC returns with bootstrap (see the n-step test) [8, 14, 24] minus V [10, 20, 30]
    close(gae_of(B, 1.0)[0], [-2.0, -6.0, -6.0])
    # A: MC returns [3, 4, 4] minus V [10, 20, 30]
    close(gae_of(A, 1.0)[0, :3], [-7.0, -16.0, -26.0])
    # C: returns [9.5, 17] minus V [10, 20]
    close(gae_of(C, 1.0)[0, :2], [-0.5, -3.0])
    # equals the n-step return with n >= T, minus V, on random multi-episode data
    g = torch.Generator().manual_seed(1)
    rewards, values = torch.randn(3, 6, 2, generator=g), torch.randn(3, 7, 2, generator=g)
    mask = t([1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]).unsqueeze(-1).expand(-1, -1, 2)
    term = t([0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]).unsqueeze(-1).expand(-1, -1, 2)
    mc = nstep_returns(rewards, values, term, mask, GAMMA, 6)
    close(gae(rewards, values, term, mask, GAMMA, 1.0), (mc - values[:, :-1]) * mask)


def test_gae_lambda_zero_is_td_error():
    close(gae_of(A, 0.0)[0], [1.0, -3.0, -26.0, 0.0])
    close(gae_of(B, 0.0)[0], [1.0, -3.0, -6.0])
    close(gae_of(C, 0.0)[0], [1.0, -3.0, 0.0, 0.0])


def test_gae_multi_agent_trailing_dims():
    batch = stack(A, B, C)
    adv = gae(batch["r"], batch["v"], batch["term"], batch["mask"], GAMMA, 0.5)
    assert adv.shape == (3, 4, 2)
    close(adv[..., 0], [[-1.375, -9.5, -26.0, 0.0], [-0.125, -4.5, -6.0, 0.0], [0.25, -3.0, 0.0, 0.0]])
    close(adv[..., 1], 2 * adv[..., 0])


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize("name", sorted(ADVANTAGE_ESTIMATORS))
def test_estimators_return_advantages_and_returns(name):
    batch = stack(A, B, C)
    r, v, term, mask = batch["r"], batch["v"], batch["term"], batch["mask"]
    advantages, returns = ADVANTAGE_ESTIMATORS[name](r, v, term, mask, GAMMA, nsteps=2, gae_lambda=0.5)
    assert advantages.shape == returns.shape == r.shape
    close(advantages, (returns - v[:, :-1]) * mask)
    assert torch.all(advantages[mask == 0] == 0)
    if name == "nstep":
        close(returns[0, :3, 0], [9.5, 4.0, 4.0])
    else:  # gae: returns = A + V = [-1.375 + 10, -9.5 + 20, -26 + 30]
        close(returns[0, :3, 0], [8.625, 10.5, 4.0])


@pytest.mark.parametrize("name", sorted(ADVANTAGE_ESTIMATORS))
def test_estimators_bootstrap_from_target_values(name):
    # B with a target critic V' = V + 8: advantages are (returns computed with V') - V
    r, v, term, mask = B["r"], B["v"], B["term"], B["mask"]
    target = v + 8.0
    advantages, returns = ADVANTAGE_ESTIMATORS[name](
        r, v, term, mask, GAMMA, nsteps=1, gae_lambda=0.0, target_values=target
    )
    # both reduce to the one-step target with V': r_t + 0.5 V'_{t+1} = [1 + 14, 2 + 19, 4 + 24]
    close(returns[0], [15.0, 21.0, 28.0])
    close(advantages[0], [15.0 - 10, 21.0 - 20, 28.0 - 30])
