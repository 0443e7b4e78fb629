"""``utils.returns`` on rows holding several episodes, as rollout segments store them.

A row may hold one episode's tail, an unfilled slot with its final state (mask 0), the next episode,
and so on. Every estimator must treat each piece exactly as if it were alone in its own row: the
same numbers as computing the pieces one by one, whatever the values in the gap slots.
"""

from __future__ import annotations

import pytest
import torch

from utils.returns import ADVANTAGE_ESTIMATORS

GAMMA = 0.9


def pieces_row(seed: int):
    """One row of T=11 with three pieces: steps 0-2 terminated (final slot 3), steps 4-7 cut by a time limit
    (final state in slot 8), steps 9-10 running to the row's end (bootstrapped from slot 11)."""
    g = torch.Generator().manual_seed(seed)
    T = 11
    rewards = torch.randn(1, T, 2, generator=g)
    values = torch.randn(1, T + 1, 2, generator=g)
    mask = torch.tensor([1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1], dtype=torch.float32)
    terminated = torch.tensor([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float32)
    expand = lambda x: x.view(1, T, 1).expand(1, T, 2).clone()  # noqa: E731
    pieces = [(0, 3, True), (4, 8, False), (9, 11, False)]  # [start, end) of the transitions, terminated
    return rewards, values, expand(terminated), expand(mask), pieces


def alone(rewards, values, terminated, start: int, end: int):
    """The piece [start, end) in a row of its own: transitions and values start..end (final state)."""
    length = end - start
    return (rewards[:, start:end], values[:, start : end + 1], terminated[:, start:end],
            torch.ones(1, length, rewards.shape[-1]))


@pytest.mark.parametrize("name, options", [
    ("gae", dict(gae_lambda=0.95)),
    ("gae", dict(gae_lambda=1.0)),
    ("nstep", dict(nsteps=1)),
    ("nstep", dict(nsteps=3)),
    ("nstep", dict(nsteps=20)),
])
@pytest.mark.parametrize("with_target", [False, True])
def test_each_piece_of_a_row_is_estimated_as_if_alone(name, options, with_target):
    estimator = ADVANTAGE_ESTIMATORS[name]
    rewards, values, terminated, mask, pieces = pieces_row(seed=0)
    target = values + 0.5 if with_target else None
    gap_garbage = mask[..., :1] == 0  # rewards in the gap slots must not leak anywhere
    rewards = torch.where(gap_garbage, torch.full_like(rewards, 1000.0), rewards)
    advantages, returns = estimator(rewards, values, terminated, mask, GAMMA, target_values=target, **options)
    assert torch.all(advantages[mask == 0] == 0)
    for start, end, _ in pieces:
        piece = alone(rewards, values, terminated, start, end)
        piece_target = None if target is None else target[:, start : end + 1]
        expected_adv, expected_ret = estimator(*piece, GAMMA, target_values=piece_target, **options)
        torch.testing.assert_close(advantages[:, start:end], expected_adv, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(returns[:, start:end], expected_ret, rtol=1e-5, atol=1e-5)


def test_pieces_by_hand_one_step():
    """n = 1: G_t = r_t + gamma (1 - term_t) V(s_{t+1}) with V(s_{t+1}) the piece's own next slot,
    so the last transition of a piece bootstraps from its final state (or 0 if terminated)."""
    rewards, values, terminated, mask, _ = pieces_row(seed=1)
    _, returns = ADVANTAGE_ESTIMATORS["nstep"](rewards, values, terminated, mask, GAMMA, nsteps=1)
    expected = rewards + GAMMA * (1 - terminated) * values[:, 1:]
    valid = mask.bool()
    torch.testing.assert_close(returns[valid], expected[valid])
    # the terminated piece's last step: no bootstrap; the time-limit piece's: from slot 8
    torch.testing.assert_close(returns[0, 2], rewards[0, 2])
    torch.testing.assert_close(returns[0, 7], rewards[0, 7] + GAMMA * values[0, 8])
