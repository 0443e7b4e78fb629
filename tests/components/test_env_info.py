"""``components.env_info.EnvInfo``: a frozen, typed view of ``env.get_env_info()`` that still reads
as the env's dictionary."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from components.env_info import EnvInfo
from envs import REGISTRY as env_registry

TOY = {"key": "toy", "time_limit": 1}


def test_a_real_envs_info_keeps_every_entry():
    env = env_registry["gymma"](**TOY, common_reward=True, reward_scalarisation="sum")
    try:
        raw = env.get_env_info()
    finally:
        env.close()
    info = EnvInfo.from_env(raw)
    assert (info.n_agents, info.n_actions, info.state_shape, info.obs_shape) == (2, 1, raw["state_shape"], raw["obs_shape"])
    assert info.episode_limit == 1 and info.action_kind == "continuous" and info.continuous
    assert dict(info) == raw  # every entry, core and optional, read as from the dictionary
    assert info.get("true_dynamics") is raw["true_dynamics"] and info.get("absent") is None
    assert set(info.extras) == set(raw) - {"n_agents", "n_actions", "state_shape", "obs_shape", "episode_limit",
                                           "action_kind"}
    assert EnvInfo.from_env(info) is info


def test_it_cannot_be_changed():
    info = EnvInfo.from_env({"n_agents": 2, "n_actions": 3, "state_shape": 4, "obs_shape": 5, "episode_limit": 6,
                             "state_to_obs": None})
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.n_agents = 3
    with pytest.raises(TypeError):
        info.extras["state_to_obs"] = print


def test_defaults_and_refusals():
    info = EnvInfo.from_env({"n_agents": 2, "n_actions": 3, "state_shape": 4, "obs_shape": 5})
    assert info.action_kind == "discrete" and info.episode_limit is None and not info.continuous
    assert info.reward_dim(common_reward=True) == 1 and info.reward_dim(common_reward=False) == 2
    with pytest.raises(ValueError, match="lacks n_actions, obs_shape"):
        EnvInfo.from_env({"n_agents": 2, "state_shape": 4})
    with pytest.raises(ValueError, match="'action_kind': 'binary'; allowed: discrete, continuous"):
        EnvInfo.from_env({"n_agents": 2, "n_actions": 3, "state_shape": 4, "obs_shape": 5, "action_kind": "binary"})


def test_it_pickles_and_deep_copies_as_the_runs_state_does():
    info = EnvInfo.from_env({"n_agents": 2, "n_actions": 3, "state_shape": 4, "obs_shape": 5, "action_low": [0.0]})
    for clone in (pickle.loads(pickle.dumps(info)), copy.deepcopy(info)):
        assert dict(clone) == dict(info) and clone.n_agents == 2
        with pytest.raises(TypeError):
            clone.extras["action_low"] = None
