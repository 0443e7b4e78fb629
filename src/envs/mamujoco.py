"""Multi-Agent MuJoCo (gymnasium-robotics ``mamujoco_v1``) for ``GymmaWrapper``.

Key form ``mamujoco:<Scenario>-<agent_conf>``, e.g. ``mamujoco:HalfCheetah-2x3``,
``mamujoco:Ant-4x2``, ``mamujoco:Walker2d-3x2``. ``<Scenario>`` is a MaMuJoCo scenario
name as ``mamujoco_v1.parallel_env`` takes it (it builds the gymnasium ``<Scenario>-v5``
MuJoCo env itself); ``<agent_conf>`` is a partition of the robot's joints into agents.

What this module adds to the generic PettingZoo path (``PettingZooAdapter``):

* **Partitions.** The built-in partitions of gymnasium-robotics are used as they are
  (``get_parts_and_edges(scenario, agent_conf)``). ``CUSTOM_PARTITIONS`` adds the
  ones HARL (and the Lookahead paper) use but gymnasium-robotics 1.4.2 lacks,
  HalfCheetah 3x2 and Walker2d 3x2, as an ``agent_factorization`` built from the
  scenario's own joint graph (``get_parts_and_edges(scenario, None)``) regrouped by
  joint label, in HARL's order. An unknown scenario or partition raises
  ``EnvKeyError`` naming the key and listing ``KNOWN_PARTITIONS``.
* **Shared reward.** MaMuJoCo gives every agent the same reward, the single-agent
  MuJoCo reward. ``shared_reward = True`` tells ``GymmaWrapper`` that this value *is*
  the team reward, so ``common_reward`` with ``reward_scalarisation="sum"`` does not
  multiply it by ``n_agents`` (returns stay comparable with published MaMuJoCo
  results); per-agent rewards (``common_reward=False``) are that value for every agent.
* **Time limits.** The MuJoCo env's own ``TimeLimit`` (1000 steps) is lifted above
  ours (``max_episode_steps = time_limit + 1``), so ``env_args.time_limit`` alone
  decides the episode length and reports it as a truncation (bootstrapped), while a
  fall of Ant/Walker2d/Hopper/Humanoid (``terminate_when_unhealthy``) stays a
  termination. A scenario that ignores ``max_episode_steps`` (CoupledHalfCheetah
  hard-codes 1000) still ends as a truncation there, never as a termination.
* **State and info.** The global state is ``env.state()`` (the single-agent MuJoCo
  observation); the info dict is the MuJoCo info (identical for all agents), given once.

``agent_obsk`` (default 1, as in HARL) is how many joints away an agent observes;
every other ``env_args`` entry goes to ``parallel_env`` and from there to the
gymnasium MuJoCo env (e.g. ``ctrl_cost_weight``, ``render_mode``). The env checker is
off unless ``disable_env_checker=False`` is given. Agents observe different numbers
of joints (e.g. Walker2d 3x2: 10/12/11); ``GymmaWrapper`` zero-pads them to the largest.

mujoco writes warnings (e.g. about the deprecated ``settotalmass`` of some models) to
``MUJOCO_LOG.TXT`` in the working directory; that file is harmless.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from envs.errors import EnvArgsError, EnvKeyError
from envs.keys import import_env_module
from envs.pettingzoo_adapter import PettingZooAdapter

MAMUJOCO_PACKAGE = "gymnasium_robotics"
"""The package whose ``mamujoco_v1`` attribute provides ``parallel_env`` and
``get_parts_and_edges`` (``from gymnasium_robotics import mamujoco_v1``; it is not an
importable submodule of that name)."""


def import_mamujoco(key: str) -> ModuleType:
    """``gymnasium_robotics.mamujoco_v1``, imported for env key ``key``.

    Raises:
        EnvKeyError: naming the key and the package to install when it is missing, or
            when the installed release has no ``mamujoco_v1``.
    """
    package = import_env_module(key, MAMUJOCO_PACKAGE)
    mamujoco = getattr(package, "mamujoco_v1", None)
    if mamujoco is None:
        version = getattr(package, "__version__", "unknown")
        raise EnvKeyError(
            f"Cannot build env key {key!r}: gymnasium-robotics {version} has no mamujoco_v1; "
            'install `pip install "gymnasium-robotics==1.4.2"`.'
        )
    return mamujoco

CUSTOM_PARTITIONS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("HalfCheetah", "3x2"): (("bfoot", "bshin"), ("bthigh", "ffoot"), ("fshin", "fthigh")),
    ("Walker2d", "3x2"): (
        ("foot_joint", "leg_joint"),
        ("thigh_joint", "foot_left_joint"),
        ("leg_left_joint", "thigh_left_joint"),
    ),
}
"""(scenario, agent_conf) → joint labels of each agent, for partitions gymnasium-robotics
does not build in. Groupings and their order are HARL's (its ``obsk.py``); the labels are
the node labels of gymnasium-robotics' joint graphs. These take precedence over any
built-in partition of the same name so results stay comparable with HARL's."""

KNOWN_PARTITIONS: dict[str, tuple[str, ...]] = {
    "Ant": ("2x4", "2x4d", "4x2"),
    "HalfCheetah": ("2x3", "3x2", "6x1"),
    "Walker2d": ("2x3", "3x2"),
    "Hopper": ("3x1",),
    "Humanoid": ("9|8",),
    "HumanoidStandup": ("9|8",),
    "Reacher": ("2x1",),
    "Pusher": ("3p",),
    "Swimmer": ("2x1",),
    "CoupledHalfCheetah": ("1p1",),
    "ManySegmentAnt": ("<agents>x<segments per agent>",),
    "ManySegmentSwimmer": ("<agents>x<segments per agent>",),
}
"""Scenario → partitions known to work (gymnasium-robotics 1.4.2's built-ins plus
``CUSTOM_PARTITIONS``). Used for error messages only: the package is always asked, so
partitions a newer release adds work without changing this table."""


def known_partitions_text() -> str:
    """``KNOWN_PARTITIONS`` as one line for error messages."""
    return "; ".join(f"{scenario}: {', '.join(confs)}" for scenario, confs in KNOWN_PARTITIONS.items())


def custom_factorization(
    key: str, module: ModuleType, scenario: str, groups: tuple[tuple[str, ...], ...]
) -> dict[str, Any]:
    """``agent_factorization`` (``{"partition", "edges", "globals"}``) grouping the joints of
    ``scenario`` by label into ``groups``, one tuple of joint labels per agent.

    Raises:
        EnvKeyError: if the installed package's joint graph lacks a label or the groups do
            not use every actuated joint exactly once (a package change we must hear about).
    """
    parts, edges, global_nodes = module.get_parts_and_edges(scenario, None)
    nodes = {node.label: node for part in parts for node in part}
    used = [label for group in groups for label in group]
    if sorted(used) != sorted(nodes):
        raise EnvKeyError(
            f"Cannot build env key {key!r}: its agent groups {groups} do not match the joints "
            f"{sorted(nodes)} of the installed gymnasium-robotics {scenario!r} graph."
        )
    partition = [tuple(nodes[label] for label in group) for group in groups]
    return {"partition": partition, "edges": edges, "globals": global_nodes}


def check_builtin_partition(key: str, module: ModuleType, scenario: str, agent_conf: str) -> None:
    """Ask the package whether it knows ``scenario`` and ``agent_conf``, before any MuJoCo
    model is built.

    Raises:
        EnvKeyError: naming the key and listing the scenarios/partitions we know of.
    """
    try:
        module.get_parts_and_edges(scenario, agent_conf)
    except Exception as err:  # the package raises a bare Exception (or AssertionError)
        if scenario in KNOWN_PARTITIONS:
            problem = (
                f"scenario {scenario!r} has no partition {agent_conf!r} "
                f"(known: {', '.join(KNOWN_PARTITIONS[scenario])})"
            )
        else:
            problem = f"unknown scenario {scenario!r} (known: {', '.join(KNOWN_PARTITIONS)})"
        raise EnvKeyError(
            f"Cannot build env key {key!r}: {problem}. gymnasium-robotics said: {err}. "
            f"Known MaMuJoCo scenarios and partitions: {known_partitions_text()}. "
            "Key form: 'mamujoco:<Scenario>-<agent_conf>', e.g. 'mamujoco:HalfCheetah-2x3'."
        ) from err


class MaMuJoCoAdapter(PettingZooAdapter):
    """A MaMuJoCo parallel env with our partitions, time limit and shared reward.

    Args:
        key: the env key, for error messages.
        scenario: MaMuJoCo scenario, e.g. ``"HalfCheetah"``.
        agent_conf: partition, e.g. ``"2x3"`` (built-in or in ``CUSTOM_PARTITIONS``).
        time_limit: our episode length; the env's own limit is set just above it.
        agent_obsk: joints away an agent observes (an int >= 0; HARL's default 1).
        **kwargs: passed to ``mamujoco_v1.parallel_env`` (and on to the MuJoCo env).
            ``agent_factorization`` given here replaces the one named by ``agent_conf``.
            The first four arguments are positional-only so that an ``env_args`` entry named
            ``scenario`` or ``agent_conf`` lands here and is rejected with a clear message.
    """

    shared_reward = True

    def __init__(
        self, key: str, scenario: str, agent_conf: str, time_limit: int, /, agent_obsk: int = 1, **kwargs: Any
    ) -> None:
        if isinstance(agent_obsk, bool) or not isinstance(agent_obsk, (int, np.integer)) or agent_obsk < 0:
            raise EnvArgsError(
                f"env_args.agent_obsk must be an int >= 0 (joints away an agent observes), got {agent_obsk!r}."
            )
        for name in ("scenario", "agent_conf"):
            if name in kwargs:
                raise EnvArgsError(
                    f"Do not pass env_args.{name} for {key!r}: the key names the scenario and partition "
                    "('mamujoco:<Scenario>-<agent_conf>')."
                )
        module = import_mamujoco(key)
        factorization = kwargs.pop("agent_factorization", None)
        if factorization is None:
            groups = CUSTOM_PARTITIONS.get((scenario, agent_conf))
            if groups is not None:
                factorization = custom_factorization(key, module, scenario, groups)
            else:
                check_builtin_partition(key, module, scenario, agent_conf)
        kwargs.setdefault("disable_env_checker", True)
        try:
            env = module.parallel_env(
                scenario=scenario,
                agent_conf=agent_conf,
                agent_obsk=int(agent_obsk),
                agent_factorization=factorization,
                max_episode_steps=int(time_limit) + 1,
                **kwargs,
            )
        except TypeError as err:  # an env_args entry the MuJoCo env does not take
            raise EnvArgsError(f"Cannot build env key {key!r} with env_args {sorted(kwargs)}: {err}") from err
        self.scenario = scenario
        self.agent_conf = agent_conf
        self._attach(env)

    def _probe_state_size(self) -> int:
        """``state()`` is the single-agent MuJoCo observation: its space gives the size
        without the reset the generic probe needs."""
        space = self.pettingzoo_env.single_agent_env.observation_space
        return int(np.prod(space.shape, dtype=np.int64))

    def _flatten_infos(self, infos: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Every agent carries the same MuJoCo info dict (``x_position``, ``reward_ctrl``, ...):
        return it once, unprefixed."""
        for agent_info in infos.values():
            return agent_info
        return {}
