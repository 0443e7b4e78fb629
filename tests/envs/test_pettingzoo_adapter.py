"""Tests of PettingZoo parallel envs through ``gymma`` (``pz:module`` keys).

The real env is mpe2's simple_spread; a toy parallel env module covers agents that
finish at different times, action masks and termination vs truncation at the end.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from envs import REGISTRY, EnvKeyError, MultiAgentEnv, internal_limits

SPREAD = "pz:mpe2.simple_spread_v3"


def make(key: str = SPREAD, time_limit: int = 25, seed: int | None = 0, common_reward: bool = False,
         reward_scalarisation: str = "sum", **kwargs: Any) -> MultiAgentEnv:
    return REGISTRY["gymma"](key=key, time_limit=time_limit, seed=seed, common_reward=common_reward,
                             reward_scalarisation=reward_scalarisation, **kwargs)


def actions_table(seed: int, n_agents: int = 3, n_actions: int = 5, length: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_actions, size=(length, n_agents))


def run_episode(env: MultiAgentEnv, table: np.ndarray) -> list[tuple]:
    env.reset()
    return run_episode_from_reset(env, table)


# ------------------------------------------------------------------ mpe2
def test_simple_spread_env_info_and_state() -> None:
    env = make()
    assert env.get_env_info() == {"state_shape": 54, "obs_shape": 18, "n_actions": 5, "n_agents": 3,
                                  "episode_limit": 25, "action_kind": "discrete", "action_dim": 1}
    obs, _ = env.reset()
    assert len(obs) == 3 and all(o.shape == (18,) and o.dtype == np.float32 for o in obs)
    state = env.get_state()
    assert state.shape == (54,) and state.dtype == np.float32
    np.testing.assert_array_equal(state, env._env.pettingzoo_env.state())
    assert env.get_avail_actions() == [[1] * 5] * 3


def test_epymarl_key_form_is_the_same_env() -> None:
    a, b = make(SPREAD, seed=4), make("pz-mpe-simple-spread-v3", seed=4)
    assert a.get_env_info() == b.get_env_info()
    np.testing.assert_array_equal(np.stack(a.reset()[0]), np.stack(b.reset()[0]))


@pytest.mark.parametrize("lifted", [True, False])
def test_matches_raw_env_including_last_reward(monkeypatch: pytest.MonkeyPatch, lifted: bool) -> None:
    """Step for step equal to the raw parallel env (max_cycles=25 = our limit); the last step's
    rewards must not be zeroed. ``lifted=False`` drops mpe2 from the limit table so the inner
    env truncates itself (all agents removed) on that last step."""
    if not lifted:
        monkeypatch.delitem(internal_limits.KNOWN_STEP_LIMITS, ("mpe2._mpe_utils.simple_env", "SimpleEnv"))
    from mpe2 import simple_spread_v3

    raw = simple_spread_v3.parallel_env(max_cycles=25)
    raw_obs, _ = raw.reset(seed=3)
    env = make(time_limit=25, seed=3)
    obs, _ = env.reset()
    agents = raw.possible_agents
    np.testing.assert_allclose(np.stack(obs), np.stack([raw_obs[a] for a in agents]))
    table = actions_table(1)
    for t in range(25):
        raw_obs, raw_rew, raw_term, raw_trunc, _ = raw.step({a: int(table[t][i]) for i, a in enumerate(agents)})
        obs, rew, term, trunc, info = env.step(table[t])
        np.testing.assert_allclose(np.stack(obs), np.stack([raw_obs[a] for a in agents]))
        np.testing.assert_allclose(rew, [raw_rew[a] for a in agents])
        ended = t == 24
        assert all(raw_trunc.values()) == ended
        assert term is False and trunc is ended and info["episode_limit"] is ended
    assert all(r != 0.0 for r in rew)
    assert (len(env._env.pettingzoo_env.agents) == 0) is not lifted


@pytest.mark.parametrize("time_limit", [10, 40])
def test_time_limit_is_ours(time_limit: int) -> None:
    """mpe2's max_cycles (25) is lifted, so the episode lasts exactly time_limit steps."""
    steps = run_episode(make(time_limit=time_limit), actions_table(0))
    assert len(steps) == time_limit
    assert all(s[2] is False and s[3] is False and s[4]["episode_limit"] is False for s in steps[:-1])
    assert steps[-1][2] is False and steps[-1][3] is True and steps[-1][4]["episode_limit"] is True


def test_unknown_env_truncation_maps_to_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(internal_limits.KNOWN_STEP_LIMITS, ("mpe2._mpe_utils.simple_env", "SimpleEnv"))
    steps = run_episode(make(time_limit=40), actions_table(0))
    assert len(steps) == 25  # the env's own max_cycles, reported as truncation
    assert steps[-1][2] is False and steps[-1][3] is True and steps[-1][4]["episode_limit"] is True


def test_reward_aggregation() -> None:
    table = actions_table(2)
    per_agent = [s[1] for s in run_episode(make(seed=2), table)]
    summed = [s[1] for s in run_episode(make(seed=2, common_reward=True), table)]
    mean = [s[1] for s in run_episode(make(seed=2, common_reward=True, reward_scalarisation="mean"), table)]
    assert all(isinstance(r, list) and len(r) == 3 for r in per_agent)
    assert all(isinstance(r, float) for r in summed + mean)
    np.testing.assert_allclose(summed, [sum(r) for r in per_agent])
    np.testing.assert_allclose(mean, [sum(r) / 3 for r in per_agent])


def test_seeding_determinism() -> None:
    def trace(seed: int) -> list[np.ndarray]:
        env = make(time_limit=5, seed=seed)
        out = []
        for _ in range(2):
            out.append(np.stack(env.reset()[0]))
            out.extend(np.stack(s[0]) for s in run_episode_from_reset(env, actions_table(0)))
        return out

    a, b, c = trace(11), trace(11), trace(12)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[6])  # second episode is unseeded, so it differs


def run_episode_from_reset(env: MultiAgentEnv, table: np.ndarray) -> list[tuple]:
    """Step through ``table`` (one joint action per row) until the episode ends."""
    steps = []
    for t in range(len(table)):
        steps.append(env.step(table[t]))
        if steps[-1][2] or steps[-1][3]:
            return steps
    raise AssertionError("episode did not end")


# ------------------------------------------------------------------ bad keys
def test_unknown_module_in_installed_package() -> None:
    with pytest.raises(EnvKeyError) as err:
        make("pz:mpe2.no_such_env_v9")
    msg = str(err.value)
    assert "'pz:mpe2.no_such_env_v9'" in msg and "'mpe2' is installed but has no module 'no_such_env_v9'" in msg


def test_missing_package_names_install() -> None:
    with pytest.raises(EnvKeyError, match=r"'pz:no_such_pz_pkg.env_v0'.*pip install no-such-pz-pkg"):
        make("pz:no_such_pz_pkg.env_v0")


def test_module_without_parallel_env() -> None:
    with pytest.raises(EnvKeyError, match=r"'pz:json'.*no callable 'parallel_env'"):
        make("pz:json")


@pytest.mark.parametrize("key", ["pz:", "pz-mpe"])
def test_malformed_pz_keys(key: str) -> None:
    with pytest.raises(EnvKeyError, match="Accepted forms"):
        make(key)


# ------------------------------------------------------------------ toy env
class ToyParallelEnv:
    """Agent "b" terminates after 2 steps; agent "a" ends after 4 steps, terminated or truncated.

    Observations carry PettingZoo-style action masks; rewards are 1.0 (a) and 2.0 (b) per step.
    """

    def __init__(self, a_ends_by: str = "truncation") -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.a_ends_by = a_ends_by
        self.received: list[dict] = []
        self.t = 0

    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Dict({"observation": spaces.Box(-10, 10, (2,), np.float32),
                            "action_mask": spaces.MultiBinary(3)})

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(3)

    @property
    def unwrapped(self) -> ToyParallelEnv:
        return self

    def _obs(self) -> dict:
        mask = np.array([1, 0, 1] if self.t % 2 else [1, 1, 0], np.int8)
        return {a: {"observation": np.array([self.t, i], np.float32), "action_mask": mask}
                for i, a in enumerate(self.possible_agents) if a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple:
        self.agents, self.t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict) -> tuple:
        self.received.append(dict(actions))
        self.t += 1
        live = list(self.agents)
        rewards = {a: (1.0 if a == "a" else 2.0) for a in live}
        term = {a: False for a in live}
        trunc = {a: False for a in live}
        if self.t == 2:
            term["b"] = True
        if self.t == 4:
            (term if self.a_ends_by == "termination" else trunc)["a"] = True
        obs = self._obs()
        self.agents = [a for a in live if not (term[a] or trunc[a])]
        return obs, rewards, term, trunc, {a: {"hits": self.t} for a in live}

    def state(self) -> np.ndarray:
        return np.array([self.t, 0, 0], np.float32)

    def close(self) -> None:
        pass


@pytest.fixture
def toy_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("toy_pz_module")
    module.parallel_env = ToyParallelEnv
    monkeypatch.setitem(sys.modules, "toy_pz_module", module)
    return module


@pytest.mark.parametrize("a_ends_by", ["truncation", "termination"])
def test_agents_finishing_at_different_times(toy_module: types.ModuleType, a_ends_by: str) -> None:
    env = make("pz:toy_pz_module", time_limit=10, a_ends_by=a_ends_by)
    assert env.get_env_info()["state_shape"] == 3 and env.get_obs_size() == 2
    obs, _ = env.reset()
    assert env.get_avail_actions() == [[1, 1, 0], [1, 1, 0]]
    steps, masks = [], []
    for _ in range(4):
        steps.append(env.step([1, 2]))
        masks.append(env.get_avail_actions())
    inner = env._env.pettingzoo_env
    assert inner.received == [{"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 1}, {"a": 1}]  # dead b gets no action
    assert [s[1] for s in steps] == [[1.0, 2.0], [1.0, 2.0], [1.0, 0.0], [1.0, 0.0]]
    np.testing.assert_array_equal(steps[3][0][1], [2, 1])  # b keeps its last observation
    np.testing.assert_array_equal(steps[3][0][0], [4, 0])
    assert all(s[2] is False and s[3] is False for s in steps[:3])
    _, _, term, trunc, info = steps[3]
    assert (term, trunc, info["episode_limit"]) == (
        (False, True, True) if a_ends_by == "truncation" else (True, False, False)
    )
    assert info["a_hits"] == 4 and env.get_state().tolist() == [4.0, 0.0, 0.0]
    # masks follow t (odd: [1, 0, 1]); dead b keeps the one from its last step (t=2)
    assert masks == [[[1, 0, 1]] * 2, [[1, 1, 0]] * 2, [[1, 0, 1], [1, 1, 0]], [[1, 1, 0], [1, 1, 0]]]
