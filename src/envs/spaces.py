"""Per-agent space handling shared by the env wrappers.

Two small helpers, both built once per env so that ``step`` only runs precomputed code:

* ``ObsPacker`` turns one observation per agent (any gymnasium space) into a
  ``[n_agents, obs_size]`` float32 array, flattening each with
  ``gymnasium.spaces.flatten`` and zero-padding shorter ones to the largest.
* ``ActionSpec`` describes the joint action space (``get_action_info``), converts
  the runner's actions to what the env accepts and gives the padded
  available-action template. Only per-agent ``Discrete`` spaces are supported now;
  continuous (``Box``) actions will be another branch of ``ActionSpec.from_spaces``
  and another ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces as gym_spaces


class ObsPacker:
    """Flattens and zero-pads per-agent observations into one float32 array.

    Fast paths (chosen once here): every agent has a ``Box`` space of the same
    flat size → one ``np.array`` call; ``Box`` spaces of different sizes → copy
    each into a zero array; anything else → ``gymnasium.spaces.flatten`` per agent.
    """

    def __init__(self, agent_spaces: Sequence[gym_spaces.Space]) -> None:
        self.spaces: list[gym_spaces.Space] = list(agent_spaces)
        self.n_agents: int = len(self.spaces)
        self.sizes: list[int] = [int(gym_spaces.flatdim(s)) for s in self.spaces]
        self.size: int = max(self.sizes)
        all_boxes = all(isinstance(s, gym_spaces.Box) for s in self.spaces)
        if all_boxes and len(set(self.sizes)) == 1:
            self.pack = self._pack_uniform_boxes
        elif all_boxes:
            self.pack = self._pack_boxes
        else:
            self.pack = self._pack_generic

    def pack(self, obs: Sequence[Any]) -> np.ndarray:  # replaced per instance in __init__
        """Return a new ``[n_agents, size]`` float32 array holding ``obs``."""
        raise NotImplementedError

    def _pack_uniform_boxes(self, obs: Sequence[Any]) -> np.ndarray:
        # np.array always copies, so the result never aliases an env-owned buffer.
        return np.array(obs, dtype=np.float32).reshape(self.n_agents, self.size)

    def _pack_boxes(self, obs: Sequence[Any]) -> np.ndarray:
        out = np.zeros((self.n_agents, self.size), dtype=np.float32)
        for i, (o, n) in enumerate(zip(obs, self.sizes)):
            out[i, :n] = np.asarray(o).reshape(-1)
        return out

    def _pack_generic(self, obs: Sequence[Any]) -> np.ndarray:
        out = np.zeros((self.n_agents, self.size), dtype=np.float32)
        for i, (space, o, n) in enumerate(zip(self.spaces, obs, self.sizes)):
            out[i, :n] = gym_spaces.flatten(space, o)
        return out


@dataclass(frozen=True)
class ActionSpec:
    """The joint action space of a fixed team of agents.

    Attributes:
        kind: ``"discrete"`` (the only kind so far).
        n_actions: actions of the agent with the most actions (network output size).
        agent_n_actions: number of actions of each agent.
        starts: each agent's ``Discrete.start`` (added to the runner's 0-based action).
    """

    kind: str
    n_actions: int
    agent_n_actions: tuple[int, ...]
    starts: tuple[int, ...]

    @classmethod
    def from_spaces(cls, agent_spaces: Sequence[gym_spaces.Space]) -> ActionSpec:
        """Build the spec from one gymnasium action space per agent.

        Raises:
            ValueError: if a space is not ``Discrete`` (not supported yet).
        """
        if all(isinstance(s, gym_spaces.Discrete) for s in agent_spaces):
            sizes = tuple(int(s.n) for s in agent_spaces)
            starts = tuple(int(s.start) for s in agent_spaces)
            return cls("discrete", max(sizes), sizes, starts)
        raise ValueError(
            "Unsupported per-agent action spaces "
            f"{[str(s) for s in agent_spaces]}: only Discrete action spaces are supported."
        )

    def info(self) -> dict[str, Any]:
        """The action part of ``get_env_info``."""
        return {"action_kind": self.kind, "n_actions": self.n_actions}

    def all_available(self) -> list[list[int]]:
        """Per agent, ones for its own actions and zeros padding up to ``n_actions``."""
        return [[1] * n + [0] * (self.n_actions - n) for n in self.agent_n_actions]

    def pad_mask(self, mask: Sequence[Any], agent: int) -> list[int]:
        """Turn an env-provided 0/1 (or bool) mask of one agent into a padded 0/1 list."""
        values = [1 if m else 0 for m in mask]
        if len(values) != self.agent_n_actions[agent]:
            raise ValueError(
                f"Agent {agent} action mask has length {len(values)}, "
                f"expected {self.agent_n_actions[agent]}."
            )
        return values + [0] * (self.n_actions - len(values))

    def to_env(self, actions: Any) -> list[int]:
        """Convert the runner's actions (list, numpy array or torch tensor of shape
        ``[n_agents]`` or ``[n_agents, 1]``) to a list of Python ints for the env."""
        if isinstance(actions, np.ndarray) and actions.dtype.kind in "iu":
            env_actions = actions.ravel().tolist()  # already Python ints
        else:
            if hasattr(actions, "reshape"):  # float arrays, torch tensors
                actions = actions.reshape(-1).tolist()
            env_actions = [int(a) for a in actions]
        if len(env_actions) != len(self.agent_n_actions):
            raise ValueError(
                f"Expected {len(self.agent_n_actions)} actions (one per agent), got {len(env_actions)}."
            )
        if any(self.starts):
            env_actions = [a + s for a, s in zip(env_actions, self.starts)]
        return env_actions
