"""A tiny deterministic gymnasium multi-agent env whose every number a test can recompute.

Importing this module registers ``Countdown-v0`` (gymma key ``tests.support.scripted_envs:Countdown-v0``
in-process, or ``scripted_envs:Countdown-v0`` with ``tests/support`` on ``PYTHONPATH``).

Two agents, three discrete actions each. At step ``t`` (0-based, before acting) each agent observes
``[t, agent_id, end_at]`` and agent 1 may not take action 2 on odd steps (so the stored
``avail_actions`` can be checked). Acting gives per-agent rewards ``(t + 1) * (1 + a_i)``
(``countdown_rewards``). The episode truly terminates after ``end_at`` steps, drawn per episode
from ``[min_steps, max_steps]`` by the env's seeded ``np_random`` (``never_terminate=True``:
never, so only the wrapper's ``time_limit`` ends it). The final info holds ``steps`` and
``score`` (the team reward summed) so the runner's env-stat logging can be checked.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

COUNTDOWN_ID = "Countdown-v0"
N_ACTIONS = 3


def countdown_rewards(t: int, actions) -> list[float]:
    """Per-agent rewards of acting ``actions`` at step ``t``: ``(t + 1) * (1 + a_i)``."""
    return [float((t + 1) * (1 + int(a))) for a in actions]


def countdown_avail(t: int) -> list[list[int]]:
    """Agent 0 may take every action; agent 1 not action 2 on odd steps."""
    return [[1, 1, 1], [1, 1, 0] if t % 2 else [1, 1, 1]]


class CountdownEnv(gymnasium.Env):
    """See the module docstring."""

    n_agents = 2

    def __init__(self, min_steps: int = 2, max_steps: int = 6, never_terminate: bool = False) -> None:
        box = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.observation_space = spaces.Tuple([box] * self.n_agents)
        self.action_space = spaces.Tuple([spaces.Discrete(N_ACTIONS)] * self.n_agents)
        self.min_steps, self.max_steps, self.never_terminate = min_steps, max_steps, never_terminate
        self.t, self.end_at, self.score = 0, 0, 0.0

    def _obs(self):
        return tuple(np.array([self.t, i, self.end_at], dtype=np.float32) for i in range(self.n_agents))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.score = 0, 0.0
        self.end_at = int(self.np_random.integers(self.min_steps, self.max_steps + 1))
        return self._obs(), {}

    def get_avail_actions(self) -> list[list[int]]:
        return countdown_avail(self.t)

    def step(self, actions):
        actions = [int(a) for a in actions]
        for agent, action in enumerate(actions):
            if not countdown_avail(self.t)[agent][action]:
                raise ValueError(f"agent {agent} took unavailable action {action} at step {self.t}")
        rewards = countdown_rewards(self.t, actions)
        self.score += sum(rewards)
        self.t += 1
        terminated = not self.never_terminate and self.t >= self.end_at
        return self._obs(), rewards, terminated, False, {"steps": self.t, "score": self.score}


if COUNTDOWN_ID not in gymnasium.registry:
    gymnasium.register(COUNTDOWN_ID, entry_point=CountdownEnv)
