"""The Lookahead paper's two-agent toy game (§4.1), as a gymnasium multi-agent env.

Importing this module registers the gymnasium id ``ToyGame-v0``, so the gymma key is
``envs.toy_game:ToyGame-v0`` (or its alias ``toy``).

The game: two agents each choose one continuous action ``a_i`` in ``[0, 1]`` and both
receive the team reward

    R(a0, a1) = a0**3 - 2 * (a0 - a1)**2 + 3 * a0.

It is a one-shot game: every episode is a single step and ends with
``terminated=True`` (there is no future to bootstrap). The optimum is
``[1, 1]`` with ``R = 4``; for any ``a0`` agent 1's best response is ``a1 = a0``
(``best_response``). The paper starts both policies near ``[0.1, 0.1]``
(``R = 0.301``): agent 0's incentive (``dR/da0 = 3 a0^2 - 4 (a0 - a1) + 3``) drives it
up, and agent 1 must track it, so methods that let agent 1 anticipate agent 0's update
reach the optimum with fewer samples.

Observation: the constant vector ``[1.0]`` for each agent; the global state is the
same ``[1.0]`` (the game has no state). Spaces are gymnasium ``Tuple`` spaces with one
entry per agent, like the other gymnasium multi-agent envs used through ``gymma``.

Rewards are given per agent (``[R, R]``) with ``shared_reward = True``, which tells
``GymmaWrapper`` that ``R`` itself is the team reward, so ``common_reward`` with
``reward_scalarisation="sum"`` yields ``R``, not ``2R``.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

TOY_GAME_ID = "ToyGame-v0"
"""The gymnasium id registered on import."""

N_AGENTS = 2
"""Number of agents of the toy game."""


def toy_reward(a0: float, a1: float) -> float:
    """``R(a0, a1) = a0^3 - 2 (a0 - a1)^2 + 3 a0`` for actions in ``[0, 1]``."""
    return float(a0**3 - 2.0 * (a0 - a1) ** 2 + 3.0 * a0)


def best_response(a0: float) -> float:
    """Agent 1's action maximising ``R`` given agent 0's action: ``a1 = a0``."""
    return float(a0)


class ToyGameDynamics:
    """The game's dynamics as batched torch ops, published in the env info as ``true_dynamics``
    (``lka_model: env`` imagines with them instead of a learned model: Lookahead without model
    error). Picklable, so the env info can cross to env workers.

    ``(state [N, 1], actions [N, 2, 1]) -> (next_state [N, 1], team reward [N, 1], termination
    probability [N], next observations [N, 2, 1])``: actions are clipped to ``[0, 1]`` as the env
    clips them, the reward is ``R(a0, a1)``, every step terminates, and state and observations stay
    the constant ``[1.0]``.
    """

    def __call__(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = actions.reshape(actions.shape[0], N_AGENTS).clamp(0.0, 1.0)
        a0, a1 = a[:, 0], a[:, 1]
        reward = a0**3 - 2.0 * (a0 - a1) ** 2 + 3.0 * a0  # toy_reward, batched
        ones = torch.ones_like(state)
        return ones, reward.unsqueeze(-1), torch.ones_like(a0), ones.unsqueeze(1).expand(-1, N_AGENTS, -1)


class ToyGame(gymnasium.Env):
    """One-step, two-agent cooperative game with reward ``toy_reward`` (see the module docstring).

    Actions outside ``[0, 1]`` are clipped to it: ``R`` is only defined there. ``GymmaWrapper``
    already clips by default; this keeps the game defined when the env is driven directly
    or with ``env_args.clip_actions=False``. ``info["actions"]`` holds the clipped joint
    action that was scored.

    Attributes:
        n_agents: 2.
        shared_reward: True (both agents receive the team reward ``R``).
    """

    metadata = {"render_modes": []}
    n_agents = N_AGENTS
    shared_reward = True

    def __init__(self) -> None:
        self.observation_space = spaces.Tuple(
            [spaces.Box(0.0, 1.0, (1,), np.float32) for _ in range(N_AGENTS)]
        )
        self.action_space = spaces.Tuple([spaces.Box(0.0, 1.0, (1,), np.float32) for _ in range(N_AGENTS)])
        self._obs = np.ones(1, dtype=np.float32)

    def _observations(self) -> tuple[np.ndarray, ...]:
        """The constant observation ``[1.0]`` for every agent (fresh arrays)."""
        return tuple(self._obs.copy() for _ in range(N_AGENTS))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
        """Start the (one-step) episode; the game is deterministic, ``seed`` only seeds ``np_random``."""
        super().reset(seed=seed)
        return self._observations(), {}

    def step(
        self, actions: Sequence[Any]
    ) -> tuple[tuple[np.ndarray, ...], list[float], bool, bool, dict[str, Any]]:
        """Score the joint action ``[a0, a1]`` (each a number or a 1-element array).

        Returns ``(obs, [R, R], terminated=True, truncated=False, {"actions": [a0, a1]})``.
        """
        if len(actions) != N_AGENTS:
            raise ValueError(f"ToyGame expects {N_AGENTS} actions (one per agent), got {len(actions)}.")
        a0, a1 = (float(np.clip(np.asarray(a, dtype=np.float64).reshape(-1)[0], 0.0, 1.0)) for a in actions)
        reward = toy_reward(a0, a1)
        return self._observations(), [reward] * N_AGENTS, True, False, {"actions": [a0, a1]}

    def get_state(self) -> np.ndarray:
        """The global state: the same constant ``[1.0]``."""
        return self._obs.copy()

    def get_state_size(self) -> int:
        """Length of ``get_state()`` (1)."""
        return 1

    def batched_dynamics(self) -> ToyGameDynamics:
        """The game's dynamics as batched torch ops (see ``ToyGameDynamics``)."""
        return ToyGameDynamics()


if TOY_GAME_ID not in gymnasium.registry:
    gymnasium.register(TOY_GAME_ID, entry_point=ToyGame)
