"""``gymma``: multi-agent gymnasium and PettingZoo envs behind ``MultiAgentEnv``.

Key forms (``env_args.key``):

* ``"Id"``: a registered gymnasium id whose observation and action spaces are
  gymnasium ``Tuple`` spaces with one entry per agent.
* ``"module:Id"``: import ``module`` first (it registers its ids), e.g.
  ``"lbforaging:Foraging-8x8-2p-3f-v3"``, ``"rware:rware-tiny-2ag-v2"``.
* ``"pz:module"``: a PettingZoo parallel env built by ``module.parallel_env(**kwargs)``,
  e.g. ``"pz:mpe2.simple_spread_v3"`` (see ``envs.pettingzoo_adapter``).
* ``"pz-lib-name"``: EPyMARL's PettingZoo form; ``"pz-mpe-simple-spread-v3"`` maps to
  ``"pz:mpe2.simple_spread_v3"``, other libs to ``"pz:pettingzoo.<lib>.<name>"``.
* ``"mamujoco:<Scenario>-<agent_conf>"``: Multi-Agent MuJoCo (gymnasium-robotics), e.g.
  ``"mamujoco:HalfCheetah-2x3"``, ``"mamujoco:Ant-4x2"``, ``"mamujoco:Walker2d-3x2"``;
  ``env_args.obs_mode`` (``"state"``, the default: full state + one-hot agent id, as in
  HARL; or ``"local"``: gymnasium-robotics' ``agent_obsk`` joints away, ``env_args.agent_obsk``
  default 1), ``env_args.norm_obs`` (per-vector z-score) and other MuJoCo kwargs pass
  through (see ``envs.mamujoco`` for partitions, observations, the shared reward and
  time limits).
* ``"gfootball:<scenario>"``: Google Research Football, e.g.
  ``"gfootball:academy_3_vs_1_with_keeper"``; ``env_args.n_agents``, ``rewards`` and
  ``team_reward`` (see ``envs.gfootball`` for the state, team reward, score rate and ends).
* ``"toy"``: alias of ``"envs.toy_game:ToyGame-v0"``, the Lookahead paper's toy game.

A key that cannot be built raises ``EnvKeyError`` naming the key, what was tried,
and the package to install when an import failed.

Time limits: ``time_limit`` (= ``episode_limit``) is counted here, always.
gymnasium's own ``TimeLimit`` is not added (``make(..., max_episode_steps=-1)``).
Env-internal limits reported as terminations are lifted above ``time_limit`` for the
classes in ``envs.internal_limits.KNOWN_STEP_LIMITS`` (lbforaging, rware, mpe2); for
other envs a termination exactly at the registered step limit counts as truncation.
When ``time_limit`` is reached, ``truncated=True`` and ``info["episode_limit"]=True``
unless the env truly terminated on that same step (then ``terminated=True`` and
``info["episode_limit"]=False``: termination wins). PettingZoo truncations are
truncations.

Observations are flattened and zero-padded to the largest agent observation; the
state is the env's own global state when it offers one (``get_state`` /
``get_state_size`` on the unwrapped env, e.g. PettingZoo ``state()``), else the
concatenated padded observations. An env that can compute every agent's observation from
its state (``state_to_observations()`` on the unwrapped env returning an
``envs.state_to_obs.StateToObservations``, e.g. MaMuJoCo) has it published by
``get_env_info`` as ``"state_to_obs"``, with ``"state_to_obs_exact"``; other envs have
neither key.

Actions (``envs.spaces.ActionSpec``): per-agent ``Discrete`` spaces give
``action_kind="discrete"``; ``step`` takes one index per agent. Available actions
come from the unwrapped env's ``get_avail_actions()`` when it has one, else all ones,
zero-padded to ``n_actions``. Per-agent float ``Box`` spaces give
``action_kind="continuous"`` with ``n_actions = action_dim`` (largest over agents)
and per-agent ``action_low`` / ``action_high``; ``step`` takes a float array
``[n_agents, action_dim]`` that may lie outside the bounds (raw Gaussian samples):
each agent's action is clipped to its ``Box`` (unless ``env_args.clip_actions`` is
False: then it is passed on raw, as HARL does) and its padded dims dropped before
the env sees it. ``get_avail_actions`` then gives all ones (unused by learners).

Rewards: with ``common_reward`` the team reward is the ``sum`` (or ``mean``,
``reward_scalarisation``) of the per-agent rewards, except for envs declaring
``shared_reward = True`` (MaMuJoCo, the toy game): every agent already receives the
team reward, so the team reward is that value itself; summing would multiply it by
``n_agents``. Envs whose agents get different shares of one team outcome define
``team_reward(rewards)`` on the unwrapped env (GRF: ``envs.gfootball``); with
``common_reward`` that gives the team reward instead. Without ``common_reward`` each agent
gets its own reward.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces as gym_spaces

from envs.errors import EnvArgsError, EnvKeyError
from envs.internal_limits import lift_internal_limit, registered_step_limit
from envs.keys import KEY_FORMS, EnvKey, import_env_module, parse_key
from envs.multiagentenv import MultiAgentEnv, ObsList, Reward, StepResult
from envs.spaces import ActionSpec, ObsPacker

REWARD_SCALARISATIONS = ("sum", "mean")
"""Accepted ``reward_scalarisation`` values when ``common_reward`` is True."""


def make_gymnasium_env(parsed: EnvKey, kwargs: dict[str, Any]) -> gymnasium.Env:
    """``gymnasium.make`` for a parsed ``"Id"``/``"module:Id"`` key, without gymnasium's TimeLimit.

    Raises:
        EnvKeyError: if the module cannot be imported or the id is not registered.
    """
    assert parsed.env_id is not None
    if parsed.module is not None:
        import_env_module(parsed.raw, parsed.module)
    # gymnasium's passive checker expects a scalar reward and warns on every
    # multi-agent env, so it is off unless the user asks for it.
    kwargs = {"disable_env_checker": True, **kwargs}
    try:
        return gymnasium.make(parsed.env_id, max_episode_steps=-1, **kwargs)
    except gymnasium.error.UnregisteredEnv as err:
        tried = f"imported module {parsed.module!r}, then " if parsed.module else ""
        hint = (
            ""
            if parsed.module
            else " If a package registers this id, name it first as 'package:Id' "
            "(e.g. 'lbforaging:Foraging-8x8-2p-3f-v3')."
        )
        raise EnvKeyError(
            f"Cannot build env key {parsed.raw!r}: {tried}gymnasium.make({parsed.env_id!r}) "
            f"failed, no such gymnasium id ({err}).{hint} Accepted forms: {KEY_FORMS}."
        ) from err
    except TypeError as err:  # an env_args entry the env constructor does not take
        raise EnvArgsError(
            f"Cannot build env key {parsed.raw!r} with env_args {sorted(kwargs)}: {err}"
        ) from err
    except gymnasium.error.DependencyNotInstalled as err:
        raise EnvKeyError(f"Cannot build env key {parsed.raw!r}: a dependency is missing: {err}") from err


def per_agent_spaces(space: gym_spaces.Space, what: str, key: str) -> list[gym_spaces.Space]:
    """The per-agent entries of a multi-agent ``Tuple`` space.

    Raises:
        EnvKeyError: if ``space`` is not a Tuple (the key names a single-agent env).
    """
    if isinstance(space, gym_spaces.Tuple):
        return list(space.spaces)
    raise EnvKeyError(
        f"Env key {key!r} gives {what} space {space}, but gymma needs a gymnasium Tuple "
        "of per-agent spaces (a multi-agent env)."
    )


class GymmaWrapper(MultiAgentEnv):
    """A multi-agent gymnasium or PettingZoo env with our time limit, padding and rewards.

    Args:
        key: env key, see the module docstring.
        time_limit: maximum steps per episode (``episode_limit``).
        seed: seed of the first ``reset`` (later resets continue the env's random stream).
        common_reward: return one team reward instead of one reward per agent.
        reward_scalarisation: ``"sum"`` or ``"mean"`` of agent rewards for the team reward.
        pretrained_wrapper: EPyMARL key, accepted for config compatibility; must be None.
        clip_actions: continuous actions: clip each agent's action to its ``Box`` bounds (True)
            or pass the policy's raw action to the env (False). Discrete actions ignore it.
        **kwargs: passed to the env constructor (``gymnasium.make`` / ``parallel_env``).
    """

    def __init__(
        self,
        key: str,
        time_limit: int,
        seed: int | None = None,
        common_reward: bool = True,
        reward_scalarisation: str = "sum",
        pretrained_wrapper: str | None = None,
        clip_actions: bool = True,
        **kwargs: Any,
    ) -> None:
        if pretrained_wrapper is not None:
            raise EnvArgsError(f"pretrained_wrapper={pretrained_wrapper!r} is not supported; set it to null.")
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, np.integer)) or time_limit < 1:
            raise EnvArgsError(f"time_limit must be a positive int, got {time_limit!r}.")
        if not isinstance(clip_actions, bool):
            raise EnvArgsError(f"clip_actions must be True or False, got {clip_actions!r}.")
        if "max_episode_steps" in kwargs:
            raise EnvArgsError("Do not pass max_episode_steps to gymma; set env_args.time_limit instead.")
        if common_reward and reward_scalarisation not in REWARD_SCALARISATIONS:
            raise EnvArgsError(
                f"Invalid reward_scalarisation {reward_scalarisation!r}: choose one of {REWARD_SCALARISATIONS}."
            )

        self.key = key
        self.episode_limit = int(time_limit)
        self.common_reward = bool(common_reward)
        self.reward_scalarisation = reward_scalarisation

        parsed = parse_key(key)
        spec_limit: int | None = None
        if parsed.kind == "mamujoco":
            from envs.mamujoco import MaMuJoCoAdapter

            assert parsed.scenario is not None and parsed.agent_conf is not None
            self._env = MaMuJoCoAdapter(key, parsed.scenario, parsed.agent_conf, self.episode_limit, **kwargs)
            limit_holder = self._env.pettingzoo_env.unwrapped
        elif parsed.kind == "gfootball":
            from envs.gfootball import GFootballAdapter

            assert parsed.scenario is not None
            self._env = GFootballAdapter(key, parsed.scenario, seed, **kwargs)
            limit_holder = self._env
        elif parsed.kind == "pettingzoo":
            from envs.pettingzoo_adapter import PettingZooAdapter

            assert parsed.module is not None
            self._env: gymnasium.Env = PettingZooAdapter(key, parsed.module, **kwargs)
            limit_holder = self._env.pettingzoo_env.unwrapped
        else:
            self._env = make_gymnasium_env(parsed, kwargs)
            limit_holder = self._env.unwrapped
            spec_limit = registered_step_limit(gymnasium.spec(parsed.env_id))
        # A lifted (known) limit never fires; otherwise fall back on the registered one.
        self._fallback_limit = None if lift_internal_limit(limit_holder, self.episode_limit) else spec_limit

        obs_spaces = per_agent_spaces(self._env.observation_space, "observation", key)
        act_spaces = per_agent_spaces(self._env.action_space, "action", key)
        if len(obs_spaces) != len(act_spaces):
            raise EnvKeyError(
                f"Env key {key!r} has {len(obs_spaces)} observation spaces but {len(act_spaces)} action spaces."
            )
        self.n_agents = len(obs_spaces)
        self._obs_packer = ObsPacker(obs_spaces)
        try:
            self._action_spec = ActionSpec.from_spaces(act_spaces, clip_actions)
        except ValueError as err:
            raise EnvKeyError(f"Env key {key!r}: {err}") from err
        self._continuous = self._action_spec.kind == "continuous"
        self._all_available = self._action_spec.all_available()

        unwrapped = self._env.unwrapped
        mask_fn = getattr(unwrapped, "get_avail_actions", None)
        # Continuous actions have no masks; learners ignore the all-ones template.
        self._mask_fn = mask_fn if callable(mask_fn) and not self._continuous else None
        self._shared_reward = bool(getattr(unwrapped, "shared_reward", False))
        team_reward_fn = getattr(unwrapped, "team_reward", None)
        self._team_reward_fn = team_reward_fn if callable(team_reward_fn) and self.common_reward else None
        state_fn = getattr(unwrapped, "get_state", None)
        state_size_fn = getattr(unwrapped, "get_state_size", None)
        env_state_size = state_size_fn() if callable(state_fn) and callable(state_size_fn) else None
        self._state_fn = state_fn if env_state_size is not None else None
        self._state_size = int(env_state_size) if env_state_size is not None else self.n_agents * self._obs_packer.size

        self._mean_scale = 1.0 / self.n_agents if reward_scalarisation == "mean" else 1.0
        self._warned_scalar_reward = False
        self._next_seed = seed
        self._t = 0
        self._obs = np.zeros((self.n_agents, self._obs_packer.size), dtype=np.float32)
        self._obs_list: ObsList = list(self._obs)

    # ---------------------------------------------------------------- episode
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[ObsList, dict[str, Any]]:
        """Start an episode. Uses ``seed`` if given, else a pending seed (the constructor's
        or ``seed()``'s) once, else continues the env's random stream."""
        if seed is None:
            seed = self._next_seed
        self._next_seed = None
        obs, info = self._env.reset(seed=seed, options=options)
        self._t = 0
        self._set_obs(obs)
        return self._obs_list, info

    def seed(self, seed: int | None = None) -> None:
        """Use ``seed`` on the next ``reset`` only."""
        self._next_seed = seed

    def step(self, actions: Sequence[Any] | np.ndarray) -> StepResult:
        """Step all agents with one action per agent (discrete: ``[n_agents]`` indices;
        continuous: ``[n_agents, action_dim]`` floats, clipped here to each agent's bounds
        unless ``clip_actions`` is False).
        See the module docstring for how episode ends are reported."""
        obs, reward, terminated, truncated, info = self._env.step(self._action_spec.to_env(actions))
        self._t += 1
        self._set_obs(obs)
        terminated = terminated if type(terminated) is bool else _all_flags(terminated)
        truncated = truncated if type(truncated) is bool else _all_flags(truncated)
        if terminated and self._t == self._fallback_limit:
            terminated, truncated = False, True
        if self._t >= self.episode_limit:
            truncated = True
        info = {**info, "episode_limit": truncated and not terminated}
        return self._obs_list, self._reward(reward), terminated, truncated, info

    def _set_obs(self, obs: Sequence[Any]) -> None:
        """Pack the env's per-agent observations into a new padded float32 array."""
        self._obs = self._obs_packer.pack(obs)
        self._obs_list = list(self._obs)

    def _reward(self, reward: Any) -> Reward:
        """Team reward (sum or mean; the shared value itself for ``shared_reward`` envs; the
        env's ``team_reward`` when it has one) or per-agent list, from the env's reward."""
        if type(reward) is list or type(reward) is tuple or isinstance(reward, np.ndarray):
            if self._team_reward_fn is not None:
                return self._team_reward_fn(reward)
            if self._shared_reward and self.common_reward:
                return float(reward[0])  # every agent holds the same team reward
            if self.common_reward:
                return float(sum(reward)) * self._mean_scale
            return [float(r) for r in reward]
        # The env already gives one team reward.
        if self.common_reward:
            return float(reward)
        if not self._warned_scalar_reward and not self._shared_reward:
            warnings.warn(
                f"Env {self.key!r} returns a single team reward but common_reward=False: "
                "giving every agent the team reward.",
                stacklevel=2,
            )
            self._warned_scalar_reward = True
        return [float(reward)] * self.n_agents

    # ----------------------------------------------------------- observations
    def get_obs(self) -> ObsList:
        """Per-agent float32 observations of length ``obs_shape`` (shared; do not modify)."""
        return self._obs_list

    def get_obs_size(self) -> int:
        """Length of the padded observation vector."""
        return self._obs_packer.size

    def get_state(self) -> np.ndarray:
        """The env's global state if it has one, else the concatenated padded observations."""
        if self._state_fn is not None:
            return np.asarray(self._state_fn(), dtype=np.float32).reshape(-1)
        return self._obs.reshape(-1)

    def get_state_size(self) -> int:
        """Length of ``get_state()``."""
        return self._state_size

    # ----------------------------------------------------------------- actions
    def get_avail_actions(self) -> list[list[int]]:
        """Per-agent 0/1 lists of length ``n_actions`` (env masks if given, else all ones;
        always all ones for continuous actions)."""
        masks = self._mask_fn() if self._mask_fn is not None else None
        if masks is None:
            return [list(row) for row in self._all_available]
        return [
            list(self._all_available[i]) if mask is None else self._action_spec.pad_mask(mask, i)
            for i, mask in enumerate(masks)
        ]

    def get_action_info(self) -> dict[str, Any]:
        """``action_kind``, ``n_actions``, ``action_dim`` and, for continuous actions,
        ``action_low`` / ``action_high`` (see ``envs.spaces.ActionSpec.info``)."""
        return self._action_spec.info()

    # ------------------------------------------------------------------ misc
    def get_env_info(self) -> dict[str, Any]:
        """``MultiAgentEnv.get_env_info`` plus, when the env offers a state-to-observation map,
        ``"state_to_obs"`` (a picklable callable ``[..., state_shape] -> [..., n_agents,
        obs_shape]``) and ``"state_to_obs_exact"`` (whether it reproduces the observations); when
        the env offers its dynamics as batched torch ops (``batched_dynamics()``, the toy game),
        ``"true_dynamics"``: ``(state [N, ...], actions [N, n_agents, ...]) -> (next_state, team
        reward [N, 1], termination probability [N], next_obs)``."""
        info = super().get_env_info()
        map_fn = getattr(self._env.unwrapped, "state_to_observations", None)
        state_to_obs = map_fn() if callable(map_fn) else None
        if state_to_obs is not None:
            info["state_to_obs"] = state_to_obs
            info["state_to_obs_exact"] = state_to_obs.exact
        dynamics_fn = getattr(self._env.unwrapped, "batched_dynamics", None)
        if callable(dynamics_fn):
            info["true_dynamics"] = dynamics_fn()
        return info

    def get_stats(self) -> dict[str, Any]:
        """No env-specific statistics."""
        return {}

    def render(self) -> Any:
        """Render through the env (pass ``render_mode`` in env_args to choose how)."""
        return self._env.render()

    def close(self) -> None:
        """Close the env."""
        self._env.close()

    def save_replay(self) -> None:
        """Replays are not supported for gymma envs; does nothing."""


def _all_flags(flags: Any) -> bool:
    """Episode-level flag from an env giving one flag per agent: True when all are set."""
    if isinstance(flags, (list, tuple, np.ndarray)):
        return bool(all(flags))
    return bool(flags)
