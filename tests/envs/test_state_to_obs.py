"""The state-to-observation map: its formula on hand-made inputs, and on real MaMuJoCo envs
the published map against the observations the env actually gave on visited states."""

from __future__ import annotations

import os
import pickle
from typing import Any, Iterator

import numpy as np
import pytest
import torch

from envs import REGISTRY, MultiAgentEnv
from envs.state_to_obs import NORM_EPS, StateToObservations, zscore


# --------------------------------------------------------------- the formula
def small_map(norm_obs: bool = False) -> StateToObservations:
    """Agent 0 sees state entries 2, 0; agent 1 sees entry 1; both get their one-hot id."""
    return StateToObservations([[2, 0], [1]], 3, agent_id=True, norm_obs=norm_obs, exact=True)


def test_gather_one_hot_and_padding() -> None:
    mapping = small_map()
    assert (mapping.n_agents, mapping.obs_dim, mapping.obs_sizes) == (2, 4, [4, 3])
    obs = mapping(torch.tensor([10.0, 20.0, 30.0]))
    assert obs.tolist() == [[30.0, 10.0, 1.0, 0.0], [20.0, 0.0, 1.0, 0.0]]  # agent 1: id [0, 1], then padding
    no_id = StateToObservations([[2, 0], [1]], 3, agent_id=False, norm_obs=False, exact=True)
    assert no_id(torch.tensor([10.0, 20.0, 30.0])).tolist() == [[30.0, 10.0], [20.0, 0.0]]


def test_z_score_over_each_agents_own_entries() -> None:
    obs = small_map(norm_obs=True)(torch.tensor([10.0, 20.0, 30.0], dtype=torch.float64))
    first, second = np.array([30.0, 10.0, 1.0, 0.0]), np.array([20.0, 0.0, 1.0])
    np.testing.assert_allclose(obs[0].numpy(), (first - first.mean()) / first.std())
    np.testing.assert_allclose(obs[1, :3].numpy(), (second - second.mean()) / second.std())
    assert obs[1, 3] == 0.0  # padding is not part of the vector and stays 0
    np.testing.assert_allclose(obs[1, :3].numpy(), zscore(second))  # the env-side numpy twin


def test_constant_vector_maps_to_zeros_not_nan() -> None:
    mapping = StateToObservations([[0, 1]], 2, agent_id=False, norm_obs=True, exact=True)
    assert mapping(torch.tensor([5.0, 5.0])).tolist() == [[0.0, 0.0]]
    assert zscore(np.array([5.0, 5.0])).tolist() == [0.0, 0.0] and NORM_EPS > 0
    assert zscore(np.array([[5.0, 5.0], [1.0, 3.0]])).tolist() == [[0.0, 0.0], [-1.0, 1.0]]


@pytest.mark.parametrize("dim", [3, 8, 19, 63, 109, 300])
def test_numpy_zscore_of_a_batch_is_numpys_mean_and_std_bit_for_bit(dim: int) -> None:
    """Every row of the one-call batch z-score equals ``(v - v.mean()) / v.std()`` exactly (the
    MaMuJoCo observations it normalises stay what they were with one numpy call per vector);
    lengths around numpy's pairwise-summation blocks (8, 128) included."""
    rng = np.random.default_rng(dim)
    for scale in (1e-3, 1.0, 1e3):
        batch = rng.normal(rng.normal(0.0, 5.0), scale, size=(4, dim))
        expected = np.stack([(v - v.mean()) / v.std() for v in batch])
        assert np.array_equal(zscore(batch), expected)
        assert np.array_equal(zscore(batch[2]), expected[2])  # one vector alone


@pytest.mark.parametrize("norm_obs", [False, True])
def test_batched_over_leading_dims_keeps_dtype(norm_obs: bool) -> None:
    mapping = small_map(norm_obs)
    states = torch.randn(4, 5, 3, dtype=torch.float64)  # [batch, time, state_dim]
    obs = mapping(states)
    assert obs.shape == (4, 5, 2, 4) and obs.dtype == torch.float64
    for b in range(4):
        for t in range(5):
            torch.testing.assert_close(obs[b, t], mapping(states[b, t]), rtol=0, atol=0)


def test_tables_are_built_on_the_inputs_device() -> None:
    """A tensor on the ``meta`` device (shapes only) fails if any table stays on the CPU."""
    mapping = small_map(norm_obs=True)
    obs = mapping(torch.empty(7, 3, device="meta"))
    assert obs.device.type == "meta" and obs.shape == (7, 2, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    mapping, states = small_map(norm_obs=True), torch.randn(6, 3)
    torch.testing.assert_close(mapping(states.cuda()).cpu(), mapping(states))


def test_pickles_without_its_device_cache() -> None:
    mapping = small_map(norm_obs=True)
    states = torch.randn(3, 3)
    expected = mapping(states)  # fills the cache
    copy = pickle.loads(pickle.dumps(mapping))
    assert copy._device_cache == {} and copy.exact is True
    torch.testing.assert_close(copy(states), expected, rtol=0, atol=0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"expects states of shape \[\.\.\., 3\], got \[2, 4\]"):
        small_map()(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"agent 1's state indices \[3\] leave \[0, 3\)"):
        StateToObservations([[0], [3]], 3, agent_id=False, norm_obs=False, exact=True)


# ------------------------------------------------------------ real MaMuJoCo envs
@pytest.fixture(scope="module")
def mujoco_cwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """mujoco writes MUJOCO_LOG.TXT into the working directory: keep it out of the repo."""
    pytest.importorskip("gymnasium_robotics")
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("mujoco_cwd"))
    yield
    os.chdir(old)


def make(key: str, seed: int = 0, **kwargs: Any) -> MultiAgentEnv:
    return REGISTRY["gymma"](key=key, time_limit=1000, seed=seed, common_reward=True,
                             reward_scalarisation="sum", **kwargs)


def rollouts(key: str, n_envs: int = 2, steps: int = 25, **kwargs: Any) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Env info and the states ``[n_envs, steps, state_dim]`` / observations ``[n_envs, steps,
    n_agents, obs_dim]`` seen under uniform random actions (an env that ends is reset)."""
    states, observations = [], []
    for seed in range(n_envs):
        env = make(key, seed=seed, **kwargs)
        info = env.get_env_info()
        env.reset()
        actions = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(steps, env.n_agents, info["n_actions"]))
        env_states, env_obs = [], []
        for t in range(steps):
            env_states.append(env.get_state())
            env_obs.append(np.stack(env.get_obs()))
            _, _, term, trunc, _ = env.step(actions[t])
            if term or trunc:
                env.reset()
        states.append(np.stack(env_states))
        observations.append(np.stack(env_obs))
    return info, torch.from_numpy(np.stack(states)), torch.from_numpy(np.stack(observations))


@pytest.mark.parametrize("key,obs_mode,norm_obs", [
    ("mamujoco:HalfCheetah-2x3", "state", False),
    ("mamujoco:HalfCheetah-2x3", "local", False),
    ("mamujoco:HalfCheetah-2x3", "state", True),
    ("mamujoco:HalfCheetah-3x2", "local", True),  # uneven 10/12/11: z-score before the padding
    ("mamujoco:Ant-4x2", "local", False),
    ("mamujoco:Walker2d-3x2", "state", False),
])
def test_published_map_reproduces_the_envs_observations(mujoco_cwd: None, key: str, obs_mode: str,
                                                        norm_obs: bool) -> None:
    info, states, observations = rollouts(key, obs_mode=obs_mode, norm_obs=norm_obs)
    mapping = info["state_to_obs"]
    assert info["state_to_obs_exact"] is True and mapping.exact is True
    assert states.shape[-1] == info["state_shape"]
    assert observations.shape[-2:] == (info["n_agents"], info["obs_shape"])
    mapped = mapping(states)  # [n_envs, steps, n_agents, obs_dim] in one call
    assert mapped.shape == observations.shape and mapped.dtype == torch.float32
    if norm_obs:  # the env z-scores the float64 vector, the map the float32 state
        torch.testing.assert_close(mapped, observations, rtol=0, atol=1e-5)
    else:
        torch.testing.assert_close(mapped, observations, rtol=0, atol=0)


def test_walker_local_map_is_marked_inexact(mujoco_cwd: None) -> None:
    """Walker2d's state clips joint velocities to +-10, its agents' local observations do not: the
    map is published as inexact, agrees wherever no velocity in the state is clipped, and random
    actions do reach states where it differs."""
    info, states, observations = rollouts("mamujoco:Walker2d-3x2", obs_mode="local", steps=40)
    assert info["state_to_obs_exact"] is False and info["state_to_obs"].exact is False
    mapped = info["state_to_obs"](states)
    unclipped = states[..., 8:].abs().amax(-1) < 10.0  # state = qpos[1:] (8) + clipped qvel (9)
    assert 0 < unclipped.sum() < unclipped.numel()
    torch.testing.assert_close(mapped[unclipped], observations[unclipped], rtol=0, atol=0)
    assert not torch.equal(mapped[~unclipped], observations[~unclipped])


def test_env_info_with_the_map_survives_pickling(mujoco_cwd: None) -> None:
    """Subprocess env workers send the env info through a pipe, i.e. pickled."""
    info, states, observations = rollouts("mamujoco:HalfCheetah-2x3", n_envs=1, steps=5, obs_mode="local")
    copy = pickle.loads(pickle.dumps(info))
    assert copy["state_to_obs_exact"] is True
    torch.testing.assert_close(copy["state_to_obs"](states), observations, rtol=0, atol=0)


def test_probing_leaves_the_simulation_untouched(mujoco_cwd: None) -> None:
    """The local-mode probe runs in scratch MuJoCo data: an env probed mid-episode steps on
    exactly like a twin that was not."""
    from envs.mamujoco import probe_local_map

    probed, twin = make("mamujoco:Ant-4x2", obs_mode="local"), make("mamujoco:Ant-4x2", obs_mode="local")
    actions = np.random.default_rng(3).uniform(-1.0, 1.0, size=(6, 4, 2))
    probed.reset(), twin.reset()
    for t in range(6):
        if t == 3:
            parallel_env = probed._env.pettingzoo_env
            indices = [parallel_env.observation_factorization[a] for a in parallel_env.possible_agents]
            assert probe_local_map(parallel_env, indices) is True
        np.testing.assert_array_equal(probed.get_state(), twin.get_state())
        np.testing.assert_array_equal(np.stack(probed.get_obs()), np.stack(twin.get_obs()))
        probed.step(actions[t]), twin.step(actions[t])


def test_envs_without_a_map_have_no_key(mujoco_cwd: None) -> None:
    """Reacher has no local index map in gymnasium-robotics; its state mode has one. Non-MaMuJoCo
    envs publish none."""
    assert "state_to_obs" not in make("mamujoco:Reacher-2x1", obs_mode="local").get_env_info()
    assert "state_to_obs_exact" not in make("mamujoco:Reacher-2x1", obs_mode="local").get_env_info()
    assert make("mamujoco:Reacher-2x1").get_env_info()["state_to_obs_exact"] is True
    toy_info = REGISTRY["gymma"](key="toy", time_limit=1).get_env_info()
    assert "state_to_obs" not in toy_info and "state_to_obs_exact" not in toy_info
