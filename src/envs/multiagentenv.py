"""The interface every multi-agent environment exposes to runners and learners.

It keeps EPyMARL's method names (``get_obs``, ``get_state``, ``get_avail_actions``,
``get_env_info``, ...) so the same runner code drives any env, and it pins down the
parts EPyMARL leaves vague:

* ``step`` returns ``(obs, reward, terminated, truncated, info)`` with
  ``info["episode_limit"]`` set to ``True`` exactly when the episode ended because of
  a time limit (to be bootstrapped) rather than a true termination.
* ``reward`` is a float with a common reward, else a list with one float per agent.
* observations are float32 vectors padded to one length, the state is a float32
  vector, and available actions are 0/1 lists of length ``n_actions``.
* ``get_env_info`` includes ``action_kind``; the action description comes from
  ``get_action_info`` so a continuous-action env only adds keys there.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # numpy is only needed for annotations; keeps ``import envs`` light
    import numpy as np

ObsList = list["np.ndarray"]
"""One 1-D float32 array per agent, all of length ``obs_shape``."""

Reward = float | list[float]
"""A float with a common reward, else one float per agent."""

StepResult = tuple[ObsList, Reward, bool, bool, dict[str, Any]]
"""``(obs, reward, terminated, truncated, info)`` as returned by ``step``."""


class MultiAgentEnv(abc.ABC):
    """Abstract cooperative multi-agent environment with a fixed set of agents.

    Subclasses set ``n_agents`` and ``episode_limit`` (the maximum number of steps of
    an episode, used to size episode buffers) in their constructor.
    """

    n_agents: int
    episode_limit: int

    # ----------------------------------------------------------------- episode
    @abc.abstractmethod
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsList, dict[str, Any]]:
        """Start a new episode and return ``(obs_list, info)``.

        ``seed`` reseeds the env; ``None`` continues the env's random stream so that
        successive episodes differ.
        """

    @abc.abstractmethod
    def step(self, actions: Sequence[Any] | np.ndarray) -> StepResult:
        """Apply one action per agent and return ``(obs, reward, terminated, truncated, info)``.

        ``terminated`` is a true end of the task (no bootstrapping); ``truncated`` is a
        time-limit end, also flagged by ``info["episode_limit"] = True``.
        """

    @abc.abstractmethod
    def seed(self, seed: int | None = None) -> None:
        """Set the seed used by the next ``reset``."""

    # ------------------------------------------------------------ observations
    @abc.abstractmethod
    def get_obs(self) -> ObsList:
        """The current observation of every agent (float32, padded to ``obs_shape``)."""

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        """The current observation of one agent."""
        return self.get_obs()[agent_id]

    @abc.abstractmethod
    def get_obs_size(self) -> int:
        """Length of every agent's (padded) observation vector."""

    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """The current global state as a 1-D float32 array of length ``state_shape``."""

    @abc.abstractmethod
    def get_state_size(self) -> int:
        """Length of the global state vector."""

    # ----------------------------------------------------------------- actions
    @abc.abstractmethod
    def get_avail_actions(self) -> list[list[int]]:
        """Per agent, a 0/1 list of length ``n_actions`` marking the allowed actions."""

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        """The 0/1 available-action list of one agent."""
        return self.get_avail_actions()[agent_id]

    @abc.abstractmethod
    def get_action_info(self) -> dict[str, Any]:
        """Describe the action space: ``{"action_kind": "discrete", "n_actions": int}``.

        Kept separate from ``get_env_info`` so that a new action kind (e.g.
        continuous, adding ``action_dim``/``action_low``/``action_high``) only changes
        what this returns.
        """

    def get_total_actions(self) -> int:
        """Number of actions of the agent with the most actions (EPyMARL name)."""
        return int(self.get_action_info()["n_actions"])

    # -------------------------------------------------------------- summaries
    def get_env_info(self) -> dict[str, Any]:
        """Sizes the runner and learners need to build buffers and networks.

        Keys: ``state_shape``, ``obs_shape``, ``n_agents``, ``episode_limit`` (ints)
        plus everything from ``get_action_info`` (``action_kind``, ``n_actions``, ...).
        """
        return {
            "state_shape": int(self.get_state_size()),
            "obs_shape": int(self.get_obs_size()),
            "n_agents": int(self.n_agents),
            "episode_limit": int(self.episode_limit),
            **self.get_action_info(),
        }

    def get_stats(self) -> dict[str, Any]:
        """Env-specific statistics to log (none by default)."""
        return {}

    # ----------------------------------------------------------------- misc
    def render(self) -> Any:
        """Render the current frame if the env supports it (no-op by default)."""
        return None

    def close(self) -> None:
        """Release the env's resources (no-op by default)."""

    def save_replay(self) -> None:
        """Save a replay of the last episode if the env supports it (no-op by default)."""
