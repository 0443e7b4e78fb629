"""Per-agent space handling shared by the env wrappers.

Two small helpers, both built once per env so that ``step`` only runs precomputed code:

* ``ObsPacker`` turns one observation per agent (any gymnasium space) into a
  ``[n_agents, obs_size]`` float32 array, flattening each with
  ``gymnasium.spaces.flatten`` and zero-padding shorter ones to the largest.
* ``ActionSpec`` describes the joint action space (``get_action_info``), converts
  the runner's actions to what the env accepts and gives the padded
  available-action template. ``ActionSpec.from_spaces`` picks the kind:
  ``DiscreteActionSpec`` when every agent has a ``Discrete`` space,
  ``ContinuousActionSpec`` when every agent has a float ``Box`` space.

Continuous actions: every agent's action is a vector of ``action_dim`` floats, the
largest flat ``Box`` size over agents. Agents with fewer dimensions get padded
dimensions (bounds ``[-1, 1]``) that are dropped before the env sees the action, so
one network head of width ``action_dim`` serves every agent. The runner sends raw
policy samples (e.g. Gaussian, unbounded); by default (``clip_actions=True``) ``to_env``
clips each agent's action to its own ``Box`` bounds, so the env (and its reward, e.g.
MuJoCo's control cost) only ever sees valid actions while the learner keeps the
unclipped sample for its log-probabilities. ``clip_actions=False`` passes the raw
sample on, as HARL does (MuJoCo then clamps the control itself, but the control cost
sees the raw action). Non-finite actions are refused either way.
"""

from __future__ import annotations

import abc
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


PAD_ACTION_LOW = -1.0
"""Lower bound reported for a padded (ignored) continuous action dimension."""
PAD_ACTION_HIGH = 1.0
"""Upper bound reported for a padded (ignored) continuous action dimension."""


class ActionSpec(abc.ABC):
    """The joint action space of a fixed team of agents, built once per env.

    Attributes:
        kind: ``"discrete"`` or ``"continuous"`` (``get_env_info()["action_kind"]``).
        n_actions: network output size per agent: the most discrete actions of any
            agent, or the largest action dimension (``action_dim``) for continuous.
    """

    kind: str
    n_actions: int

    @staticmethod
    def from_spaces(agent_spaces: Sequence[gym_spaces.Space], clip_actions: bool = True) -> ActionSpec:
        """Build the spec from one gymnasium action space per agent.

        ``clip_actions`` (continuous actions only; discrete ones are indices): clip each
        agent's action to its ``Box`` bounds in ``to_env`` (True) or pass it on raw (False).

        Raises:
            ValueError: if the spaces are neither all ``Discrete`` nor all float ``Box``
                (e.g. ``MultiDiscrete``, integer ``Box`` or a mix of kinds).
        """
        agent_spaces = list(agent_spaces)
        if agent_spaces and all(isinstance(s, gym_spaces.Discrete) for s in agent_spaces):
            sizes = tuple(int(s.n) for s in agent_spaces)
            starts = tuple(int(s.start) for s in agent_spaces)
            return DiscreteActionSpec("discrete", max(sizes), sizes, starts)
        if agent_spaces and all(
            isinstance(s, gym_spaces.Box) and np.issubdtype(s.dtype, np.floating) for s in agent_spaces
        ):
            return ContinuousActionSpec(agent_spaces, clip_actions)
        raise ValueError(
            "Unsupported per-agent action spaces "
            f"{[str(s) for s in agent_spaces]}: every agent needs a Discrete space, "
            "or every agent a float Box space."
        )

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """The action part of ``get_env_info`` (``action_kind``, ``n_actions``, ``action_dim``, ...)."""

    @abc.abstractmethod
    def all_available(self) -> list[list[int]]:
        """Per agent, the 0/1 available-action list used when the env gives no masks."""

    @abc.abstractmethod
    def to_env(self, actions: Any) -> list[Any]:
        """Convert the runner's joint action to one env action per agent (in agent order)."""


@dataclass(frozen=True)
class DiscreteActionSpec(ActionSpec):
    """Per-agent ``Discrete`` action spaces.

    Attributes:
        kind: ``"discrete"``.
        n_actions: actions of the agent with the most actions (network output size).
        agent_n_actions: number of actions of each agent.
        starts: each agent's ``Discrete.start`` (added to the runner's 0-based action).
    """

    kind: str
    n_actions: int
    agent_n_actions: tuple[int, ...]
    starts: tuple[int, ...]

    def info(self) -> dict[str, Any]:
        """``{"action_kind": "discrete", "n_actions": n, "action_dim": 1}`` (one index per agent)."""
        return {"action_kind": self.kind, "n_actions": self.n_actions, "action_dim": 1}

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


class ContinuousActionSpec(ActionSpec):
    """Per-agent float ``Box`` action spaces, padded to one ``action_dim``.

    Attributes:
        kind: ``"continuous"``.
        n_actions: ``action_dim`` (EPyMARL code sizes network heads by ``n_actions``).
        action_dim: the largest flat ``Box`` size over agents.
        agent_dims: flat action size of each agent (its first dims are real, the rest padding).
        low, high: ``[n_agents, action_dim]`` float64 clipping bounds; padded dims are ``[-1, 1]``.
        clip_actions: ``to_env`` clips to ``low`` / ``high`` (True) or passes raw actions (False).
    """

    kind = "continuous"

    def __init__(self, agent_spaces: Sequence[gym_spaces.Box], clip_actions: bool = True) -> None:
        self.spaces: list[gym_spaces.Box] = list(agent_spaces)
        self.clip_actions: bool = bool(clip_actions)
        self.n_agents: int = len(self.spaces)
        self.agent_dims: tuple[int, ...] = tuple(int(np.prod(s.shape, dtype=np.int64)) for s in self.spaces)
        self.action_dim: int = max(self.agent_dims)
        self.n_actions: int = self.action_dim
        self.low = np.full((self.n_agents, self.action_dim), PAD_ACTION_LOW, dtype=np.float64)
        self.high = np.full((self.n_agents, self.action_dim), PAD_ACTION_HIGH, dtype=np.float64)
        for i, (space, dim) in enumerate(zip(self.spaces, self.agent_dims)):
            self.low[i, :dim] = np.asarray(space.low, dtype=np.float64).reshape(-1)
            self.high[i, :dim] = np.asarray(space.high, dtype=np.float64).reshape(-1)
        self._flat_size = self.n_agents * self.action_dim
        # Fast path chosen once: every agent has the same 1-D Box dtype and no padding,
        # so one (clipped) array split into rows is the whole conversion.
        self._uniform = len(set(self.agent_dims)) == 1 and all(
            len(s.shape) == 1 and s.dtype == self.spaces[0].dtype for s in self.spaces
        )

    def info(self) -> dict[str, Any]:
        """``action_kind``, ``n_actions`` (= ``action_dim``), ``action_dim`` and per-agent
        ``action_low`` / ``action_high`` as ``n_agents`` lists of ``action_dim`` floats."""
        return {
            "action_kind": self.kind,
            "n_actions": self.action_dim,
            "action_dim": self.action_dim,
            "action_low": self.low.tolist(),
            "action_high": self.high.tolist(),
        }

    def all_available(self) -> list[list[int]]:
        """All ones of length ``action_dim`` per agent (continuous learners ignore them)."""
        return [[1] * self.action_dim for _ in range(self.n_agents)]

    def clip(self, actions: Any) -> np.ndarray:
        """The runner's actions as a new ``[n_agents, action_dim]`` float64 array clipped to the bounds.

        Accepts lists, numpy arrays and torch tensors (any device) with
        ``n_agents * action_dim`` elements.

        Raises:
            ValueError: on a wrong number of elements or a non-finite action
                (a NaN from a diverged policy would otherwise reach the simulator).
        """
        joint = self._joint(actions, copy=False)
        # minimum/maximum: a third of np.clip's call overhead; NaN propagates through both.
        clipped = np.minimum(np.maximum(joint, self.low), self.high)
        _check_finite(clipped, joint)
        return clipped

    def unclipped(self, actions: Any) -> np.ndarray:
        """The runner's actions as a new ``[n_agents, action_dim]`` float64 array, values unchanged.

        Accepts what ``clip`` accepts and raises the same errors (including on ``inf``, which
        ``clip`` turns into a finite bound).
        """
        joint = self._joint(actions, copy=True)
        _check_finite(joint, joint)
        return joint

    def _joint(self, actions: Any, copy: bool) -> np.ndarray:
        """``actions`` as a ``[n_agents, action_dim]`` float64 array (a copy if ``copy``)."""
        if hasattr(actions, "detach"):  # torch tensor, possibly on the GPU
            actions = actions.detach().cpu().numpy()
        joint = (np.array if copy else np.asarray)(actions, dtype=np.float64)
        if joint.size != self._flat_size:
            raise ValueError(
                f"Expected continuous actions of shape [{self.n_agents}, {self.action_dim}] "
                f"(n_agents, action_dim), got shape {list(joint.shape)}."
            )
        return joint.reshape(self.n_agents, self.action_dim)

    def to_env(self, actions: Any) -> list[np.ndarray]:
        """Clip the runner's ``[n_agents, action_dim]`` actions to each agent's bounds (unless
        ``clip_actions`` is False), drop padded dims and return one array per agent in its
        ``Box`` shape and dtype."""
        joint = self.clip(actions) if self.clip_actions else self.unclipped(actions)
        if self._uniform:
            return list(joint.astype(self.spaces[0].dtype, copy=False))
        return [
            joint[i, :dim].astype(space.dtype, copy=False).reshape(space.shape)
            for i, (space, dim) in enumerate(zip(self.spaces, self.agent_dims))
        ]


def _check_finite(values: np.ndarray, joint: np.ndarray) -> None:
    """Raise a ``ValueError`` naming the agents whose row of ``values`` holds a NaN or inf
    (and their actions as given, ``joint``)."""
    total = float(values.sum())  # one reduction: NaN or inf anywhere makes it non-finite
    if total - total != 0.0:
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(values))[:, 0]})
        raise ValueError(f"Non-finite continuous actions for agents {bad}: {joint[bad].tolist()}.")
