"""Critic output shapes and input wiring (``modules.critics``)."""

from __future__ import annotations

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from modules.critics import REGISTRY as critic_registry
from tests.factories import make_test_args

ENV_INFO = {"n_agents": 3, "obs_shape": 5, "state_shape": 7, "n_actions": 4, "episode_limit": 6}
BATCH = 2


def make_critic_args(**overrides):
    return make_test_args(ENV_INFO, **{"hidden_dim": 16, **overrides})


def make_batch(args) -> EpisodeBatch:
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    batch = EpisodeBatch(scheme, groups, BATCH, ENV_INFO["episode_limit"] + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(0)
    T, n = batch.max_seq_length, ENV_INFO["n_agents"]
    batch.update(
        {
            "obs": torch.randn(BATCH, T, n, ENV_INFO["obs_shape"], generator=g),
            "state": torch.randn(BATCH, T, ENV_INFO["state_shape"], generator=g),
            "actions": torch.randint(0, ENV_INFO["n_actions"], (BATCH, T, n, 1), generator=g),
        }
    )
    return batch


CRITICS = ["cv_critic", "cv_critic_ns", "state_v_critic", "ac_critic", "ac_critic_ns"]


@pytest.mark.parametrize("critic_type", CRITICS)
def test_critic_output_shape(critic_type):
    args = make_critic_args(critic_type=critic_type)
    batch = make_batch(args)
    torch.manual_seed(0)
    critic = critic_registry[critic_type](batch.scheme, args)
    values = critic(batch)
    assert values.shape == (BATCH, batch.max_seq_length, ENV_INFO["n_agents"], 1)
    assert torch.isfinite(values).all()
    # one step gives the same numbers as the full pass
    step = critic(batch, t=3)
    assert step.shape == (BATCH, 1, ENV_INFO["n_agents"], 1)
    torch.testing.assert_close(step[:, 0], values[:, 3])
    # values are differentiable w.r.t. every critic parameter
    values.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())


@pytest.mark.parametrize("critic_type", ["cv_critic", "cv_critic_ns", "state_v_critic"])
@pytest.mark.parametrize("individual_obs, last_action", [(True, False), (False, True), (True, True)])
def test_central_v_optional_inputs(critic_type, individual_obs, last_action):
    args = make_critic_args(critic_type=critic_type, obs_individual_obs=individual_obs, obs_last_action=last_action)
    batch = make_batch(args)
    critic = critic_registry[critic_type](batch.scheme, args)
    n, obs, state, acts = ENV_INFO["n_agents"], ENV_INFO["obs_shape"], ENV_INFO["state_shape"], ENV_INFO["n_actions"]
    expected = state + individual_obs * n * obs + last_action * n * acts + (n if critic_type == "cv_critic" else 0)
    inputs = critic._build_inputs(batch, slice(None))
    rows = 1 if critic_type == "state_v_critic" else n  # V(s) takes each step's features once
    assert inputs.shape == (BATCH, batch.max_seq_length, rows, expected)
    assert critic(batch).shape == (BATCH, batch.max_seq_length, n, 1)


def test_central_v_sees_the_state_not_the_observations():
    args = make_critic_args(critic_type="cv_critic")
    batch = make_batch(args)
    critic = critic_registry["cv_critic"](batch.scheme, args)
    with torch.no_grad():
        before = critic(batch)
        batch["obs"].add_(1.0)
        torch.testing.assert_close(critic(batch), before)
        batch["state"][:, 2].add_(1.0)
        after = critic(batch)
    assert not torch.allclose(after[:, 2], before[:, 2])
    torch.testing.assert_close(after[:, 3:], before[:, 3:])


def test_state_v_is_one_value_per_step_whose_loss_is_the_loss_over_steps():
    """HARL's V(s): every agent reads the same value, and the learners' value loss (a mean over the
    agents' rows, all with the team's target) has the gradient of the plain mean over steps."""
    args = make_critic_args(critic_type="state_v_critic")
    batch = make_batch(args)
    critic = critic_registry["state_v_critic"](batch.scheme, args)
    values = critic(batch)
    assert torch.equal(values, values[:, :, :1].expand_as(values))
    targets = torch.randn(values.shape[:2], generator=torch.Generator().manual_seed(1))
    over_agent_rows = ((values[..., 0] - targets[..., None]) ** 2).mean()
    rows_grad = torch.autograd.grad(over_agent_rows, list(critic.parameters()))
    over_steps = ((critic.net(critic._build_inputs(batch, slice(None)))[:, :, 0, 0] - targets) ** 2).mean()
    steps_grad = torch.autograd.grad(over_steps, list(critic.parameters()))
    for a, b in zip(rows_grad, steps_grad):
        torch.testing.assert_close(a, b)
    with torch.no_grad():  # it reads the state (not the observations) and no agent id
        batch["obs"].add_(1.0)
        torch.testing.assert_close(critic(batch), values.detach())
        batch["state"][:, 2].add_(1.0)
        assert not torch.allclose(critic(batch)[:, 2], values[:, 2])


def test_ac_critic_sees_only_its_own_observation():
    args = make_critic_args(critic_type="ac_critic")
    batch = make_batch(args)
    critic = critic_registry["ac_critic"](batch.scheme, args)
    with torch.no_grad():
        before = critic(batch)
        batch["state"].add_(1.0)
        torch.testing.assert_close(critic(batch), before)
        batch["obs"][:, :, 1].add_(1.0)
        after = critic(batch)
    torch.testing.assert_close(after[:, :, [0, 2]], before[:, :, [0, 2]])
    assert not torch.allclose(after[:, :, 1], before[:, :, 1])
