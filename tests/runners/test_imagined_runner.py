"""``runners.imagined_runner.ImaginedRunner``: Lookahead's rollouts inside a learned model.

A stub model with a known schedule (state + 1 per step, reward = step number, rollout b terminates
at step b) pins down the batch layout: shapes, masks after a termination, the unfilled final slot
at the horizon and what learners make of it. A small real model trained on a one-step game whose
every transition terminates (the paper's toy game) ends every rollout after its first step.
"""

from __future__ import annotations

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from envs.toy_game import toy_reward
from modules.world_models.dynamics_model import DynamicsModel, ImaginedStep
from modules.world_models.model_trainer import ModelTrainer
from runners.imagined_runner import ImaginedRunner
from tests.factories import FakeLogger, make_test_args
from utils.returns import ADVANTAGE_ESTIMATORS

N_AGENTS, OBS_DIM, STATE_DIM, ACTION_DIM = 2, 4, 6, 3
HORIZON, ROLLOUTS = 4, 6  # rollouts 0..3 terminate at step b, rollouts 4 and 5 reach the horizon


def env_info(kind: str, obs_dim: int = OBS_DIM, state_dim: int = STATE_DIM, action_dim: int = ACTION_DIM) -> dict:
    info = {"n_agents": N_AGENTS, "obs_shape": obs_dim, "state_shape": state_dim, "n_actions": action_dim,
            "episode_limit": 10, "action_kind": kind}
    if kind == "continuous":
        info["action_low"] = [[0.0] * action_dim] * N_AGENTS
        info["action_high"] = [[1.0] * action_dim] * N_AGENTS
    return info


def build(info: dict, alg: str = "lookahead_mappo", **overrides):
    """An imagined runner acting with a lookahead controller (``alg``'s yaml, small sizes), its
    controller and args; attach a model with ``runner.setup``."""
    args = make_test_args(info, alg=alg, hidden_dim=16, lka_horizon=HORIZON, **overrides)
    scheme, groups, preprocess = build_scheme(info, args)
    torch.manual_seed(0)
    mac = mac_registry[args.mac](EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme, groups, args)
    return ImaginedRunner(args, FakeLogger()), mac, args, (scheme, groups, preprocess)


class ScheduledModel:
    """``step_with_obs``: next state = state + 1, reward = the step number (1, 2, ...), every
    agent observes the step number, rollout b terminates at step b; records the actions it got."""

    def __init__(self) -> None:
        self.steps_taken = 0
        self.actions: list[torch.Tensor] = []

    def step_with_obs(self, state: torch.Tensor, actions: torch.Tensor) -> ImaginedStep:
        n = state.shape[0]
        terminates = (torch.arange(n) == self.steps_taken).float()
        self.steps_taken += 1
        self.actions.append(actions.clone())
        step = float(self.steps_taken)
        return ImaginedStep(state + 1, torch.full((n, 1), step), terminates, torch.full((n, N_AGENTS, OBS_DIM), step))


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_batch_layout_with_scheduled_terminations(kind):
    runner, mac, args, setup = build(env_info(kind))
    model = ScheduledModel()
    runner.setup(*setup, mac.lookahead, model)
    start_states = torch.randn(ROLLOUTS, STATE_DIM)
    start_obs = torch.randn(ROLLOUTS, N_AGENTS, OBS_DIM)
    batch = runner.run(start_states, start_obs)

    assert (batch.batch_size, batch.max_seq_length) == (ROLLOUTS, HORIZON + 1)
    steps = torch.arange(HORIZON + 1)
    rows = torch.arange(ROLLOUTS)[:, None]
    expected_filled = (steps[None, :] <= rows) & (steps[None, :] < HORIZON)  # up to its termination, never slot H
    assert torch.equal(batch["filled"][:, :, 0].bool(), expected_filled)
    expected_terminated = (steps[None, :] == rows) & (steps[None, :] < HORIZON)
    assert torch.equal(batch["terminated"][:, :, 0].bool(), expected_terminated)
    # states follow the model, up to the final slot, which holds the last predicted state
    torch.testing.assert_close(batch["state"], start_states[:, None] + steps[None, :, None].float())
    torch.testing.assert_close(batch["obs"][:, 0], start_obs)
    assert torch.all(batch["obs"][:, 1:] == steps[1:, None, None].float())
    filled = expected_filled[:, :HORIZON]
    assert torch.all(batch["reward"][:, :HORIZON, 0][filled] == (steps[:HORIZON] + 1).expand(ROLLOUTS, -1)[filled])
    # the actions the model got are the stored ones, with the acting controller's log-probs
    stored = batch["actions"][:, :HORIZON]
    given = torch.stack(model.actions, dim=1)
    assert torch.equal(stored[..., 0] if kind == "discrete" else stored, given)
    with torch.no_grad():
        log_probs = mac.lookahead.policy_distribution(mac.lookahead.unroll(batch)).log_prob(stored)
    torch.testing.assert_close(batch["log_prob"][:, :HORIZON, :, 0][filled], log_probs[filled])
    assert torch.all(batch["avail_actions"] == 1)
    for name, value in batch.transition_data.items():
        assert not value.requires_grad, name

    # what a learner makes of it: V = 1 everywhere, rewards 0, lambda 0 -> A = gamma * V(next) - 1 at
    # the last step of a rollout that reached the horizon (bootstrapped), -1 where one terminated
    mask = batch["filled"][:, :-1].float()
    values = torch.ones(ROLLOUTS, HORIZON + 1, 1)
    advantages, _ = ADVANTAGE_ESTIMATORS["gae"](
        torch.zeros_like(mask), values, batch["terminated"][:, :-1].float(), mask, 0.5, gae_lambda=0.0
    )
    last = expected_filled[:, :HORIZON].sum(1) - 1
    last_advantages = advantages[torch.arange(ROLLOUTS), last, 0]
    assert torch.equal(last_advantages, torch.tensor([-1.0, -1.0, -1.0, -1.0, -0.5, -0.5]))


def toy_transitions(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One-step games of the paper's toy game: constant state [1] and observations, random actions
    in [0, 1], reward R(a0, a1), every transition a true termination."""
    actions = torch.rand(n, N_AGENTS, 1, generator=generator)
    reward = torch.tensor([[toy_reward(a[0, 0].item(), a[1, 0].item())] for a in actions])
    return {
        "state": torch.ones(n, 1), "actions": actions, "reward": reward, "next_state": torch.ones(n, 1),
        "terminated": torch.ones(n), "episode_end": torch.ones(n, dtype=torch.bool),
        "next_obs": torch.ones(n, N_AGENTS, 1),
    }


def test_a_model_trained_on_terminating_games_ends_every_rollout_after_one_step():
    info = env_info("continuous", obs_dim=1, state_dim=1, action_dim=1)
    runner, mac, args, setup = build(info)
    torch.manual_seed(1)
    model = DynamicsModel.from_env_info(info, 1, hidden_dim=32, hidden_layers=2)
    trainer = ModelTrainer(model, lr=3e-3, batch_size=64, buffer_size=1000)
    trainer.add_transitions(toy_transitions(512, torch.Generator().manual_seed(0)))
    trainer.train_steps(150)
    assert trainer.validation_metrics()["model_termination_accuracy"] == 1.0
    runner.setup(*setup, mac.lookahead, model)
    batch = runner.run(torch.ones(ROLLOUTS, 1), torch.ones(ROLLOUTS, N_AGENTS, 1))

    assert torch.all(batch["filled"][:, 0] == 1) and torch.all(batch["filled"][:, 1:] == 0)
    assert torch.all(batch["terminated"][:, 0] == 1) and torch.all(batch["terminated"][:, 1:] == 0)
    reward = batch["reward"][:, 0, 0]
    actions = batch["actions"][:, 0, :, 0].clamp(0, 1)
    true_reward = torch.tensor([toy_reward(a0.item(), a1.item()) for a0, a1 in actions])
    assert torch.all((reward - true_reward).abs() < 0.5), (reward, true_reward)
    for name, value in batch.transition_data.items():
        assert not value.requires_grad, name
