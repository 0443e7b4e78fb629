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
  observation, e.g. HalfCheetah's ``qpos[1:]`` and ``qvel``: 17 entries); it is always raw.
  The info dict is the MuJoCo info (identical for all agents), given once.
* **Observations** (``env_args.obs_mode``):

  - ``"state"`` (default): every agent observes the full state followed by its one-hot
    agent id, ``obs_i = concat(state, onehot(i, n_agents))`` (HalfCheetah 2x3: 17 + 2 = 19).
    This is what HARL trains HAPPO/HATRPO on in MaMuJoCo and what the Lookahead paper uses.
    ``env_args.agent_obsk`` is refused here: it would have no effect.
  - ``"local"``: gymnasium-robotics' own partial observations, the joints up to
    ``env_args.agent_obsk`` (default 1) hops away from the agent's own plus the robot's
    global entries. Agents observe different numbers of entries (e.g. Walker2d 3x2:
    10/12/11); ``GymmaWrapper`` zero-pads them to the largest.

  ``env_args.norm_obs`` (default False) z-scores every agent's observation vector by its
  own mean and standard deviation, as HARL's MaMuJoCo wrapper does (padding stays 0).
* **State-to-observation map.** ``state_to_observations()`` gives an
  ``envs.state_to_obs.StateToObservations`` computing every agent's observation from the
  state as a torch batch op; ``GymmaWrapper.get_env_info`` publishes it as
  ``"state_to_obs"`` (with ``"state_to_obs_exact"``). In state mode it is exact. In
  local mode it is gymnasium-robotics' own index map (``observation_factorization``),
  checked on probe states (see ``probe_local_map``): exact for HalfCheetah and Ant,
  inexact for Walker2d (its state clips joint velocities to +-10, its observations do
  not), absent when the package has none (Reacher, Pusher) or it fails on ordinary states.

* **Step.** ``MaMuJoCoAdapter.step`` does what the package's ``parallel_env.step`` does,
  minus most of its per-step Python work (HalfCheetah 2x3, state mode with ``norm_obs``,
  CPU time per ``gymma`` step: about 230 us before, 125 us now, of which the gymnasium
  MuJoCo env's own step is about 70): the joint action is one precomputed gather
  (``global_action_source``) instead of a loop over joints; the single-agent MuJoCo env
  (with its ``TimeLimit`` and other ``gymnasium.make`` wrappers) steps it; the local
  observations (``obsk.build_obs``, joint by joint) are built only in local mode; the MuJoCo
  step's own observation is kept as the state (``step_observation_is_state``) and served by
  ``get_state``; all agents' state-mode observations are built and z-scored as one array.
  Rewards, ends, infos, observations and states are bit for bit those of the package's
  step (``tests/envs/test_mamujoco_fast_path.py``); ``reset`` (and so seeding) is the
  package's own.

Every other ``env_args`` entry goes to ``parallel_env`` and from there to the gymnasium
MuJoCo env (e.g. ``ctrl_cost_weight``, ``render_mode``). The env checker is off unless
``disable_env_checker=False`` is given.

mujoco writes warnings (e.g. about the deprecated ``settotalmass`` of some models) to
``MUJOCO_LOG.TXT`` in the working directory; that file is harmless.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces as gym_spaces
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from envs.errors import EnvArgsError, EnvKeyError
from envs.keys import import_env_module
from envs.pettingzoo_adapter import PettingZooAdapter
from envs.state_to_obs import StateToObservations, zscore

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


OBS_MODES = ("state", "local")
"""``env_args.obs_mode`` values: every agent sees the full state plus its one-hot id
(HARL's and the Lookahead paper's setting), or gymnasium-robotics' local observations."""

DEFAULT_AGENT_OBSK = 1
"""Joints away an agent observes in ``obs_mode="local"`` (gymnasium-robotics' default)."""

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


def check_obs_args(obs_mode: Any, agent_obsk: Any, norm_obs: Any) -> int | None:
    """Validate the observation ``env_args``; returns the ``agent_obsk`` to use in local mode
    (``None`` in state mode).

    Raises:
        EnvArgsError: naming the key, the bad value and what is allowed; also when
            ``agent_obsk`` is given with ``obs_mode="state"``, where it would do nothing.
    """
    if not isinstance(obs_mode, str) or obs_mode not in OBS_MODES:
        raise EnvArgsError(f"env_args.obs_mode must be one of {OBS_MODES}, got {obs_mode!r}.")
    if not isinstance(norm_obs, (bool, np.bool_)):
        raise EnvArgsError(f"env_args.norm_obs must be True or False, got {norm_obs!r}.")
    if obs_mode == "state":
        if agent_obsk is not None:
            raise EnvArgsError(
                f"env_args.agent_obsk={agent_obsk!r} has no effect with env_args.obs_mode='state' (every "
                "agent observes the full state); drop it, or set env_args.obs_mode='local'."
            )
        return None
    if agent_obsk is None:
        return DEFAULT_AGENT_OBSK
    if isinstance(agent_obsk, bool) or not isinstance(agent_obsk, (int, np.integer)) or agent_obsk < 0:
        raise EnvArgsError(
            f"env_args.agent_obsk must be an int >= 0 (joints away an agent observes), got {agent_obsk!r}."
        )
    return int(agent_obsk)


PROBE_STATES = 8
"""Random states on which ``probe_local_map`` compares the index map with the env."""

PROBE_QPOS_NOISE = 0.3
"""Standard deviation of the probe states' joint positions around the model's initial pose."""

PROBE_QVEL_SCALES = (1.0, 50.0)
"""Standard deviations of the probe states' velocities: ordinary ones, then ones far beyond
any clipping range of the gymnasium MuJoCo envs (e.g. Walker2d's +-10)."""


def probe_local_map(parallel_env: Any, state_indices: list[np.ndarray]) -> bool | None:
    """Does gathering ``state()[state_indices[i]]`` give agent ``i``'s local observation?

    The MuJoCo model is put into random states in a scratch ``MjData`` (the env's own
    simulation is not touched), forward dynamics fill in derived quantities (body
    velocities, contact forces), and the env's state and observations are read there. The
    index map comes from the package's bookkeeping, which cannot see value transforms (a
    clip applied to a state entry but not to the observation, or the other way round);
    this check can.

    Returns:
        True if the gather matched bit for bit on every probe state, False if only on the
        ordinary ones (``PROBE_QVEL_SCALES[0]``), None if not even there (unusable map).
    """
    import mujoco  # installed with gymnasium-robotics; imported only when a map is built

    sim = parallel_env.single_agent_env.unwrapped
    own_data = sim.data
    rng = np.random.default_rng(0)
    matched: list[bool] = []
    try:
        sim.data = mujoco.MjData(sim.model)
        for qvel_scale in PROBE_QVEL_SCALES:
            ok = True
            for _ in range(PROBE_STATES):
                sim.data.qpos[:] = sim.init_qpos + rng.normal(0.0, PROBE_QPOS_NOISE, sim.model.nq)
                sim.data.qvel[:] = rng.normal(0.0, qvel_scale, sim.model.nv)
                mujoco.mj_forward(sim.model, sim.data)
                mujoco.mj_rnePostConstraint(sim.model, sim.data)  # fills cfrc_ext (Ant, Humanoid)
                state = np.asarray(parallel_env.state())
                observations = parallel_env._get_obs()  # the package's own local observations
                ok &= all(
                    np.array_equal(state[indices], observations[agent])
                    for agent, indices in zip(parallel_env.possible_agents, state_indices)
                )
            matched.append(ok)
    finally:
        sim.data = own_data
    if not matched[0]:
        return None
    return all(matched)


def global_action_source(key: str, parallel_env: Any) -> np.ndarray:
    """For each actuator of the MuJoCo env, its position in the agents' concatenated actions:
    ``global_action = concatenate(agent actions in agent order)[source]``.

    The same assignment as the package's ``map_local_actions_to_global_action`` (agent
    ``i``'s ``j``-th action drives actuator ``partition[i][j].act_ids``), as one precomputed
    gather instead of a Python loop per joint on every step.

    Raises:
        EnvArgsError: if the partition (e.g. an ``agent_factorization`` from env_args) drives
            an actuator twice or leaves one undriven, which the package would only find on
            the first step.
    """
    n_actuators = int(parallel_env.single_agent_env.action_space.shape[0])
    source = np.full(n_actuators, -1, dtype=np.int64)
    position = 0
    for partition in parallel_env.agent_action_partitions:
        for node in partition:
            for actuator in np.atleast_1d(np.asarray(node.act_ids, dtype=np.int64)):
                if source[actuator] != -1:
                    raise EnvArgsError(f"Env key {key!r}: its partition drives actuator {actuator} twice.")
                source[actuator] = position
            position += 1
    undriven = np.flatnonzero(source < 0).tolist()
    if undriven:
        raise EnvArgsError(f"Env key {key!r}: its partition leaves actuators {undriven} undriven.")
    return source


PASS_THROUGH_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)
"""The wrappers ``gymnasium.make`` puts around a MuJoCo env; each returns the wrapped env's
observation unchanged."""


def step_observation_is_state(mujoco_env: gymnasium.Env) -> bool:
    """Is the observation ``mujoco_env.step`` returns the MaMuJoCo state (``state()``, i.e.
    ``unwrapped._get_obs()`` after the step)?

    True for gymnasium's own MuJoCo envs (their ``step`` returns ``self._get_obs()`` computed
    after the simulation) behind ``PASS_THROUGH_WRAPPERS`` only: the adapter then keeps that
    observation as the state instead of computing it a second time. False otherwise (e.g. a
    ``gym_env`` given in env_args with an observation wrapper): the state is read with ``state()``.
    """
    env = mujoco_env
    while isinstance(env, gymnasium.Wrapper):
        if type(env) not in PASS_THROUGH_WRAPPERS:
            return False
        env = env.env
    return type(env).__module__.startswith("gymnasium.envs.mujoco.")


class MaMuJoCoAdapter(PettingZooAdapter):
    """A MaMuJoCo parallel env with our partitions, time limit and shared reward.

    Args:
        key: the env key, for error messages.
        scenario: MaMuJoCo scenario, e.g. ``"HalfCheetah"``.
        agent_conf: partition, e.g. ``"2x3"`` (built-in or in ``CUSTOM_PARTITIONS``).
        time_limit: our episode length; the env's own limit is set just above it.
        obs_mode: ``"state"`` (full state + one-hot agent id) or ``"local"`` (see ``OBS_MODES``).
        agent_obsk: joints away an agent observes, an int >= 0; local mode only (default 1).
        norm_obs: z-score every agent's observation vector (``envs.state_to_obs.zscore``).
        **kwargs: passed to ``mamujoco_v1.parallel_env`` (and on to the MuJoCo env).
            ``agent_factorization`` given here replaces the one named by ``agent_conf``.
            The first four arguments are positional-only so that an ``env_args`` entry named
            ``scenario`` or ``agent_conf`` lands here and is rejected with a clear message.
    """

    shared_reward = True

    def __init__(
        self,
        key: str,
        scenario: str,
        agent_conf: str,
        time_limit: int,
        /,
        obs_mode: str = "state",
        agent_obsk: int | None = None,
        norm_obs: bool = False,
        **kwargs: Any,
    ) -> None:
        local_obsk = check_obs_args(obs_mode, agent_obsk, norm_obs)
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
                # State mode ignores the local observations; the package needs some k anyway.
                agent_obsk=DEFAULT_AGENT_OBSK if local_obsk is None else local_obsk,
                agent_factorization=factorization,
                max_episode_steps=int(time_limit) + 1,
                **kwargs,
            )
        except TypeError as err:  # an env_args entry the MuJoCo env does not take
            raise EnvArgsError(f"Cannot build env key {key!r} with env_args {sorted(kwargs)}: {err}") from err
        self.scenario = scenario
        self.agent_conf = agent_conf
        self.obs_mode = obs_mode
        self.norm_obs = bool(norm_obs)
        self._attach(env)
        self._mujoco_env = env.single_agent_env  # gymnasium.make's wrappers (TimeLimit, ...) included
        self._action_source = global_action_source(key, env)
        self._n_agent_actions = sum(len(partition) for partition in env.agent_action_partitions)
        self._step_obs_is_state = step_observation_is_state(self._mujoco_env)
        if obs_mode == "state":
            n_agents, size = len(self.agent_names), self._state_size + len(self.agent_names)
            self._agent_ids = np.eye(n_agents)
            box = gym_spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)
            self.observation_space = gym_spaces.Tuple([box] * n_agents)
        self._state_to_obs = self._build_state_to_obs()
        self._state: np.ndarray = np.asarray(env.state(), dtype=np.float64)

    def step(self, actions: Sequence[Any]) -> tuple[tuple[np.ndarray, ...], list[float], bool, bool, dict[str, Any]]:
        """Step with one action per agent (in agent order); same results as the package's
        ``parallel_env.step`` through ``PettingZooAdapter.step``, without its overhead.

        The package's step is: the single-agent MuJoCo env (with its ``TimeLimit``) steps the
        joint action, then every agent's local observation is built joint by joint in Python
        (``obsk.build_obs``), then per-agent dicts are filled. Here the joint action is one
        precomputed gather (``global_action_source``), the local observations are built only
        in local mode, and the state is the observation the MuJoCo step returned (when that
        is the state, ``step_observation_is_state``). Returns ``(obs, rewards, terminated,
        truncated, info)`` as ``PettingZooAdapter.step``: a truncation (the MuJoCo
        ``TimeLimit``) wins over a termination on the same step; ``info`` is the MuJoCo info.

        Raises:
            ValueError: on a wrong total number of action entries or a NaN action.
            RuntimeError: when called after the episode ended (``reset`` first).
        """
        if not self.pettingzoo_env.agents:
            raise RuntimeError(f"{self.scenario}-{self.agent_conf}: step() after the episode ended; call reset().")
        joint = np.concatenate(actions, dtype=np.float64)  # float32 -> float64 is exact
        if joint.size != self._n_agent_actions:
            raise ValueError(
                f"{self.scenario}-{self.agent_conf}: expected {self._n_agent_actions} action entries over "
                f"{len(self.agent_names)} agents, got {joint.size}."
            )
        if np.isnan(joint).any():  # the package refuses NaN actions as well
            raise ValueError(f"{self.scenario}-{self.agent_conf}: NaN in the actions {joint.tolist()}.")
        observation, reward, terminated, truncated, info = self._mujoco_env.step(joint[self._action_source])
        if terminated or truncated:
            self.pettingzoo_env.agents = []  # as the package's step does
        self._state = observation if self._step_obs_is_state else np.asarray(self.pettingzoo_env.state())
        self._observe(self.pettingzoo_env._get_obs() if self.obs_mode == "local" else None)
        reward = float(reward)
        return (
            tuple(self._last_obs),
            [reward] * len(self.agent_names),
            bool(terminated) and not truncated,
            bool(truncated),
            info,
        )

    def _store_obs(self, obs: dict[str, Any]) -> None:
        """After the package's ``reset``: read the state, then store the observations."""
        self._state = np.asarray(self.pettingzoo_env.state(), dtype=np.float64)
        self._observe(obs if self.obs_mode == "local" else None)

    def _observe(self, local_obs: dict[str, np.ndarray] | None) -> None:
        """Store every agent's observation: the package's local one (local mode) or the state
        followed by the one-hot id (state mode, ``local_obs`` None), z-scored if ``norm_obs``.

        State mode builds all agents' observations as one ``[n_agents, state_dim + n_agents]``
        array and z-scores its rows in one ``zscore`` call."""
        if local_obs is None:
            n_agents, state_dim = self._agent_ids.shape[0], self._state.shape[0]
            obs = np.empty((n_agents, state_dim + n_agents))
            obs[:, :state_dim] = self._state
            obs[:, state_dim:] = self._agent_ids
            self._last_obs = list(zscore(obs) if self.norm_obs else obs)
        elif self.norm_obs:  # different lengths per agent: one z-score each
            self._last_obs = [zscore(np.asarray(local_obs[agent], dtype=np.float64)) for agent in self.agent_names]
        else:
            self._last_obs = [local_obs[agent] for agent in self.agent_names]

    def get_state(self) -> np.ndarray:
        """The state (the single-agent MuJoCo observation) as a new flat float32 array, kept
        from the last step or reset instead of being computed again."""
        return self._state.astype(np.float32).reshape(-1)

    def state_to_observations(self) -> StateToObservations | None:
        """The map from ``get_state()`` to the agents' (padded) observations, or ``None`` when
        local mode has no usable one (see the module docstring)."""
        return self._state_to_obs

    def _build_state_to_obs(self) -> StateToObservations | None:
        """State mode: the whole state plus the id, exact. Local mode: the package's index map,
        its exactness probed (``probe_local_map``)."""
        state_dim, n_agents = self._state_size, len(self.agent_names)
        if self.obs_mode == "state":
            indices = [np.arange(state_dim)] * n_agents
            return StateToObservations(indices, state_dim, agent_id=True, norm_obs=self.norm_obs, exact=True)
        factorization = self.pettingzoo_env.observation_factorization  # agent -> state indices, or None
        if factorization is None:
            return None
        indices = [np.asarray(factorization[agent], dtype=np.int64) for agent in self.agent_names]
        exact = probe_local_map(self.pettingzoo_env, indices)
        if exact is None:
            return None
        return StateToObservations(indices, state_dim, agent_id=False, norm_obs=self.norm_obs, exact=exact)

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
