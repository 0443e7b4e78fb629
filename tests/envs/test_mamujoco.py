"""Multi-Agent MuJoCo through ``gymma`` (``mamujoco:<Scenario>-<agent_conf>`` keys), on the real envs.

The reference for every number is the raw ``mamujoco_v1.parallel_env`` stepped in
lockstep with ours: same seed, and the raw env gets the clipped actions. The 3x2
references are built here from the joint labels (HARL's groupings), independently of
``envs.mamujoco.CUSTOM_PARTITIONS``. Observations are checked in both modes: the default
``obs_mode="state"`` (state + one-hot agent id) and ``"local"`` (the raw env's own).
The published state-to-observation map is tested in ``test_state_to_obs.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from envs import REGISTRY, EnvArgsError, EnvKeyError, MultiAgentEnv
from tests.support.harl_partitions import HARL_3X2, harl_factorization
from tests.support import processes

mamujoco_v1 = pytest.importorskip("gymnasium_robotics").mamujoco_v1

SRC = Path(__file__).resolve().parents[2] / "src"
CONFIG = SRC / "config" / "envs" / "mamujoco.yaml"

# key → (n_agents, padded local obs size, state size, action_dim, raw per-agent local obs sizes);
# state-mode observations have state size + n_agents entries
PAPER_TASKS: dict[str, tuple[int, int, int, int, list[int]]] = {
    "mamujoco:Ant-2x4": (2, 63, 105, 4, [63, 63]),
    "mamujoco:Ant-4x2": (4, 42, 105, 2, [42, 42, 42, 42]),
    "mamujoco:HalfCheetah-2x3": (2, 12, 17, 3, [12, 12]),
    "mamujoco:HalfCheetah-3x2": (3, 12, 17, 2, [10, 12, 11]),
    "mamujoco:Walker2d-2x3": (2, 12, 17, 3, [12, 12]),
    "mamujoco:Walker2d-3x2": (3, 12, 17, 2, [10, 12, 11]),
}


def make(key: str, time_limit: int = 1000, seed: int | None = 0, common_reward: bool = True,
         reward_scalarisation: str = "sum", **kwargs: Any) -> MultiAgentEnv:
    """Build through the registry exactly as the runner does."""
    return REGISTRY["gymma"](key=key, time_limit=time_limit, seed=seed, common_reward=common_reward,
                             reward_scalarisation=reward_scalarisation, **kwargs)


def make_raw(key: str) -> Any:
    """The raw MaMuJoCo parallel env the key stands for (1000-step limit lifted out of the way)."""
    scenario, conf = key.split(":")[1].split("-")
    factorization = harl_factorization(mamujoco_v1, scenario) if conf == "3x2" else None
    return mamujoco_v1.parallel_env(scenario=scenario, agent_conf=conf, agent_obsk=1,
                                    agent_factorization=factorization, max_episode_steps=100_000)


def run_episode(env: MultiAgentEnv, actions_fn, max_steps: int = 2000) -> list[tuple]:
    env.reset()
    steps = []
    for t in range(max_steps):
        steps.append(env.step(actions_fn(t)))
        if steps[-1][2] or steps[-1][3]:
            return steps
    raise AssertionError("episode did not end")


# ------------------------------------------------------------- the six paper tasks
@pytest.mark.parametrize("key", PAPER_TASKS)
@pytest.mark.parametrize("obs_mode", ["state", "local"])
def test_paper_task_env_info(key: str, obs_mode: str) -> None:
    n_agents, local_size, state_size, action_dim, _ = PAPER_TASKS[key]
    obs_size = state_size + n_agents if obs_mode == "state" else local_size
    env = make(key, time_limit=200, obs_mode=obs_mode)
    info = env.get_env_info()
    state_to_obs = info.pop("state_to_obs")
    assert info == {
        "state_shape": state_size, "obs_shape": obs_size, "n_agents": n_agents, "episode_limit": 200,
        "action_kind": "continuous", "n_actions": action_dim, "action_dim": action_dim,
        "action_low": [[-1.0] * action_dim] * n_agents, "action_high": [[1.0] * action_dim] * n_agents,
        "state_to_obs_exact": obs_mode == "state" or not key.startswith("mamujoco:Walker2d"),
    }
    assert (state_to_obs.state_dim, state_to_obs.n_agents, state_to_obs.obs_dim) == (state_size, n_agents, obs_size)
    obs, _ = env.reset()
    assert len(obs) == n_agents and all(o.shape == (obs_size,) and o.dtype == np.float32 for o in obs)
    assert env.get_state().shape == (state_size,) and env.get_state().dtype == np.float32
    assert env.get_avail_actions() == [[1] * action_dim] * n_agents


@pytest.mark.parametrize("key", PAPER_TASKS)
@pytest.mark.parametrize("obs_mode", ["state", "local"])
def test_paper_task_matches_raw_env_with_clipped_actions(key: str, obs_mode: str) -> None:
    """Out-of-bound actions are clipped (the raw env gets the clipped ones and both agree on
    obs, state and reward; MuJoCo's control cost would differ without clipping); the team
    reward with sum scalarisation is the env's shared reward, not n_agents times it.
    Observations are the raw env's local ones, or its state followed by the one-hot agent id."""
    n_agents, _, _, action_dim, raw_sizes = PAPER_TASKS[key]
    env, raw = make(key, seed=3, obs_mode=obs_mode), make_raw(key)
    agents = raw.possible_agents
    assert [raw.observation_space(a).shape[0] for a in agents] == raw_sizes
    obs, _ = env.reset()
    raw_obs, _ = raw.reset(seed=3)
    actions = np.random.default_rng(0).normal(0.0, 3.0, size=(15, n_agents, action_dim))
    assert (np.abs(actions) > 1).mean() > 0.5
    for t in range(15):
        for i, a in enumerate(agents):
            if obs_mode == "local":
                np.testing.assert_allclose(obs[i][: raw_sizes[i]], raw_obs[a], rtol=1e-6, atol=1e-6)
                assert not obs[i][raw_sizes[i]:].any()  # zero padding
            else:
                expected = np.concatenate([raw.state(), np.eye(n_agents)[i]])
                np.testing.assert_allclose(obs[i], expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(env.get_state(), raw.state(), rtol=1e-6, atol=1e-6)
        obs, reward, term, trunc, info = env.step(actions[t])
        raw_obs, raw_rew, raw_term, raw_trunc, _ = raw.step(
            {a: np.clip(actions[t, i], -1.0, 1.0) for i, a in enumerate(agents)})
        assert len(set(raw_rew.values())) == 1  # MaMuJoCo's reward is shared
        assert isinstance(reward, float) and reward == pytest.approx(raw_rew[agents[0]], rel=1e-6, abs=1e-6)
        assert term is raw_term[agents[0]] and trunc is False and info["episode_limit"] is False
        if term:  # a fall (Ant/Walker2d) ends both
            break


@pytest.mark.parametrize("key", PAPER_TASKS)
def test_paper_task_time_limit_is_truncation(key: str) -> None:
    _, _, _, action_dim, _ = PAPER_TASKS[key]
    env = make(key, time_limit=5)
    for _ in range(2):  # again after a reset
        steps = run_episode(env, lambda t: np.zeros((env.n_agents, action_dim)))
        assert len(steps) == 5
        assert all(s[2] is False and s[3] is False and s[4]["episode_limit"] is False for s in steps[:-1])
        _, _, term, trunc, info = steps[-1]
        assert term is False and trunc is True and info["episode_limit"] is True


@pytest.mark.parametrize("key", ["mamujoco:Walker2d-2x3", "mamujoco:Walker2d-3x2"])
def test_walker_fall_is_termination(key: str) -> None:
    """Full negative torque folds the walker within a few steps: a true end, not bootstrapped."""
    env = make(key, time_limit=100)
    steps = run_episode(env, lambda t: np.full((env.n_agents, 2 if key.endswith("3x2") else 3), -5.0))
    assert len(steps) < 100
    assert not env._env.pettingzoo_env.single_agent_env.unwrapped.is_healthy  # it fell
    assert all(s[2] is False and s[3] is False for s in steps[:-1])
    _, _, term, trunc, info = steps[-1]
    assert term is True and trunc is False and info["episode_limit"] is False


@pytest.mark.parametrize("key", ["mamujoco:Ant-2x4", "mamujoco:Ant-4x2"])
def test_ant_unhealthy_is_termination(key: str) -> None:
    """Ant rarely falls under random actions, so lift its torso above the healthy z range."""
    env = make(key, time_limit=100)
    env.reset()
    mujoco_env = env._env.pettingzoo_env.single_agent_env.unwrapped
    qpos, qvel = mujoco_env.data.qpos.copy(), mujoco_env.data.qvel.copy()
    qpos[2] = 2.0  # healthy_z_range is (0.2, 1.0)
    mujoco_env.set_state(qpos, qvel)
    _, _, term, trunc, info = env.step(np.zeros((env.n_agents, 8 // env.n_agents)))
    assert term is True and trunc is False and info["episode_limit"] is False


def test_termination_on_the_time_limit_step_wins() -> None:
    length = len(run_episode(make("mamujoco:Walker2d-2x3", time_limit=100), lambda t: np.full((2, 3), -5.0)))
    steps = run_episode(make("mamujoco:Walker2d-2x3", time_limit=length), lambda t: np.full((2, 3), -5.0))
    assert len(steps) == length
    assert steps[-1][2] is True and steps[-1][4]["episode_limit"] is False


def test_env_step_limit_is_lifted_above_ours() -> None:
    """The MuJoCo env's own 1000-step TimeLimit must not cut a longer episode."""
    steps = run_episode(make("mamujoco:HalfCheetah-2x3", time_limit=1003), lambda t: np.zeros((2, 3)))
    assert len(steps) == 1003 and steps[-1][3] is True and steps[-1][2] is False


# ------------------------------------------------------------------- rewards
def test_reward_modes_all_give_the_shared_reward() -> None:
    table = np.random.default_rng(1).uniform(-1, 1, size=(10, 3, 2))

    def rewards(**kwargs: Any) -> list:
        env = make("mamujoco:HalfCheetah-3x2", time_limit=10, seed=5, **kwargs)
        return [s[1] for s in run_episode(env, lambda t: table[t])]

    summed, mean = rewards(reward_scalarisation="sum"), rewards(reward_scalarisation="mean")
    with _no_warnings():
        per_agent = rewards(common_reward=False)
    assert all(isinstance(r, list) and len(r) == 3 and len(set(r)) == 1 for r in per_agent)
    np.testing.assert_allclose(summed, [r[0] for r in per_agent])
    np.testing.assert_allclose(mean, summed)


class _no_warnings:
    """Fail if the block warns (per-agent rewards of a shared-reward env are expected)."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc: Any) -> None:
        self._catch.__exit__(*exc)


# --------------------------------------------------------- partitions and kwargs
def test_uneven_observations_are_padded() -> None:
    env = make("mamujoco:Walker2d-3x2", obs_mode="local")
    obs, _ = env.reset()
    assert env.get_obs_size() == 12 and [o.shape for o in obs] == [(12,)] * 3
    assert not obs[0][10:].any() and not obs[2][11:].any()
    assert np.count_nonzero(obs[1]) > 10  # the largest one is not padded


def test_3x2_partitions_are_harls() -> None:
    for scenario, groups in HARL_3X2.items():
        inner = make(f"mamujoco:{scenario}-3x2")._env.pettingzoo_env
        assert [tuple(node.label for node in part) for part in inner.agent_action_partitions] == groups


@pytest.mark.parametrize("key,n_agents,action_dim", [
    ("mamujoco:HalfCheetah-6x1", 6, 1), ("mamujoco:Ant-2x4d", 2, 4), ("mamujoco:Hopper-3x1", 3, 1)])
def test_other_builtin_partitions(key: str, n_agents: int, action_dim: int) -> None:
    env = make(key, time_limit=3)
    info = env.get_env_info()
    assert (info["n_agents"], info["action_dim"], info["action_kind"]) == (n_agents, action_dim, "continuous")
    steps = run_episode(env, lambda t: np.full((n_agents, action_dim), 0.3))
    assert len(steps) <= 3 and isinstance(steps[0][1], float)


def test_uneven_action_dims_are_padded_and_dropped() -> None:
    """Humanoid 9|8: agent 1 has 8 joints, so its 9th dim is padding with bounds [-1, 1] that
    never reaches the env; real dims are clipped to Humanoid's [-0.4, 0.4]."""
    env = make("mamujoco:Humanoid-9|8", time_limit=3)
    info = env.get_env_info()
    assert info["action_dim"] == info["n_actions"] == 9
    assert info["action_low"] == [[pytest.approx(-0.4)] * 9, [pytest.approx(-0.4)] * 8 + [-1.0]]
    assert info["action_high"] == [[pytest.approx(0.4)] * 9, [pytest.approx(0.4)] * 8 + [1.0]]
    env_actions = env._action_spec.to_env(np.full((2, 9), 7.0))
    assert [a.shape for a in env_actions] == [(9,), (8,)]
    np.testing.assert_allclose(np.concatenate(env_actions), 0.4)
    env.reset()
    assert env.step(torch.full((2, 9), -7.0))[3] is False  # tensors are accepted too


def test_agent_obsk_and_env_kwargs_pass_through() -> None:
    sizes = [make("mamujoco:HalfCheetah-2x3", obs_mode="local", agent_obsk=k).get_obs_size() for k in (0, 1, 2)]
    assert sizes == [11, 12, 13]
    assert make("mamujoco:HalfCheetah-2x3", obs_mode="local").get_obs_size() == 12  # agent_obsk defaults to 1
    env = make("mamujoco:HalfCheetah-2x3", ctrl_cost_weight=0.0)
    env.reset()
    assert env.step(np.ones((2, 3)))[4]["reward_ctrl"] == 0.0


# ------------------------------------------------------------------ observations
@pytest.mark.parametrize("key,n_agents,state_size", [("mamujoco:HalfCheetah-2x3", 2, 17),
                                                     ("mamujoco:Walker2d-3x2", 3, 17)])
def test_state_mode_observation_is_state_and_agent_id(key: str, n_agents: int, state_size: int) -> None:
    """obs_i = concat(state, onehot(i)) bit for bit, after the reset and after every step (Walker2d
    falls under strong actions, so its episode ends early and is started again)."""
    env = make(key, time_limit=30, seed=2)
    assert env.get_obs_size() == state_size + n_agents and env.get_state_size() == state_size
    obs, _ = env.reset()
    actions = np.random.default_rng(1).uniform(-1.0, 1.0, size=(40, n_agents, env.get_total_actions()))
    for t in range(40):
        state = env.get_state()
        assert [o.shape for o in obs] == [(state_size + n_agents,)] * n_agents
        for i in range(n_agents):
            np.testing.assert_array_equal(obs[i], np.concatenate([state, np.eye(n_agents, dtype=np.float32)[i]]))
        obs, _, term, trunc, _ = env.step(actions[t])
        if term or trunc:
            obs, _ = env.reset()


@pytest.mark.parametrize("obs_mode,key", [("state", "mamujoco:HalfCheetah-2x3"), ("local", "mamujoco:Walker2d-3x2")])
def test_norm_obs_z_scores_each_observation_and_keeps_the_state_raw(obs_mode: str, key: str) -> None:
    """Each agent's own entries get mean 0 and std 1 (padding stays 0); the state is the same as
    without normalisation."""
    env, plain = make(key, seed=4, obs_mode=obs_mode, norm_obs=True), make(key, seed=4, obs_mode=obs_mode)
    sizes = [plain.get_obs_size()] * env.n_agents if obs_mode == "state" else [10, 12, 11]
    env.reset(), plain.reset()
    actions = np.random.default_rng(2).uniform(-1.0, 1.0, size=(5, env.n_agents, env.get_total_actions()))
    for t in range(6):
        np.testing.assert_array_equal(env.get_state(), plain.get_state())
        for o, raw, size in zip(env.get_obs(), plain.get_obs(), sizes):
            assert abs(o[:size].mean()) < 1e-6 and o[:size].std() == pytest.approx(1.0, abs=1e-5)
            np.testing.assert_allclose(o[:size], (raw[:size] - raw[:size].mean()) / raw[:size].std(), atol=1e-5)
            assert not o[size:].any()
        if t < 5:
            env.step(actions[t]), plain.step(actions[t])


def test_seeding_is_deterministic() -> None:
    def first_obs(seed: int) -> np.ndarray:
        return np.stack(make("mamujoco:Ant-2x4", seed=seed).reset()[0])

    np.testing.assert_array_equal(first_obs(4), first_obs(4))
    assert not np.array_equal(first_obs(4), first_obs(5))


def test_bad_action_shapes_and_values() -> None:
    env = make("mamujoco:HalfCheetah-2x3")
    env.reset()
    with pytest.raises(ValueError, match=r"shape \[2, 3\]"):
        env.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Non-finite continuous actions for agents \\[1\\]"):
        env.step(np.array([[0.0, 0.0, 0.0], [0.0, np.nan, 0.0]]))


# --------------------------------------------------------------------- bad keys
def test_unknown_scenario_lists_scenarios() -> None:
    with pytest.raises(EnvKeyError) as err:
        make("mamujoco:Cheetah-2x3")
    msg = str(err.value)
    assert "'mamujoco:Cheetah-2x3'" in msg and "unknown scenario 'Cheetah'" in msg
    assert "HalfCheetah: 2x3, 3x2, 6x1" in msg and "Ant: 2x4, 2x4d, 4x2" in msg


def test_unknown_partition_lists_partitions() -> None:
    with pytest.raises(EnvKeyError, match=r"'mamujoco:Walker2d-4x2'.*no partition '4x2' \(known: 2x3, 3x2\)"):
        make("mamujoco:Walker2d-4x2")


@pytest.mark.parametrize("key", ["mamujoco:HalfCheetah", "mamujoco:-2x3", "mamujoco:"])
def test_malformed_keys(key: str) -> None:
    with pytest.raises(EnvKeyError, match=re.escape("'mamujoco:<Scenario>-<agent_conf>'")):
        make(key)


def test_bad_env_args() -> None:
    for bad in (-1, "1", 1.0, True):
        with pytest.raises(EnvArgsError, match=rf"env_args.agent_obsk must be an int >= 0.*got {re.escape(repr(bad))}"):
            make("mamujoco:HalfCheetah-2x3", obs_mode="local", agent_obsk=bad)
    with pytest.raises(EnvArgsError, match="env_args.agent_conf"):
        make("mamujoco:HalfCheetah-2x3", agent_conf="6x1")
    with pytest.raises(EnvArgsError, match="no_such_kwarg"):
        make("mamujoco:HalfCheetah-2x3", no_such_kwarg=1)
    with pytest.raises(EnvArgsError, match="time_limit"):
        make("mamujoco:HalfCheetah-2x3", max_episode_steps=10)


def test_bad_observation_args() -> None:
    with pytest.raises(EnvArgsError) as err:
        make("mamujoco:HalfCheetah-2x3", obs_mode="global")
    assert str(err.value) == "env_args.obs_mode must be one of ('state', 'local'), got 'global'."
    with pytest.raises(EnvArgsError, match=r"env_args.agent_obsk=1 has no effect with env_args.obs_mode='state'.*"
                                           r"set env_args.obs_mode='local'"):
        make("mamujoco:HalfCheetah-2x3", agent_obsk=1)
    with pytest.raises(EnvArgsError, match=r"env_args.norm_obs must be True or False, got 'yes'"):
        make("mamujoco:HalfCheetah-2x3", norm_obs="yes")


def test_missing_package_names_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)  # import now fails
    with pytest.raises(EnvKeyError, match=r"'mamujoco:Ant-2x4'.*pip install gymnasium-robotics"):
        make("mamujoco:Ant-2x4")


def test_importing_the_adapter_imports_no_env_package() -> None:
    code = (f"import sys; sys.path.insert(0, {str(SRC)!r}); import envs.mamujoco, envs.gymma; "
            "sys.exit(any(m in sys.modules for m in ('gymnasium_robotics', 'mujoco', 'pettingzoo')))")
    assert processes.run([sys.executable, "-c", code], timeout=60).returncode == 0


# ----------------------------------------------------------------------- config
def test_config_builds_the_env_and_comments_every_key() -> None:
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    assert config["env"] == "gymma"
    assert config["env_args"] == {"key": "mamujoco:HalfCheetah-2x3", "time_limit": 1000, "obs_mode": "state",
                                  "norm_obs": True, "clip_actions": False}
    for line in text.splitlines():
        if re.match(r"^\s*[A-Za-z_]+:\s*\S", line):
            assert re.search(r"\S\s+#\s*\S", line), f"uncommented key line: {line!r}"
    env = REGISTRY[config["env"]](**config["env_args"], common_reward=True, reward_scalarisation="sum")
    assert env.get_env_info()["episode_limit"] == 1000 and env.n_agents == 2
    assert env.get_obs_size() == 17 + 2  # the paper's setting: state + one-hot agent id
