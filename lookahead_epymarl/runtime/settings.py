"""The core's run settings from EPyMARL's args, checked as the core's ``main.py`` checks its own.

EPyMARL's ``run.py`` gives components the merged config as a namespace plus ``n_agents``,
``n_actions``, ``state_shape`` and ``device`` (the core's wiring sets the same three sizes). The
rest of the core's :class:`EnvInfo` comes from the scheme (observation size; EPyMARL stores
discrete actions only, as indices ``(1,)``) and from ``env_args.time_limit`` (gymma's episode
limit). Core keys the yaml lacks take the core's
defaults; ``rollout_length`` is 0 because EPyMARL's runners always play whole episodes.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Mapping

import torch
import yaml

from components.env_info import EnvInfo
from experiment.config_checks import check_config
from lookahead_epymarl.runtime.names import CORE_LEARNERS
from utils.config import CONFIG_DIR, ConfigError, bad_value

DECIDED_BY_EPYMARL = {"rollout_length": 0}
"""Core keys whose value EPyMARL's run loop fixes: its runners play whole episodes."""


def core_defaults() -> dict[str, Any]:
    """The core's ``default.yaml`` (installed beside the core, in ``lookahead_plugin/config/``)."""
    with open(os.path.join(CONFIG_DIR, "default.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def env_info_from_epymarl(args: SimpleNamespace, scheme: Mapping[str, Any]) -> EnvInfo:
    """The core's env info, from what EPyMARL's run.py and scheme tell (see the module docstring).

    ``episode_limit`` is ``env_args.time_limit`` when the env has one (gymma); None otherwise.
    """
    actions = scheme["actions"]
    if actions.get("dtype") != torch.long or tuple(_as_tuple(actions["vshape"])) != (1,):
        raise ConfigError(
            f"the scheme's actions are {actions}; the Lookahead plugin supports EPyMARL's discrete actions "
            "(long, vshape (1,)) only"
        )
    obs_shape = _as_tuple(scheme["obs"]["vshape"])
    state_shape = _as_tuple(args.state_shape)
    return EnvInfo(
        n_agents=args.n_agents,
        n_actions=args.n_actions,
        state_shape=state_shape[0] if len(state_shape) == 1 else state_shape,
        obs_shape=obs_shape[0] if len(obs_shape) == 1 else obs_shape,
        episode_limit=(args.env_args or {}).get("time_limit"),
        action_kind="discrete",
    )


def _as_tuple(shape: Any) -> tuple:
    return tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)


def core_args(args: SimpleNamespace, core_mac: str) -> SimpleNamespace:
    """The core's args for a run whose controller is the plugin's over the core's ``core_mac``.

    Raises :class:`ConfigError` (one line naming the bad value and what is allowed) where the core's
    checks or the plugin's own requirements fail.
    """
    config = {**core_defaults(), **vars(args), **DECIDED_BY_EPYMARL}
    learner = config["learner"]
    if learner not in CORE_LEARNERS:
        raise bad_value("learner", learner, f"one of {', '.join(CORE_LEARNERS)} with mac={config['mac']} (the plugin's)")
    check_config({**config, "mac": core_mac, "learner": CORE_LEARNERS[learner], "env": "gymma",
                  "runner": "episode"})  # EPyMARL's env and runner names are its own business
    n_run = config["batch_size_run"]
    for key in ("batch_size", "buffer_size"):
        if config[key] != n_run:
            raise bad_value(
                key, config[key], f"batch_size_run ({n_run}): each update must see exactly the episodes of the "
                "last rollout, whose behaviour policy the plugin recomputes (EPyMARL's buffer would keep older ones)"
            )
    return SimpleNamespace(**config)
