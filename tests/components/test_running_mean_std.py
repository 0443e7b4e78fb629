"""``components.running_mean_std.RunningMeanStd`` (value and reward normalisation) against numpy.

After any sequence of masked updates the running statistics must equal numpy's mean and (population)
variance of all the valid rows seen so far; the initial ``epsilon`` pseudo-count (mean 0, var 1)
only shifts them by about ``epsilon / n``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.running_mean_std import RunningMeanStd

EPSILON = 1e-4


def chunks(seed: int = 0, shape: tuple[int, ...] = (3,)):
    """Three ``[B, T, *shape]`` batches of different sizes, scales and offsets, with ``[B, T, 1]`` masks
    that drop whole rows (mostly padding at the end of each episode, as in the learners)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b, t, scale, offset in ((4, 6, 1.0, 5.0), (2, 9, 3.0, -2.0), (5, 3, 0.5, 10.0)):
        x = offset + scale * torch.randn(b, t, *shape, generator=g)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        mask = (torch.arange(t)[None, :] < lengths[:, None]).float().unsqueeze(-1)
        out.append((x, mask))
    return out


def valid_rows(x: torch.Tensor, mask: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    rows = x.reshape(-1, *shape).double().numpy()
    return rows[mask.reshape(rows.shape[0], -1)[:, 0].numpy() > 0]


@pytest.mark.parametrize("shape", [(3,), ()], ids=["vector", "scalar"])
def test_masked_updates_match_numpy_over_all_valid_rows(shape):
    stats = RunningMeanStd(shape, epsilon=EPSILON)
    seen = []
    for x, mask in chunks(shape=shape):
        if not shape:
            mask = mask[..., 0]  # [B, T] for scalars
        stats.update(x, mask)
        seen.append(valid_rows(x, mask, shape))
        data = np.concatenate(seen)
        n = len(data)
        assert stats.count == pytest.approx(n + EPSILON)
        # the pseudo-count: (mean, var) of the data merged with EPSILON samples of mean 0, var 1
        mean = data.sum(0) / (n + EPSILON)
        var = (data.var(0) * n + EPSILON * 1.0 + data.mean(0) ** 2 * n * EPSILON / (n + EPSILON)) / (n + EPSILON)
        np.testing.assert_allclose(stats.mean.numpy(), mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(stats.var.numpy(), var, rtol=1e-4, atol=1e-5)
        # and, up to the tiny pseudo-count, numpy's statistics of the data itself
        np.testing.assert_allclose(stats.mean.numpy(), data.mean(0), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(stats.var.numpy(), data.var(0), rtol=1e-3, atol=1e-3)
    assert n < sum(x.reshape(-1, *shape).shape[0] for x, _ in chunks(shape=shape))  # the masks dropped rows


def test_order_and_split_of_the_updates_do_not_matter():
    batches = chunks(seed=1)
    one_by_one, reversed_order, all_at_once = (RunningMeanStd((3,), epsilon=EPSILON) for _ in range(3))
    for x, mask in batches:
        one_by_one.update(x, mask)
    for x, mask in reversed(batches):
        reversed_order.update(x, mask)
    rows = torch.cat([x.reshape(-1, 3)[mask.reshape(-1) > 0] for x, mask in batches])
    all_at_once.update(rows)
    for other in (reversed_order, all_at_once):
        torch.testing.assert_close(one_by_one.mean, other.mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(one_by_one.var, other.var, rtol=1e-5, atol=1e-6)
        assert one_by_one.count == pytest.approx(other.count)


def test_per_agent_values_with_one_mask_column():
    """The learners pass ``[B, T, n_agents]`` returns with a ``[B, T, 1]`` mask: per-agent statistics."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 4, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + torch.tensor([0.0, 1.0, -1.0, 5.0])
    mask = torch.ones(3, 5, 1)
    mask[0, 3:] = 0
    mask[2, 1:] = 0
    stats = RunningMeanStd((4,), epsilon=EPSILON)
    stats.update(x, mask)
    data = valid_rows(x, mask, (4,))
    assert data.shape == (5 + 3 + 1, 4)
    np.testing.assert_allclose(stats.mean.numpy(), data.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var.numpy(), data.var(0), rtol=1e-3, atol=1e-4)


def test_a_fully_masked_update_changes_nothing():
    stats = RunningMeanStd((3,), epsilon=EPSILON)
    x, mask = chunks()[0]
    stats.update(x, mask)
    before = (stats.mean.clone(), stats.var.clone(), stats.count)
    stats.update(100 + x, torch.zeros_like(mask))
    assert torch.equal(stats.mean, before[0]) and torch.equal(stats.var, before[1]) and stats.count == before[2]


def test_normalise_and_denormalise_round_trip():
    stats = RunningMeanStd((3,), epsilon=EPSILON)
    for x, mask in chunks(seed=3):
        stats.update(x, mask)
    x, mask = chunks(seed=3)[1]
    normalised = stats.normalise(x)
    torch.testing.assert_close(stats.denormalise(normalised), x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stats.normalise(stats.denormalise(x)), x, rtol=1e-5, atol=1e-5)
    # normalise is (x - mean) / std of the tracked data: the data seen so far comes out standard
    rows = torch.cat([xb.reshape(-1, 3)[mb.reshape(-1) > 0] for xb, mb in chunks(seed=3)])
    z = stats.normalise(rows)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(z.var(0, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


def test_state_dict_round_trip_continues_identically():
    a, b = RunningMeanStd((3,), epsilon=EPSILON), RunningMeanStd((3,), epsilon=EPSILON)
    first, *rest = chunks(seed=4)
    a.update(*first)
    b.load_state_dict(a.state_dict())
    for x, mask in rest:
        a.update(x, mask)
        b.update(x, mask)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var) and a.count == b.count
