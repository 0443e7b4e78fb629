"""``components.action_distributions``: the policies learners evaluate on stored actions."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, Normal

from components.action_distributions import CategoricalActions, DiagGaussianActions

B, T, N_AGENTS, DIM = 4, 5, 3, 2


def gaussian_case(std_rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean ``[B, T, n, dim]``, std ``[std_rows, dim]``, actions ``[B, T, n, dim]``)."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(B, T, N_AGENTS, DIM, generator=g, dtype=torch.float64)
    std = 0.1 + torch.rand(std_rows, DIM, generator=g, dtype=torch.float64)  # distinct per row and dim
    actions = mean + 2.0 * torch.randn(B, T, N_AGENTS, DIM, generator=g, dtype=torch.float64)
    return mean, std, actions


STD_ROWS = [pytest.param(N_AGENTS, id="std-per-agent"), pytest.param(1, id="std-shared")]


@pytest.mark.parametrize("std_rows", STD_ROWS)
def test_gaussian_log_prob_matches_torch_and_closed_form(std_rows):
    mean, std, actions = gaussian_case(std_rows)
    policy = DiagGaussianActions(mean, std)
    log_prob = policy.log_prob(actions)
    assert log_prob.shape == (B, T, N_AGENTS)

    reference = Independent(Normal(mean, std.expand_as(mean)), 1).log_prob(actions)
    torch.testing.assert_close(log_prob, reference, rtol=1e-12, atol=1e-12)

    s = std.expand_as(mean)  # [n or 1, dim] broadcasts over [B, T, n, dim]
    closed = (-((actions - mean) ** 2) / (2 * s**2) - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(log_prob, closed, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("std_rows", STD_ROWS)
def test_gaussian_entropy_matches_torch_and_closed_form(std_rows):
    mean, std, _ = gaussian_case(std_rows)
    entropy = DiagGaussianActions(mean, std).entropy()
    assert entropy.shape == (B, T, N_AGENTS)
    reference = Independent(Normal(mean, std.expand_as(mean)), 1).entropy()
    torch.testing.assert_close(entropy, reference, rtol=1e-12, atol=1e-12)
    # state-independent std: every sample of an agent has the same entropy
    per_agent = (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(std)).sum(-1)  # [n or 1]
    torch.testing.assert_close(entropy, per_agent.expand(B, T, N_AGENTS), rtol=1e-12, atol=1e-12)


def test_gaussian_std_rows_belong_to_their_agents():
    """Row i of a per-agent std is agent i's: changing it changes only agent i's log-probs."""
    mean, std, actions = gaussian_case(N_AGENTS)
    before = DiagGaussianActions(mean, std).log_prob(actions)
    std = std.clone()
    std[1] *= 2.0
    after = DiagGaussianActions(mean, std).log_prob(actions)
    assert torch.equal(after[..., [0, 2]], before[..., [0, 2]])
    assert not torch.allclose(after[..., 1], before[..., 1])


def test_gaussian_mode_is_the_mean_and_samples_have_the_std():
    mean, std, _ = gaussian_case(N_AGENTS)
    policy = DiagGaussianActions(mean, std)
    assert torch.equal(policy.mode, mean)
    assert torch.equal(policy.mean, mean)
    torch.manual_seed(0)
    samples = policy.sample((2000,))
    assert samples.shape == (2000, B, T, N_AGENTS, DIM)
    z = (samples - mean) / std  # standard normal if the std is applied per agent and dimension
    assert abs(z.mean().item()) < 0.01  # 4 standard errors of a mean over 240k samples: 0.008
    assert z.std().item() == pytest.approx(1.0, abs=0.01)


def test_gaussian_gradients_reach_mean_and_std():
    mean, std, actions = gaussian_case(1)
    mean, std = mean.requires_grad_(), std.requires_grad_()
    DiagGaussianActions(mean, std).log_prob(actions).sum().backward()
    torch.testing.assert_close(mean.grad, (actions - mean.detach()) / std.detach() ** 2)
    expected_std_grad = (((actions - mean.detach()) ** 2) / std.detach() ** 3 - 1 / std.detach()).sum((0, 1, 2))
    torch.testing.assert_close(std.grad, expected_std_grad.unsqueeze(0))


def test_categorical_log_prob_takes_stored_index_actions():
    g = torch.Generator().manual_seed(0)
    n_actions = 5
    probs = torch.softmax(torch.randn(B, T, N_AGENTS, n_actions, generator=g), dim=-1)
    actions = torch.randint(n_actions, (B, T, N_AGENTS, 1), generator=g)  # as the buffer stores them
    policy = CategoricalActions(probs)
    log_prob = policy.log_prob(actions)
    assert log_prob.shape == (B, T, N_AGENTS)
    torch.testing.assert_close(log_prob, probs.log().gather(-1, actions).squeeze(-1))
    torch.testing.assert_close(log_prob, Categorical(probs=probs).log_prob(actions.squeeze(-1)))
    # float-typed indices (as some code paths hand them over) give the same values
    torch.testing.assert_close(policy.log_prob(actions.float()), log_prob)
    torch.testing.assert_close(policy.entropy(), -(probs * probs.log()).sum(-1))


def test_categorical_zero_probability_actions():
    """Masked (unavailable) actions have probability 0: a hugely negative log-prob (torch clamps the
    probabilities to float eps, log(eps) ~= -15.9, instead of -inf) and no share of the entropy."""
    probs = torch.tensor([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    policy = CategoricalActions(probs)
    assert torch.all(policy.log_prob(torch.tensor([[1], [1]])) < -15)
    torch.testing.assert_close(policy.log_prob(torch.tensor([[2], [0]])), torch.tensor([math.log(0.5), 0.0]))
    torch.testing.assert_close(policy.entropy(), torch.tensor([math.log(2.0), 0.0]))
