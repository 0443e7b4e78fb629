"""Google Research Football through ``gymma`` (``gfootball:<scenario>`` keys), on the real games.

Skipped where gfootball is not installed (``scripts/install_football.sh``); CI installs it.
The reference for the state is built here from gfootball's raw observation (one dict per
controlled player), independently of ``envs.gfootball``'s slicing of the simple115v2 vectors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from envs import REGISTRY, EnvArgsError, EnvKeyError, MultiAgentEnv
from envs.keys import parse_key
from tests.support import processes

pytest.importorskip("gfootball")

SRC = Path(__file__).resolve().parents[2] / "src"
CONFIG = SRC / "config" / "envs" / "gfootball.yaml"

PAPER = {
    "gfootball:academy_3_vs_1_with_keeper": 3,
    "gfootball:academy_counterattack_hard": 4,
    "gfootball:academy_corner": 4,
}
"""The paper's three scenarios and their default number of agents."""

RIGHT, SHOT, IDLE = 5, 12, 0
"""gfootball's default action set: move right, shoot, do nothing."""


def make(key: str, time_limit: int = 100, seed: int | None = 0, common_reward: bool = True,
         reward_scalarisation: str = "sum", **kwargs: Any) -> MultiAgentEnv:
    """Build through the registry exactly as the runner does."""
    return REGISTRY["gymma"](key=key, time_limit=time_limit, seed=seed, common_reward=common_reward,
                             reward_scalarisation=reward_scalarisation, **kwargs)


def raw_observation(env: MultiAgentEnv) -> list[dict[str, Any]]:
    return env._env.raw_observation()


def reference_state(raw: list[dict[str, Any]]) -> np.ndarray:
    """The documented state from the raw observation: both teams' positions and directions
    (11 players each, missing ones -1), ball position, direction, owner one-hot, game-mode
    one-hot, then one 11-entry active-player one-hot per controlled player."""
    first = raw[0]
    parts = []
    for name in ("left_team", "left_team_direction", "right_team", "right_team_direction"):
        values = np.asarray(first[name], dtype=np.float64).reshape(-1)
        parts.append(np.concatenate([values, -np.ones(22 - values.size)]))
    parts += [first["ball"], first["ball_direction"], np.eye(3)[first["ball_owned_team"] + 1], np.eye(7)[first["game_mode"]]]
    for player in raw:
        parts.append(np.zeros(11) if player["active"] == -1 else np.eye(11)[player["active"]])
    return np.concatenate(parts).astype(np.float32)


def reference_obs(player: dict[str, Any], state: np.ndarray) -> np.ndarray:
    """simple115v2 of one controlled player: the shared entries with its active one-hot at 97."""
    active = np.zeros(11) if player["active"] == -1 else np.eye(11)[player["active"]]
    return np.concatenate([state[:97], active, state[97:104]]).astype(np.float32)


def play(env: MultiAgentEnv, actions, max_steps: int = 1000) -> list[tuple]:
    """Reset and step until the episode ends; ``actions(t)`` gives the joint action of step t."""
    env.reset()
    steps = []
    for t in range(max_steps):
        steps.append(env.step(actions(t)))
        if steps[-1][2] or steps[-1][3]:
            return steps
    raise AssertionError("episode did not end")


def random_actions(seed: int, n_agents: int, length: int = 1000):
    table = np.random.default_rng(seed).integers(0, 19, size=(length, n_agents))
    return lambda t: table[t]


# ------------------------------------------------------------------ keys and errors
def test_key_form() -> None:
    parsed = parse_key("gfootball:academy_3_vs_1_with_keeper")
    assert (parsed.kind, parsed.module, parsed.scenario, parsed.env_id) == (
        "gfootball", "gfootball", "academy_3_vs_1_with_keeper", None)
    assert parse_key("gfootball:1_vs_1_easy").scenario == "1_vs_1_easy"
    for bad in ("gfootball:", "gfootball:academy corner", "gfootball:a.b"):
        with pytest.raises(EnvKeyError, match="gfootball:<scenario>"):
            parse_key(bad)


def test_bad_scenario_and_env_args_are_named() -> None:
    with pytest.raises(EnvKeyError, match="no scenario 'academy_nope'.*academy_corner"):
        make("gfootball:academy_nope")
    with pytest.raises(EnvKeyError, match="no scenario 'tests'"):  # a package of gfootball.scenarios, not a scenario
        make("gfootball:tests")
    for n_agents in (0, 5, "3", True, 2.0):
        with pytest.raises(EnvArgsError, match="n_agents.*from 1 to 4"):
            make("gfootball:academy_3_vs_1_with_keeper", n_agents=n_agents)
    with pytest.raises(EnvArgsError, match="'representation'"):
        make("gfootball:academy_3_vs_1_with_keeper", representation="raw")
    with pytest.raises(EnvArgsError, match="rewards"):
        make("gfootball:academy_3_vs_1_with_keeper", rewards="checkpoints")
    with pytest.raises(EnvArgsError, match="team_reward"):
        make("gfootball:academy_3_vs_1_with_keeper", team_reward="sum")
    with pytest.raises(EnvArgsError, match="no_such_option"):
        make("gfootball:academy_3_vs_1_with_keeper", no_such_option=1)


def test_missing_gfootball_names_the_install_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gfootball.env", None)  # makes `import gfootball.env` fail
    with pytest.raises(EnvKeyError, match=r"gfootball:academy_corner.*scripts/install_football\.sh"):
        make("gfootball:academy_corner")


def test_gfootball_is_imported_only_for_its_keys() -> None:
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from envs import REGISTRY\n"
        "REGISTRY['gymma'](key='lbforaging:Foraging-8x8-2p-3f-v3', time_limit=5).reset()\n"
        "print('gfootball' in sys.modules, 'gym' in sys.modules)\n" % str(SRC)
    )
    out = processes.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ the paper's three scenarios
@pytest.mark.parametrize("key", PAPER)
def test_paper_scenario_env_info_and_shapes(key: str) -> None:
    n = PAPER[key]
    env = make(key)
    info = env.get_env_info()
    state_to_obs = info.pop("state_to_obs")
    assert info == {
        "state_shape": 104 + 11 * n, "obs_shape": 115, "n_agents": n, "episode_limit": 100,
        "action_kind": "discrete", "n_actions": 19, "action_dim": 1, "state_to_obs_exact": True,
    }
    assert (state_to_obs.state_dim, state_to_obs.n_agents, state_to_obs.obs_dim) == (104 + 11 * n, n, 115)
    obs, _ = env.reset()
    assert len(obs) == n and all(o.shape == (115,) and o.dtype == np.float32 for o in obs)
    state = env.get_state()
    assert state.shape == (104 + 11 * n,) and state.dtype == np.float32
    assert env.get_avail_actions() == [[1] * 19] * n
    env.close()


@pytest.mark.parametrize("key", PAPER)
def test_paper_scenario_obs_and_state_match_the_raw_observation(key: str) -> None:
    """Every step: the state is the documented layout built from the raw observation, each
    agent's observation is its simple115v2 vector, and the published ``state_to_obs`` inverts the state."""
    n = PAPER[key]
    env = make(key, seed=4)
    env.reset()
    state_to_obs = env.get_env_info()["state_to_obs"]
    assert env.get_env_info()["state_to_obs_exact"]
    actions = random_actions(1, n)
    for t in range(25):
        raw = raw_observation(env)
        state = env.get_state()
        np.testing.assert_allclose(state, reference_state(raw), atol=1e-6)
        obs = np.stack(env.get_obs())
        for i in range(n):
            np.testing.assert_allclose(obs[i], reference_obs(raw[i], state), atol=1e-6)
        np.testing.assert_array_equal(state_to_obs(torch.from_numpy(state)).numpy(), obs)
        _, _, term, trunc, _ = env.step(actions(t))
        if term or trunc:
            env.reset()
    env.close()


@pytest.mark.parametrize("key", PAPER)
def test_paper_scenario_state_follows_ball_and_players(key: str) -> None:
    """Running right with the ball moves the ball and the players in the state; every
    controlled player is marked in its own one-hot."""
    n = PAPER[key]
    env = make(key, seed=1)
    env.reset()
    start = env.get_state().copy()
    states = [start]
    for t in range(8):
        _, _, term, trunc, _ = env.step([RIGHT] * n)
        states.append(env.get_state().copy())
        if term or trunc:
            break
    states = np.stack(states)
    assert np.ptp(states[:, 88:90], axis=0).max() > 0.01, "ball x/y unchanged"  # ball position
    assert np.ptp(states[:, 0:22], axis=0).max() > 0.01, "left players unchanged"  # left positions
    assert np.ptp(states[:, 44:66], axis=0).max() > 0.001, "right players unchanged"  # right positions
    active = states[-1, 104:].reshape(n, 11)
    assert (active.sum(axis=1) == 1).all()
    assert len(set(active.argmax(axis=1))) == n  # different players
    env.close()


@pytest.mark.parametrize("key", [
    # the corner's four agents: counterattack_hard has four too, the same wrapper path
    pytest.param(key, marks=pytest.mark.slow) if key == "gfootball:academy_corner" else key for key in PAPER
])
def test_paper_scenario_team_reward_is_the_mean_of_agent_rewards(key: str) -> None:
    """Same seed, same actions: the team reward (common_reward) is the mean of the agents'
    gfootball rewards (not their sum, whatever reward_scalarisation says); team_reward='first'
    gives agent 0's; checkpoint rewards come in steps of 0.1."""
    n = PAPER[key]
    team = make(key, seed=2)
    first = make(key, seed=2, team_reward="first", reward_scalarisation="mean")
    agents = make(key, seed=2, common_reward=False)
    actions = random_actions(3, n)
    paid = 0.0
    for episode in range(3):
        team_steps = play(team, lambda t: actions(t + 100 * episode))
        first_steps = play(first, lambda t: actions(t + 100 * episode))
        agent_steps = play(agents, lambda t: actions(t + 100 * episode))
        assert len(team_steps) == len(agent_steps) == len(first_steps)
        for (obs_t, r_team, *_), (_, r_first, *_), (obs_a, r_agents, *_) in zip(team_steps, first_steps, agent_steps):
            np.testing.assert_array_equal(np.stack(obs_t), np.stack(obs_a))
            assert isinstance(r_team, float) and len(r_agents) == n
            assert r_team == pytest.approx(np.mean(r_agents))
            assert r_first == pytest.approx(r_agents[0])
            np.testing.assert_allclose(np.round(np.asarray(r_agents) * 10), np.asarray(r_agents) * 10, atol=1e-5)
            paid += sum(r_agents)
    assert paid > 0, "no checkpoint reward in three episodes"
    for env in (team, first, agents):
        env.close()


def test_scoring_only_rewards() -> None:
    env = make("gfootball:academy_3_vs_1_with_keeper", rewards="scoring", common_reward=False)
    steps = play(env, random_actions(0, 3))
    assert all(r == [0.0, 0.0, 0.0] for _, r, *_ in steps)  # random play does not score here
    env.close()


# ------------------------------------------------------------------ goals, score rate, episode ends
@pytest.mark.parametrize("team_reward", ["mean", "first"])
def test_goal_pays_once_ends_the_episode_and_sets_the_score_rate(team_reward: str) -> None:
    """academy_empty_goal_close: shooting at once scores. With 2 agents (keeper and striker) each
    agent's gfootball return is 2.0 (goal + all checkpoints); the team return is 2.0, not 4.0."""
    env = make("gfootball:academy_empty_goal_close", n_agents=2, team_reward=team_reward)
    per_agent = make("gfootball:academy_empty_goal_close", n_agents=2, common_reward=False)
    steps = play(env, lambda t: [SHOT, SHOT])
    agent_steps = play(per_agent, lambda t: [SHOT, SHOT])
    *before, (_, _, terminated, truncated, info) = steps
    assert terminated and not truncated and info["episode_limit"] is False
    assert info["score_reward"] == 1.0 and info["score_rate"] == 1.0
    assert all(i["score_rate"] == 0.0 and i["score_reward"] == 0.0 for *_, i in before)
    assert sum(r for _, r, *_ in steps) == pytest.approx(2.0)
    np.testing.assert_allclose(np.sum([r for _, r, *_ in agent_steps], axis=0), [2.0, 2.0])
    env.close()
    per_agent.close()


def test_single_agent_scenario() -> None:
    """One controlled player: gfootball's single-agent shapes become the same per-agent lists."""
    env = make("gfootball:academy_empty_goal_close")
    assert env.n_agents == 1 and env.get_state_size() == 115
    steps = play(env, lambda t: [SHOT])
    assert steps[-1][4]["score_rate"] == 1.0
    assert sum(r for _, r, *_ in steps) == pytest.approx(2.0)
    # one agent: the state holds its observation, the active one-hot moved to the end
    state_to_obs = env.get_env_info()["state_to_obs"]
    np.testing.assert_array_equal(state_to_obs(torch.from_numpy(env.get_state()))[0].numpy(), env.get_obs()[0])
    env.close()


def test_time_limit_is_a_truncation() -> None:
    env = make("gfootball:academy_3_vs_1_with_keeper", time_limit=5)
    steps = play(env, lambda t: [IDLE] * 3)
    assert len(steps) == 5
    assert [(s[2], s[3], s[4]["episode_limit"]) for s in steps] == [(False, False, False)] * 4 + [(False, True, True)]
    env.close()


def test_game_clock_end_is_a_truncation() -> None:
    """A game that runs out of time (test_example_multiagent: game_duration 100, so 101 steps)
    is truncated, not terminated; a later game starts afresh."""
    env = make("gfootball:test_example_multiagent", time_limit=500)
    for _ in range(2):
        steps = play(env, lambda t: [IDLE] * 3)
        assert len(steps) == 101
        assert steps[-1][2:4] == (False, True) and steps[-1][4]["episode_limit"] is True
        assert raw_observation(env)[0]["steps_left"] == 0
    env.close()


def test_losing_the_ball_is_a_termination() -> None:
    env = make("gfootball:academy_3_vs_1_with_keeper", seed=0)
    actions = random_actions(7, 3, length=100_000)
    for episode in range(20):
        steps = play(env, lambda t: actions(t + 100 * episode))
        if len(steps) < 100:
            break
    else:
        raise AssertionError("no early end in 20 random episodes")
    _, _, terminated, truncated, info = steps[-1]
    assert terminated and not truncated and info["episode_limit"] is False and info["score_rate"] == 0.0
    env.close()


# ------------------------------------------------------------------ seeds
def trajectory(env: MultiAgentEnv, seed: int | None, actions, steps: int = 40) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    out = [np.stack(obs)]
    for t in range(steps):
        obs, _, term, trunc, _ = env.step(actions(t))
        out.append(np.stack(obs))
        if term or trunc:
            break
    return np.stack(out)


def same(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and np.array_equal(x, y)


def test_seeds_reproduce_games_and_episodes_differ() -> None:
    key = "gfootball:academy_3_vs_1_with_keeper"
    actions = random_actions(5, 3)
    a, b, c = make(key, seed=11), make(key, seed=11), make(key, seed=12)
    first_a, second_a = trajectory(a, None, actions), trajectory(a, None, actions)
    first_b, second_b = trajectory(b, None, actions), trajectory(b, None, actions)
    assert same(first_a, first_b) and same(second_a, second_b)  # the constructor's seed, and games after it
    assert not same(first_a, second_a)  # successive games differ
    first_c = trajectory(c, None, actions)
    np.testing.assert_array_equal(first_a[0], first_c[0])  # the same kick-off ...
    assert not same(first_a, first_c)  # ... but another game
    assert same(trajectory(c, 11, actions), first_a)  # reset(seed=11) replays seed 11's first game
    for env in (a, b, c):
        env.close()


# ------------------------------------------------------------------ agents and config
def test_number_of_agents_is_configurable() -> None:
    env = make("gfootball:academy_corner", n_agents=10)
    assert env.get_env_info()["n_agents"] == 10 and env.get_state_size() == 104 + 110
    obs, _ = env.reset()
    assert len(obs) == 10
    env.step([IDLE] * 10)
    np.testing.assert_allclose(env.get_state(), reference_state(raw_observation(env)), atol=1e-6)
    env.close()
    other = make("gfootball:academy_run_to_score_with_keeper")  # not in the paper: all outfield players
    assert other.n_agents == 1
    other.close()


def test_env_config_file_builds_the_3_vs_1_game() -> None:
    with open(CONFIG) as f:
        config = yaml.safe_load(f)
    env = REGISTRY[config["env"]](**config["env_args"], seed=0, common_reward=True, reward_scalarisation="sum")
    assert env.get_env_info()["n_agents"] == 3 and env.episode_limit == 100
    env.close()
