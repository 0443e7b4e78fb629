"""Tests of the ``gymma`` env on real gymnasium multi-agent envs (lbforaging, rware).

A small toy env registered here covers what the real envs cannot show: uneven
per-agent spaces (padding), env-provided action masks and an unknown env whose
internal step limit must be read as a truncation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces

import envs
from envs import REGISTRY, EnvKeyError, MultiAgentEnv, internal_limits
from tests.support import processes

LBF = "lbforaging:Foraging-8x8-2p-3f-v3"
LBF_SMALL = "lbforaging:Foraging-5x5-2p-1f-v3"  # with max_food_level=1 one agent can eat the only food
RWARE = "rware:rware-tiny-2ag-v2"
SRC = Path(__file__).resolve().parents[2] / "src"


def make(key: str, time_limit: int = 50, seed: int | None = 0, common_reward: bool = True,
         reward_scalarisation: str = "sum", **kwargs: Any) -> MultiAgentEnv:
    """Build through the registry exactly as the runner does."""
    return REGISTRY["gymma"](key=key, time_limit=time_limit, seed=seed, common_reward=common_reward,
                             reward_scalarisation=reward_scalarisation, **kwargs)


def run_episode(env: MultiAgentEnv, actions_fn, max_steps: int = 10_000) -> list[tuple]:
    """Reset and step until the episode ends; returns every step's ``(obs, r, term, trunc, info)``."""
    env.reset()
    steps = []
    for t in range(max_steps):
        out = env.step(actions_fn(t))
        steps.append(out)
        if out[2] or out[3]:
            return steps
    raise AssertionError("episode did not end")


def random_actions(seed: int, n_agents: int, n_actions: int, length: int = 10_000):
    table = np.random.default_rng(seed).integers(0, n_actions, size=(length, n_agents))
    return lambda t: table[t]


def assert_only_last_step_ends(steps: list[tuple]) -> None:
    for _, _, term, trunc, info in steps[:-1]:
        assert term is False and trunc is False and info["episode_limit"] is False


# ------------------------------------------------------------------ shapes
def test_lbforaging_env_info_and_shapes() -> None:
    env = make(LBF)
    assert env.get_env_info() == {"state_shape": 30, "obs_shape": 15, "n_actions": 6, "n_agents": 2,
                                  "episode_limit": 50, "action_kind": "discrete", "action_dim": 1}
    obs, info = env.reset()
    assert isinstance(info, dict)
    assert len(obs) == 2 and all(o.dtype == np.float32 and o.shape == (15,) for o in obs)
    state = env.get_state()
    assert state.dtype == np.float32 and state.shape == (30,)
    np.testing.assert_array_equal(state, np.concatenate(env.get_obs()))
    assert env.get_avail_actions() == [[1] * 6, [1] * 6]
    assert env.get_stats() == {}
    obs, reward, term, trunc, info = env.step([0, 0])
    assert len(obs) == 2 and obs[0].shape == (15,) and isinstance(reward, float)
    assert term is False and trunc is False and info["episode_limit"] is False
    env.close()


def test_rware_env_info_and_shapes() -> None:
    env = make(RWARE, time_limit=100)
    info = env.get_env_info()
    assert (info["n_agents"], info["obs_shape"], info["n_actions"], info["state_shape"]) == (2, 71, 5, 142)
    assert info["episode_limit"] == 100 and info["action_kind"] == "discrete"
    obs, _ = env.reset()
    assert [o.shape for o in obs] == [(71,), (71,)] and obs[0].dtype == np.float32
    assert env.get_avail_actions() == [[1] * 5, [1] * 5]


def test_action_formats_are_accepted() -> None:
    """Runner actions may be lists, int/float numpy arrays or torch tensors, flat or [n, 1]."""
    reference = make(LBF, seed=3)
    reference.reset()
    expected = reference.step([4, 2])[0]
    for actions in ([4, 2], np.array([4, 2]), np.array([[4], [2]]), np.array([4.0, 2.0]),
                    torch.tensor([4, 2]), torch.tensor([[4], [2]])):
        env = make(LBF, seed=3)
        env.reset()
        np.testing.assert_array_equal(np.stack(env.step(actions)[0]), np.stack(expected))
    with pytest.raises(ValueError, match="Expected 2 actions"):
        env.step([0, 0, 0])


# ------------------------------------------------------------- time limits
@pytest.mark.parametrize("time_limit", [30, 50, 80])
def test_lbforaging_time_limit_is_truncation(time_limit: int) -> None:
    """Standing still never eats food, so every episode must end by our limit, as a truncation,
    also at 50 (lbforaging's own limit, reported by it as terminated) and beyond it."""
    env = make(LBF, time_limit=time_limit)
    for _ in range(2):  # the lifted limit must survive resets
        steps = run_episode(env, lambda t: [0, 0])
        assert len(steps) == time_limit
        assert_only_last_step_ends(steps)
        _, _, term, trunc, info = steps[-1]
        assert term is False and trunc is True and info["episode_limit"] is True


def test_lbforaging_real_termination_is_terminated() -> None:
    env = make(LBF_SMALL, time_limit=200, seed=0, max_food_level=1)
    steps = run_episode(env, random_actions(0, 2, 6))
    assert len(steps) < 200
    assert env._env.unwrapped.field.sum() == 0  # all food eaten: a true end
    assert_only_last_step_ends(steps)
    _, reward, term, trunc, info = steps[-1]
    assert term is True and trunc is False and info["episode_limit"] is False
    assert reward > 0  # the final (eating) reward is kept


def test_termination_on_the_time_limit_step_is_terminated() -> None:
    """When the task truly ends on the very step the time limit is hit, termination wins."""
    length = len(run_episode(make(LBF_SMALL, time_limit=200, seed=0, max_food_level=1), random_actions(0, 2, 6)))
    env = make(LBF_SMALL, time_limit=length, seed=0, max_food_level=1)
    steps = run_episode(env, random_actions(0, 2, 6))
    assert len(steps) == length
    _, _, term, trunc, info = steps[-1]
    assert term is True and info["episode_limit"] is False


def test_generic_fallback_reads_registered_limit_as_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the lbforaging table entry its stop at the registered 50 steps must still be a
    truncation (fallback on the gymnasium spec), and it ends the episode before our 80."""
    monkeypatch.delitem(internal_limits.KNOWN_STEP_LIMITS, ("lbforaging.foraging.environment", "ForagingEnv"))
    env = make(LBF, time_limit=80)
    steps = run_episode(env, lambda t: [0, 0])
    assert len(steps) == 50
    _, _, term, trunc, info = steps[-1]
    assert term is False and trunc is True and info["episode_limit"] is True


@pytest.mark.parametrize("time_limit", [500, 600])
def test_rware_time_limit_is_truncation(time_limit: int) -> None:
    """rware stops at max_steps=500 and calls it terminated; we must truncate at our limit."""
    env = make(RWARE, time_limit=time_limit)
    steps = run_episode(env, lambda t: [0, 0])
    assert len(steps) == time_limit
    assert_only_last_step_ends(steps)
    _, _, term, trunc, info = steps[-1]
    assert term is False and trunc is True and info["episode_limit"] is True


# ---------------------------------------------------------------- rewards
def _rewards(**kwargs: Any) -> list:
    env = make(LBF_SMALL, time_limit=200, seed=1, max_food_level=1, **kwargs)
    return [step[1] for step in run_episode(env, random_actions(1, 2, 6))]


def test_reward_aggregation() -> None:
    per_agent = _rewards(common_reward=False)
    assert all(isinstance(r, list) and len(r) == 2 and all(isinstance(x, float) for x in r) for r in per_agent)
    assert any(sum(r) > 0 for r in per_agent)
    summed = _rewards(common_reward=True, reward_scalarisation="sum")
    mean = _rewards(common_reward=True, reward_scalarisation="mean")
    assert all(isinstance(r, float) for r in summed + mean)
    np.testing.assert_allclose(summed, [sum(r) for r in per_agent])
    np.testing.assert_allclose(mean, [sum(r) / 2 for r in per_agent])


def test_bad_reward_scalarisation() -> None:
    with pytest.raises(ValueError, match=r"'median'.*'sum', 'mean'"):
        make(LBF, reward_scalarisation="median")


# ---------------------------------------------------------------- seeding
def _obs_trace(seed: int, episodes: int = 2) -> list[np.ndarray]:
    env = make(LBF, time_limit=10, seed=seed)
    act = random_actions(0, 2, 6)
    trace = []
    for _ in range(episodes):
        obs, _ = env.reset()
        trace.append(np.stack(obs))
        for t in range(10):
            trace.append(np.stack(env.step(act(t))[0]))
    return trace


def test_seeding_is_deterministic_and_episodes_differ() -> None:
    a, b, c = _obs_trace(7), _obs_trace(7), _obs_trace(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))
    assert not np.array_equal(a[0], a[11])  # second episode starts elsewhere: later resets are unseeded


def test_explicit_reset_seed() -> None:
    """``reset(seed=...)`` and ``seed()`` override the constructor seed.

    Fresh envs are compared: lbforaging's spawn depends on where the previous
    episode left the players, so one env reseeded mid-life is not reproducible.
    """
    first = np.stack(make(LBF, seed=None).reset(seed=5)[0])
    env = make(LBF, seed=9)
    env.seed(5)
    np.testing.assert_array_equal(np.stack(env.reset()[0]), first)
    assert not np.array_equal(np.stack(make(LBF, seed=9).reset()[0]), first)
    np.testing.assert_array_equal(np.stack(make(LBF, seed=9).reset(seed=5)[0]), first)


# --------------------------------------------------------------- bad keys
def test_unknown_gymnasium_id_in_known_module() -> None:
    with pytest.raises(EnvKeyError) as err:
        make("lbforaging:Foraging-8x8-2p-3f-v9")
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "'lbforaging:Foraging-8x8-2p-3f-v9'" in msg and "imported module 'lbforaging'" in msg
    assert "gymnasium.make('Foraging-8x8-2p-3f-v9')" in msg and "v3" in msg


def test_missing_module_names_package_to_install() -> None:
    with pytest.raises(EnvKeyError) as err:
        make("no_such_env_pkg:Foo-v0")
    msg = str(err.value)
    assert "'no_such_env_pkg:Foo-v0'" in msg and "module 'no_such_env_pkg'" in msg
    assert "pip install no-such-env-pkg" in msg


def test_plain_id_suggests_module_prefix() -> None:
    with pytest.raises(EnvKeyError, match=r"'Foraging-8x8-2p-3x-v3'.*'package:Id'"):
        make("Foraging-8x8-2p-3x-v3")


@pytest.mark.parametrize("key", ["", "lbforaging:", ":Foo-v0"])
def test_malformed_keys(key: str) -> None:
    with pytest.raises(EnvKeyError, match="Accepted forms"):
        make(key)


def test_single_agent_env_is_rejected() -> None:
    with pytest.raises(EnvKeyError, match=r"'CartPole-v1'.*Tuple"):
        make("CartPole-v1")


def test_other_options_rejected() -> None:
    with pytest.raises(ValueError, match="pretrained_wrapper"):
        make(LBF, pretrained_wrapper="tag")
    with pytest.raises(ValueError, match="time_limit"):
        make(LBF, max_episode_steps=10)
    with pytest.raises(ValueError, match="time_limit"):
        make(LBF, time_limit=0)


def test_missing_package_breaks_only_its_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lbforaging", None)  # import of lbforaging now fails
    with pytest.raises(EnvKeyError, match=r"module 'lbforaging' is not installed.*pip install lbforaging"):
        make(LBF)
    assert make(RWARE).get_env_info()["n_agents"] == 2


def test_importing_envs_imports_no_env_package() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r}); import envs, envs.gymma, envs.pettingzoo_adapter; "
        "bad = [m for m in ('lbforaging', 'rware', 'mpe2', 'pettingzoo', 'gymnasium_robotics') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = processes.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    code_light = f"import sys; sys.path.insert(0, {str(SRC)!r}); import envs; sys.exit('gymnasium' in sys.modules)"
    assert processes.run([sys.executable, "-c", code_light], timeout=60).returncode == 0


def test_registry_and_exports() -> None:
    assert set(envs.REGISTRY) >= {"gymma"}
    assert issubclass(EnvKeyError, ValueError)
    assert isinstance(make(LBF), MultiAgentEnv)


# -------------------------------------------------------------- toy env
class UnevenToyEnv(gymnasium.Env):
    """Two agents with different obs/action sizes, action masks, and an internal stop at 10
    steps reported as termination (like lbforaging, but unknown to our table)."""

    def __init__(self, internal_stop: int | None = 10) -> None:
        self.observation_space = spaces.Tuple((spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4)))
        self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3)))
        self.internal_stop = internal_stop
        self.t = 0

    def _obs(self) -> tuple:
        return (np.full(3, 0.5, np.float32), self.t % 4)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, actions: list[int]) -> tuple:
        self.t += 1
        stop = self.internal_stop is not None and self.t >= self.internal_stop
        return self._obs(), [1.0, 2.0], stop, False, {"tick": self.t}

    def get_avail_actions(self) -> list[list[bool]]:
        return [[True, self.t % 2 == 0], [False, True, True]]


gymnasium.register("GymmaToy-v0", entry_point=UnevenToyEnv, max_episode_steps=10)


def test_toy_padding_masks_and_info() -> None:
    env = make("GymmaToy-v0", time_limit=20, common_reward=False)
    assert env.get_env_info() == {"state_shape": 8, "obs_shape": 4, "n_actions": 3, "n_agents": 2,
                                  "episode_limit": 20, "action_kind": "discrete", "action_dim": 1}
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs[0], [0.5, 0.5, 0.5, 0.0])  # Box(3) padded with a zero
    np.testing.assert_array_equal(obs[1], [1, 0, 0, 0])  # Discrete(4) one-hot
    assert env.get_avail_actions() == [[1, 1, 0], [0, 1, 1]]
    _, reward, _, _, info = env.step([0, 1])
    assert reward == [1.0, 2.0] and info["tick"] == 1
    assert env.get_avail_actions() == [[1, 0, 0], [0, 1, 1]]


def test_toy_unknown_internal_stop_is_truncation() -> None:
    steps = run_episode(make("GymmaToy-v0", time_limit=20), lambda t: [0, 0])
    assert len(steps) == 10 and steps[-1][2] is False and steps[-1][3] is True and steps[-1][4]["episode_limit"]


def test_toy_registered_limit_does_not_cut_our_limit() -> None:
    """gymnasium's TimeLimit (spec max_episode_steps=10) is not applied: our 15 steps rule."""
    steps = run_episode(make("GymmaToy-v0", time_limit=15, internal_stop=None), lambda t: [0, 0])
    assert len(steps) == 15 and steps[-1][3] is True and steps[-1][4]["episode_limit"] is True
