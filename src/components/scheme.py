"""What an env's info means for the data: the EpisodeBatch scheme of its spaces."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch

from components.env_info import EnvInfo
from components.transforms import OneHot


def build_scheme(env_info: EnvInfo | Mapping[str, Any], args: SimpleNamespace) -> tuple[dict, dict, dict]:
    """The EpisodeBatch scheme, groups and preprocessing for this env's spaces (``env_info``: an
    :class:`EnvInfo`, or the dictionary of ``get_env_info()``).

    Discrete actions are stored as indices ``(1,)`` plus a derived one-hot; continuous ones as the
    raw sampled vector ``(action_dim,)`` (``n_actions`` is the action dimension then). With
    ``store_log_probs`` the runner also stores each agent's behaviour log-probability ``log_prob``.
    """
    env_info = EnvInfo.from_env(env_info)
    continuous = env_info.continuous
    n_actions = env_info.n_actions
    scheme = {
        "state": {"vshape": env_info.state_shape},
        "obs": {"vshape": env_info.obs_shape, "group": "agents"},
        "actions": {"vshape": (n_actions,), "group": "agents", "dtype": torch.float32}
        if continuous
        else {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (n_actions,), "group": "agents", "dtype": torch.int},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "reward": {"vshape": (env_info.reward_dim(args.common_reward),)},
    }
    if args.store_log_probs:  # the behaviour policy's log pi(a) of each agent's action, stored as sampled
        scheme["log_prob"] = {"vshape": (1,), "group": "agents"}
    groups = {"agents": env_info.n_agents}
    preprocess = {} if continuous else {"actions": ("actions_onehot", [OneHot(out_dim=n_actions)])}
    return scheme, groups, preprocess


def has_continuous_actions(scheme: Mapping[str, Any]) -> bool:
    """Whether a scheme's ``actions`` are continuous vectors (stored as floats; discrete actions are
    integer indices, as in EPyMARL's scheme)."""
    return scheme["actions"].get("dtype", torch.float32).is_floating_point
