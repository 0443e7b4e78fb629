"""A PettingZoo parallel env seen as a Tuple-space gymnasium env, for ``GymmaWrapper``.

``GymmaWrapper`` drives both gymnasium multi-agent envs and PettingZoo parallel envs
through one protocol (Tuple observation/action spaces, a list of per-agent rewards,
one ``terminated``/``truncated`` pair); this adapter provides it for PettingZoo:

* agents are ordered as ``possible_agents`` and that order never changes;
* actions are sent only for agents still alive; an agent that is done keeps its last
  observation and gets reward 0 until the episode ends;
* the episode ends when every agent has terminated or been truncated. It is
  ``truncated`` if any agent ending at that step was truncated (the remaining team
  still had a future), else ``terminated``;
* the last step's rewards are passed through unchanged (EPyMARL's wrapper zeroes them);
* the global state is ``env.state()`` when the env provides it (``get_state``), else
  ``get_state_size`` returns ``None`` and the wrapper concatenates observations;
* action masks are read from dict observations ``{"observation", "action_mask"}`` or
  ``info[agent]["action_mask"]`` (PettingZoo conventions) when present;
* ``shared_reward`` (False here) tells the wrapper whether every agent's reward is the
  same team reward; adapters for such envs (``envs.mamujoco``) subclass this one,
  build their env their own way and hand it to ``_attach``. They may also rewrite the
  observations in ``_store_obs`` and offer ``state_to_observations()`` (published by
  ``GymmaWrapper.get_env_info``); this generic adapter does neither.

Nothing here imports pettingzoo: only the module named by the key is imported, when
the adapter is built.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces as gym_spaces

from envs.errors import EnvArgsError, EnvKeyError
from envs.keys import import_env_module


def build_parallel_env(key: str, module_name: str, kwargs: dict[str, Any]) -> Any:
    """``module_name.parallel_env(**kwargs)``, with failures reported against ``key``.

    Raises:
        EnvKeyError: if the module cannot be imported or has no ``parallel_env``.
        EnvArgsError: if ``parallel_env`` rejects an argument.
    """
    module = import_env_module(key, module_name)
    factory = getattr(module, "parallel_env", None)
    if not callable(factory):
        raise EnvKeyError(
            f"Cannot build env key {key!r}: module {module_name!r} has no callable "
            "'parallel_env', so it is not a PettingZoo parallel env module."
        )
    try:
        return factory(**kwargs)
    except TypeError as err:  # an env_args entry parallel_env does not take
        raise EnvArgsError(f"Cannot build env key {key!r} with env_args {sorted(kwargs)}: {err}") from err


class PettingZooAdapter(gymnasium.Env):
    """Wraps ``module.parallel_env(**kwargs)`` with a fixed agent order.

    Args:
        key: the env key, for error messages.
        module_name: module whose ``parallel_env`` builds the env, e.g. ``"mpe2.simple_spread_v3"``.
        **kwargs: passed to ``parallel_env``.

    Attributes:
        pettingzoo_env: the wrapped parallel env.
        agent_names: agent ids in the fixed order used for every list.
    """

    metadata = {"render_modes": ["human", "rgb_array"]}

    shared_reward: bool = False
    """True when the env gives every agent the same team reward (then that reward *is*
    the team reward: ``GymmaWrapper`` neither sums nor averages it). Generic PettingZoo
    envs may give different rewards, so this is False here; ``MaMuJoCoAdapter`` sets it."""

    def __init__(self, key: str, module_name: str, **kwargs: Any) -> None:
        self._attach(build_parallel_env(key, module_name, kwargs))

    def _attach(self, parallel_env: Any) -> None:
        """Adopt a built parallel env: fix the agent order, spaces and state size.

        Split from ``__init__`` so that adapters building their env differently (e.g.
        ``MaMuJoCoAdapter``) share everything after construction.
        """
        self.pettingzoo_env = parallel_env
        self.agent_names: tuple[str, ...] = tuple(self.pettingzoo_env.possible_agents)
        self._index = {name: i for i, name in enumerate(self.agent_names)}
        self.render_mode = getattr(self.pettingzoo_env, "render_mode", None)

        raw_obs_spaces = [self.pettingzoo_env.observation_space(a) for a in self.agent_names]
        # PettingZoo's convention for action masks inside observations.
        self._mask_in_obs = all(
            isinstance(s, gym_spaces.Dict) and {"observation", "action_mask"} <= set(s.spaces)
            for s in raw_obs_spaces
        )
        obs_spaces = [s["observation"] for s in raw_obs_spaces] if self._mask_in_obs else raw_obs_spaces
        self.observation_space = gym_spaces.Tuple(obs_spaces)
        self.action_space = gym_spaces.Tuple([self.pettingzoo_env.action_space(a) for a in self.agent_names])

        self._state_size = self._probe_state_size()
        n = len(self.agent_names)
        self._last_obs: list[Any] = [None] * n
        self._done: list[bool] = [False] * n
        self._masks: list[Any] | None = None

    def _probe_state_size(self) -> int | None:
        """Size of ``env.state()``, or ``None`` if the env has no global state."""
        state_space = getattr(self.pettingzoo_env, "state_space", None)
        if state_space is not None:
            return int(gym_spaces.flatdim(state_space))
        try:
            self.pettingzoo_env.reset()
            return int(np.asarray(self.pettingzoo_env.state()).size)
        except (NotImplementedError, AttributeError):
            return None

    # ------------------------------------------------------------------ protocol
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Reset the parallel env; returns per-agent observations in agent order and ``{}``."""
        obs, infos = self.pettingzoo_env.reset(seed=seed, options=options)
        self._done = [False] * len(self.agent_names)
        self._masks = None
        self._store_obs(obs)
        self._flatten_infos(infos)
        return tuple(self._last_obs), {}

    def step(self, actions: Sequence[Any]) -> tuple[tuple[Any, ...], list[float], bool, bool, dict[str, Any]]:
        """Step with one action per agent (in agent order); dead agents' actions are dropped.

        Returns ``(obs, rewards, terminated, truncated, info)``; ``info`` holds the
        agents' info entries as ``"<agent>_<key>"``.
        """
        env = self.pettingzoo_env
        live = env.agents
        if len(live) == len(self.agent_names):
            action_dict = dict(zip(self.agent_names, actions))
        else:
            action_dict = {a: actions[self._index[a]] for a in live}
        obs, rewards, terminations, truncations, infos = env.step(action_dict)

        self._store_obs(obs)
        reward_list = [float(rewards.get(a, 0.0)) for a in self.agent_names]
        any_truncated = False
        for agent, flag in truncations.items():
            if flag:
                self._done[self._index[agent]] = True
                any_truncated = True
        for agent, flag in terminations.items():
            if flag:
                self._done[self._index[agent]] = True
        finished = all(self._done) or not env.agents
        return (
            tuple(self._last_obs),
            reward_list,
            finished and not any_truncated,
            finished and any_truncated,
            self._flatten_infos(infos),
        )

    def _store_obs(self, obs: dict[str, Any]) -> None:
        """Keep the newest observation of every agent present in ``obs``."""
        for agent, value in obs.items():
            i = self._index[agent]
            if self._mask_in_obs:
                if self._masks is None:
                    self._masks = [None] * len(self.agent_names)
                self._masks[i] = value["action_mask"]
                value = value["observation"]
            self._last_obs[i] = value

    def _flatten_infos(self, infos: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Merge per-agent infos as ``"<agent>_<key>"`` and pick up ``action_mask`` entries."""
        flat: dict[str, Any] = {}
        for agent, agent_info in infos.items():
            for name, value in agent_info.items():
                if name == "action_mask":
                    if self._masks is None:
                        self._masks = [None] * len(self.agent_names)
                    self._masks[self._index[agent]] = value
                else:
                    flat[f"{agent}_{name}"] = value
        return flat

    # ------------------------------------------------------------- extras
    def get_avail_actions(self) -> list[Any] | None:
        """Latest per-agent action masks (unpadded), or ``None`` if the env gives none.

        An agent without a mask yet gets ``None``; the wrapper treats it as all allowed.
        """
        return self._masks

    def get_state(self) -> np.ndarray:
        """The env's global state as a flat float32 array."""
        return np.asarray(self.pettingzoo_env.state(), dtype=np.float32).reshape(-1)

    def get_state_size(self) -> int | None:
        """Length of ``get_state()``, or ``None`` when the env has no ``state()``."""
        return self._state_size

    def render(self) -> Any:
        """Render through the parallel env (its ``render_mode`` is set at construction)."""
        return self.pettingzoo_env.render()

    def close(self) -> None:
        """Close the parallel env."""
        self.pettingzoo_env.close()
