"""MaMuJoCo's fast step (``MaMuJoCoAdapter.step``) against the package's own ``parallel_env.step``.

The adapter steps the single-agent MuJoCo env itself with a precomputed action gather and
skips the package's local observations in state mode. Everything it returns must stay bit for
bit what the package's step gives: here both run in lockstep on the six paper tasks (same
seeds, the same random actions, many far outside the bounds, clipped or not), through falls
(terminations), our time limit and the MuJoCo ``TimeLimit``. The reference observations are
built from the raw env with numpy's own ``mean``/``std``, and the 3x2 references from HARL's
joint labels, independently of the code under test.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest

from envs import REGISTRY, EnvArgsError, MultiAgentEnv
from envs.mamujoco import MaMuJoCoAdapter, global_action_source, step_observation_is_state
from envs.pettingzoo_adapter import PettingZooAdapter
from envs.state_to_obs import NORM_EPS
from tests.support.harl_partitions import harl_factorization

mamujoco_v1 = pytest.importorskip("gymnasium_robotics").mamujoco_v1

PAPER_TASKS = ["Ant-2x4", "Ant-4x2", "HalfCheetah-2x3", "HalfCheetah-3x2", "Walker2d-2x3", "Walker2d-3x2"]


def make_raw(task: str, max_episode_steps: int) -> Any:
    """The package's parallel env for ``task`` (3x2: HARL's groups, built here from joint labels)."""
    scenario, conf = task.split("-")
    factorization = harl_factorization(mamujoco_v1, scenario) if conf == "3x2" else None
    return mamujoco_v1.parallel_env(scenario=scenario, agent_conf=conf, agent_obsk=1, agent_factorization=factorization,
                                    max_episode_steps=max_episode_steps, disable_env_checker=True)


def expected_obs(raw: Any, raw_obs: dict[str, np.ndarray], obs_mode: str, norm_obs: bool, size: int) -> np.ndarray:
    """``[n_agents, size]`` float32 observations as the env gives them, from the raw env: its state
    plus the one-hot id or its local observations, z-scored with numpy's mean/std, zero-padded."""
    agents = raw.possible_agents
    out = np.zeros((len(agents), size), dtype=np.float32)
    for i, agent in enumerate(agents):
        if obs_mode == "state":
            vector = np.concatenate([raw.state(), np.eye(len(agents))[i]])
        else:
            vector = np.asarray(raw_obs[agent], dtype=np.float64)
        if norm_obs:
            vector = (vector - vector.mean()) / max(float(vector.std()), NORM_EPS)
        out[i, : vector.size] = vector
    return out


# ------------------------------------------------------------------ the action map
@pytest.mark.parametrize("task", PAPER_TASKS)
def test_action_gather_matches_the_packages_map(task: str) -> None:
    """``concatenate(agent actions)[source]`` is the package's ``map_local_actions_to_global_action``."""
    raw = make_raw(task, 1000)
    source = global_action_source(task, raw)
    sizes = [raw.action_space(agent).shape[0] for agent in raw.possible_agents]
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = [rng.normal(0.0, 3.0, size).astype(np.float32) for size in sizes]
        expected = raw.map_local_actions_to_global_action(dict(zip(raw.possible_agents, actions)))
        gathered = np.concatenate(actions, dtype=np.float64)[source]
        assert gathered.dtype == expected.dtype and np.array_equal(gathered, expected)
    if task.endswith("3x2"):  # HARL's groups are not in actuator order: the gather is a real permutation
        assert not np.array_equal(source, np.arange(source.size))


def test_bad_partitions_are_refused_when_built() -> None:
    parts, edges, global_nodes = mamujoco_v1.get_parts_and_edges("HalfCheetah", "2x3")
    twice = {"partition": [parts[0], parts[0]], "edges": edges, "globals": global_nodes}
    with pytest.raises(EnvArgsError, match=r"'mamujoco:HalfCheetah-2x3': its partition drives actuator 0 twice"):
        MaMuJoCoAdapter("mamujoco:HalfCheetah-2x3", "HalfCheetah", "2x3", 10, agent_factorization=twice)
    missing = {"partition": [parts[0]], "edges": edges, "globals": global_nodes}
    with pytest.raises(EnvArgsError, match=r"leaves actuators \[3, 4, 5\] undriven"):
        MaMuJoCoAdapter("mamujoco:HalfCheetah-2x3", "HalfCheetah", "2x3", 10, agent_factorization=missing)


# --------------------------------------------------------------- lockstep runs
@pytest.mark.parametrize("task", PAPER_TASKS)
@pytest.mark.parametrize("clip_actions,obs_mode,norm_obs", [
    (True, "state", False), (False, "state", True), (True, "local", True), (False, "local", False)])
def test_lockstep_with_the_packages_step(task: str, clip_actions: bool, obs_mode: str, norm_obs: bool) -> None:
    """200 steps through ``gymma`` beside the raw env: identical observations, states, per-agent
    rewards, ends and infos; our time limit truncates, Ant and Walker2d fall on the way (Walker2d
    falls after 7 to 17 steps of these actions, hence its shorter limit)."""
    time_limit, n_steps, seed = 12 if task.startswith("Walker2d") else 60, 200, 3
    env: MultiAgentEnv = REGISTRY["gymma"](key=f"mamujoco:{task}", time_limit=time_limit, seed=seed,
                                           common_reward=False, clip_actions=clip_actions, obs_mode=obs_mode,
                                           norm_obs=norm_obs)
    raw = make_raw(task, time_limit + 1)
    agents, size = raw.possible_agents, env.get_obs_size()
    action_dim = env.get_env_info()["action_dim"]
    rng = np.random.default_rng(1)
    ends: list[tuple[bool, bool]] = []
    obs, _ = env.reset()
    raw_obs, _ = raw.reset(seed=seed)
    t = 0
    for _ in range(n_steps):
        np.testing.assert_array_equal(np.stack(obs), expected_obs(raw, raw_obs, obs_mode, norm_obs, size))
        assert np.array_equal(env.get_state(), raw.state().astype(np.float32))
        actions = rng.normal(0.0, 2.0, size=(len(agents), action_dim))  # about 60% out of [-1, 1]
        sent = (np.clip(actions, -1.0, 1.0) if clip_actions else actions).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(actions)
        raw_obs, raw_rewards, raw_terms, raw_truncs, raw_infos = raw.step(dict(zip(agents, sent)))
        t += 1
        assert reward == [float(raw_rewards[agent]) for agent in agents]
        assert terminated is bool(raw_terms[agents[0]]) and not raw_truncs[agents[0]]
        assert truncated is (t == time_limit)
        assert info == {**raw_infos[agents[0]], "episode_limit": truncated and not terminated}
        if terminated or truncated:
            ends.append((terminated, truncated))
            obs, _ = env.reset()
            raw_obs, _ = raw.reset()  # both continue their random streams
            t = 0
    assert (False, True) in ends  # a time-limit truncation
    if not task.startswith("HalfCheetah"):
        assert (True, False) in ends  # a fall


@pytest.mark.parametrize("task", ["HalfCheetah-3x2", "Walker2d-2x3"])
def test_mujoco_time_limit_and_termination_precedence_match_the_generic_step(task: str) -> None:
    """Without ``gymma``'s own limit the MuJoCo ``TimeLimit`` (time_limit + 1) ends the episode. The
    fast step returns what ``PettingZooAdapter.step`` over the package's ``step`` returns, on every
    step, including a fall on that very step (truncation wins, as before) and the error of a step
    after the end."""
    scenario, conf = task.split("-")
    n_agents, dim = (3, 2) if conf == "3x2" else (2, 3)
    actions = [np.full(dim, -1.0, dtype=np.float32)] * n_agents  # folds the walker
    probe = MaMuJoCoAdapter(task, scenario, conf, 1000)
    probe.reset(seed=0)
    fall = next(t for t in range(1, 1000) if probe.step(actions)[2]) if scenario == "Walker2d" else 1000
    time_limit = min(fall, 50) - 1  # the MuJoCo limit fires on step time_limit + 1 (with the fall, if any)
    fast = MaMuJoCoAdapter(task, scenario, conf, time_limit)
    generic = MaMuJoCoAdapter(task, scenario, conf, time_limit)
    fast.reset(seed=0), generic.reset(seed=0)
    for t in range(1, time_limit + 2):
        got, want = fast.step(actions), PettingZooAdapter.step(generic, actions)
        assert got[1:] == want[1:] and all(np.array_equal(a, b) for a, b in zip(got[0], want[0]))
        assert np.array_equal(fast.get_state(), generic.get_state())
        assert got[2:4] == ((False, True) if t == time_limit + 1 else (False, False))
    if scenario == "Walker2d":
        assert not fast.pettingzoo_env.single_agent_env.unwrapped.is_healthy  # it fell on the last step
    with pytest.raises(RuntimeError, match=rf"{task}: step\(\) after the episode ended; call reset\(\)"):
        fast.step(actions)
    with pytest.raises(KeyError):  # what the package's step did there
        PettingZooAdapter.step(generic, actions)


def test_bad_actions_reaching_the_adapter() -> None:
    env = MaMuJoCoAdapter("mamujoco:HalfCheetah-2x3", "HalfCheetah", "2x3", 10)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="HalfCheetah-2x3: expected 6 action entries over 2 agents, got 5"):
        env.step([np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="HalfCheetah-2x3: NaN in the actions"):
        env.step([np.zeros(3), np.array([0.0, np.nan, 0.0])])


# --------------------------------------------------------------------- the state
def test_state_is_served_from_the_step_and_copied() -> None:
    env = REGISTRY["gymma"](key="mamujoco:Ant-2x4", time_limit=10, seed=0)
    env.reset()
    env.step(np.zeros((2, 4)))
    state = env.get_state()
    mujoco_env = env._env.pettingzoo_env.single_agent_env.unwrapped
    assert np.array_equal(state, mujoco_env._get_obs().astype(np.float32))
    state[:] = 0.0  # the caller owns it
    assert env.get_state().any()


def test_state_falls_back_to_state_when_the_step_observation_is_not_it() -> None:
    """A ``gym_env`` whose observations are transformed: the state stays the MuJoCo observation."""
    mujoco_env = gymnasium.make("HalfCheetah-v5", max_episode_steps=100, disable_env_checker=True)
    doubled = gymnasium.wrappers.TransformObservation(mujoco_env, lambda o: 2.0 * o, mujoco_env.observation_space)
    assert step_observation_is_state(mujoco_env) and not step_observation_is_state(doubled)
    other = gymnasium.make("CartPole-v1", disable_env_checker=True)  # not one of gymnasium's MuJoCo envs
    assert not step_observation_is_state(other) and not step_observation_is_state(other.unwrapped)
    env = MaMuJoCoAdapter("mamujoco:HalfCheetah-2x3", "HalfCheetah", "2x3", 10, gym_env=doubled)
    env.reset(seed=0)
    for _ in range(3):
        obs = env.step([np.full(3, 0.5, dtype=np.float32)] * 2)[0]
        state = mujoco_env.unwrapped._get_obs()
        assert np.array_equal(env.get_state(), state.astype(np.float32)) and np.array_equal(obs[1][:17], state)
