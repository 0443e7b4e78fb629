"""The wiring of one run: from the config and a built runner to the buffer, controller and learner.

The one place that builds them (``run.py``, the in-process benchmarks and the EPyMARL plugin call
it): the env's info becomes an :class:`EnvInfo` value, the scheme follows from it, the controller
and learner come from their registries with EPyMARL's calls, and a learner that needs the env's
info itself (Lookahead's: its model and imagined runner) is built by its builder
(``LEARNER_BUILDERS``) with that value passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from components.env_info import EnvInfo
from components.episode_buffer import ReplayBuffer
from components.interfaces import Controller, Learner, Runner, StatLogger
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment.lookahead import build_lookahead_learner
from learners import REGISTRY as learner_registry

LEARNER_BUILDERS: dict[str, Callable[..., Learner]] = {"lookahead_learner": build_lookahead_learner}
"""Learners built from the env's info besides EPyMARL's ``(mac, scheme, logger, args)``, by name."""


@dataclass
class RunComponents:
    """What a run trains with: the env's info, the replay buffer, the controller and the learner."""

    env_info: EnvInfo
    buffer: ReplayBuffer
    mac: Controller
    learner: Learner


def set_epymarl_sizes(args: SimpleNamespace, env_info: EnvInfo) -> None:
    """Copy the three sizes EPyMARL's ``run.py`` copies into ``args`` (``n_agents``, ``n_actions``,
    ``state_shape``): EPyMARL's agents, critics and controllers read them there, and so do the
    core's, so a component written for EPyMARL runs here unchanged. Nothing else of the env goes
    into ``args``."""
    args.n_agents, args.n_actions, args.state_shape = env_info.n_agents, env_info.n_actions, env_info.state_shape


def build_run(args: SimpleNamespace, runner: Runner, logger: StatLogger) -> RunComponents:
    """The buffer, controller and learner of a run whose ``runner`` is built; the controller is set
    up in ``runner``."""
    env_info = EnvInfo.from_env(runner.get_env_info())
    set_epymarl_sizes(args, env_info)
    scheme, groups, preprocess = build_scheme(env_info, args)
    buffer_device = "cpu" if args.buffer_cpu_only else args.device
    buffer = ReplayBuffer(scheme, groups, args.buffer_size, runner.max_seq_length, preprocess, device=buffer_device)
    mac = mac_registry[args.mac](buffer.scheme, groups, args)
    runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    learner = build_learner(mac, buffer.scheme, logger, args, env_info)
    return RunComponents(env_info, buffer, mac, learner)


def build_learner(mac: Controller, scheme: Mapping[str, Any], logger: StatLogger, args: SimpleNamespace,
                  env_info: EnvInfo) -> Learner:
    """``args.learner``: EPyMARL's ``REGISTRY[args.learner](mac, scheme, logger, args)``, or its
    builder in ``LEARNER_BUILDERS`` given ``env_info`` too."""
    if args.learner in LEARNER_BUILDERS:
        return LEARNER_BUILDERS[args.learner](mac, scheme, logger, args, env_info)
    return learner_registry[args.learner](mac, scheme, logger, args)
