"""The Lookahead paper's toy game (``envs.toy_game``), directly and through ``gymma``."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from envs import REGISTRY, MultiAgentEnv
from envs.toy_game import TOY_GAME_ID, ToyGame, ToyGameDynamics, best_response, toy_reward

KEY = "envs.toy_game:ToyGame-v0"


def make(key: str = KEY, time_limit: int = 1, common_reward: bool = True,
         reward_scalarisation: str = "sum") -> MultiAgentEnv:
    return REGISTRY["gymma"](key=key, time_limit=time_limit, seed=0, common_reward=common_reward,
                             reward_scalarisation=reward_scalarisation)


@pytest.mark.parametrize("actions,expected", [([1.0, 1.0], 4.0), ([0.1, 0.1], 0.301), ([0.0, 1.0], -2.0),
                                              ([1.0, 0.0], 2.0), ([0.5, 0.2], 0.125 - 0.18 + 1.5)])
def test_reward_formula(actions: list[float], expected: float) -> None:
    assert toy_reward(*actions) == pytest.approx(expected)
    env = ToyGame()
    env.reset(seed=0)
    _, rewards, term, trunc, info = env.step([np.array([a], np.float32) for a in actions])
    assert rewards == [pytest.approx(expected)] * 2 and term is True and trunc is False


def test_optimum_and_best_response() -> None:
    grid = np.linspace(0, 1, 101)
    values = np.array([[toy_reward(a0, a1) for a1 in grid] for a0 in grid])
    assert np.unravel_index(values.argmax(), values.shape) == (100, 100) and values.max() == pytest.approx(4.0)
    for i, a0 in enumerate(grid):
        assert grid[values[i].argmax()] == pytest.approx(best_response(a0))


def test_env_info_through_gymma_and_alias() -> None:
    for key in (KEY, "toy"):
        env = make(key)
        info = env.get_env_info()
        assert isinstance(info.pop("true_dynamics"), ToyGameDynamics)
        assert info == {
            "state_shape": 1, "obs_shape": 1, "n_agents": 2, "episode_limit": 1, "action_kind": "continuous",
            "n_actions": 1, "action_dim": 1, "action_low": [[0.0], [0.0]], "action_high": [[1.0], [1.0]]}
        obs, _ = env.reset()
        assert [o.tolist() for o in obs] == [[1.0], [1.0]] and env.get_state().tolist() == [1.0]
        assert env.get_avail_actions() == [[1], [1]]


def test_registered_on_import_with_tuple_spaces() -> None:
    spec = gymnasium.spec(TOY_GAME_ID)
    assert spec.max_episode_steps is None
    env = gymnasium.make(TOY_GAME_ID, disable_env_checker=True)
    assert env.unwrapped.n_agents == 2
    assert isinstance(env.observation_space, gymnasium.spaces.Tuple) and len(env.observation_space) == 2
    assert env.action_space[0] == gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)


@pytest.mark.parametrize("scalarisation", ["sum", "mean"])
def test_team_reward_is_r_not_2r(scalarisation: str) -> None:
    env = make(reward_scalarisation=scalarisation)
    env.reset()
    _, reward, _, _, _ = env.step(np.array([[1.0], [1.0]]))
    assert isinstance(reward, float) and reward == pytest.approx(4.0)
    per_agent = make(common_reward=False)
    per_agent.reset()
    assert per_agent.step(np.array([[0.1], [0.1]]))[1] == [pytest.approx(0.301)] * 2


def test_out_of_bound_actions_are_clipped_by_the_wrapper() -> None:
    env = make()
    received: list[Any] = []
    game = env._env.unwrapped
    original = game.step
    game.step = lambda actions: received.append([np.asarray(a).tolist() for a in actions]) or original(actions)
    env.reset()
    _, reward, _, _, info = env.step(torch.tensor([[1.5], [-0.2]]))
    assert received == [[[1.0], [0.0]]]  # the env only sees clipped actions
    assert info["actions"] == [1.0, 0.0] and reward == pytest.approx(toy_reward(1.0, 0.0)) == 2.0


@pytest.mark.parametrize("time_limit", [1, 10])
def test_episode_terminates_after_one_step(time_limit: int) -> None:
    """A one-shot game: the single step is a termination (no bootstrap), whatever the time limit."""
    env = make(time_limit=time_limit)
    for _ in range(3):
        env.reset()
        _, _, terminated, _, info = env.step(np.array([[0.3], [0.7]]))
        assert terminated is True and info["episode_limit"] is False


def test_published_dynamics_are_the_game_batched() -> None:
    """``true_dynamics`` (what ``lka_model: env`` imagines with): R of each clipped joint action,
    every step terminal, state and observations the constant [1.0]; it survives pickling (the env
    info crosses to env workers)."""
    dynamics = pickle.loads(pickle.dumps(make().get_env_info()["true_dynamics"]))
    actions = torch.tensor([[[0.1], [0.1]], [[1.0], [1.0]], [[0.7], [0.2]], [[1.5], [-0.3]]])
    next_state, reward, termination, next_obs = dynamics(torch.ones(4, 1), actions)
    expected = [toy_reward(0.1, 0.1), 4.0, toy_reward(0.7, 0.2), toy_reward(1.0, 0.0)]
    torch.testing.assert_close(reward[:, 0], torch.tensor(expected))
    assert termination.tolist() == [1.0] * 4
    assert next_state.tolist() == [[1.0]] * 4 and next_obs.shape == (4, 2, 1) and torch.all(next_obs == 1)


def test_envs_without_dynamics_publish_none() -> None:
    env = REGISTRY["gymma"](key="lbforaging:Foraging-8x8-2p-3f-v3", time_limit=5, seed=0)
    assert "true_dynamics" not in env.get_env_info()
    env.close()
