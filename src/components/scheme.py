"""What an env's info means for the data: the EpisodeBatch scheme of its spaces, and the sizes every
component reads from the run's args."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from components.transforms import OneHot


def apply_env_info(args: SimpleNamespace, env_info: dict) -> None:
    """Copy the env's sizes and action kind into ``args``, where every component reads them."""
    args.action_kind = env_info.get("action_kind", "discrete")
    args.n_agents, args.n_actions = env_info["n_agents"], env_info["n_actions"]
    args.state_shape, args.obs_shape = env_info["state_shape"], env_info["obs_shape"]
    args.episode_limit = env_info["episode_limit"]
    args.env_info = env_info  # the whole of it, for learners that build batches or models of this env


def build_scheme(env_info: dict, args: SimpleNamespace) -> tuple[dict, dict, dict]:
    """The EpisodeBatch scheme, groups and preprocessing for this env's spaces.

    Discrete actions are stored as indices ``(1,)`` plus a derived one-hot; continuous ones as the
    raw sampled vector ``(action_dim,)`` (``n_actions`` is the action dimension then). With
    ``store_log_probs`` the runner also stores each agent's behaviour log-probability ``log_prob``.
    """
    continuous = env_info.get("action_kind", "discrete") == "continuous"
    n_actions = env_info["n_actions"]
    scheme = {
        "state": {"vshape": env_info["state_shape"]},
        "obs": {"vshape": env_info["obs_shape"], "group": "agents"},
        "actions": {"vshape": (n_actions,), "group": "agents", "dtype": torch.float32}
        if continuous
        else {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (n_actions,), "group": "agents", "dtype": torch.int},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "reward": {"vshape": (1,) if args.common_reward else (env_info["n_agents"],)},
    }
    if args.store_log_probs:  # the behaviour policy's log pi(a) of each agent's action, stored as sampled
        scheme["log_prob"] = {"vshape": (1,), "group": "agents"}
    groups = {"agents": env_info["n_agents"]}
    preprocess = {} if continuous else {"actions": ("actions_onehot", [OneHot(out_dim=n_actions)])}
    return scheme, groups, preprocess
