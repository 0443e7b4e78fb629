"""Tiny gymnasium multi-agent envs that fail on purpose, for the crash- and NaN-handling tests.

Importing this module registers ``FaultyStep-v0`` (raises inside ``step``), ``DyingStep-v0``
(the process exits abruptly inside ``step``, as after a segfault) and ``NanReward-v0`` (rewards
turn NaN, for the learners' non-finite checks); each from step ``fail_at`` of every episode on.
"""

from __future__ import annotations

import os

import gymnasium
import numpy as np
from gymnasium import spaces


class FaultyEnv(gymnasium.Env):
    """Two agents, observation = [step count], three actions, rewards 0; fails at step ``fail_at``
    as ``mode`` says: "raise", "die" or "nan"."""

    def __init__(self, fail_at: int = 3, mode: str = "raise") -> None:
        self.n_agents = 2
        self.observation_space = spaces.Tuple([spaces.Box(-np.inf, np.inf, (1,), np.float32)] * 2)
        self.action_space = spaces.Tuple([spaces.Discrete(3)] * 2)
        self.fail_at, self.mode, self.t = fail_at, mode, 0

    def _obs(self):
        return tuple(np.array([self.t], dtype=np.float32) for _ in range(2))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, actions):
        self.t += 1
        if self.t >= self.fail_at:
            if self.mode == "nan":
                return self._obs(), [float("nan")] * 2, False, False, {}
            if self.mode == "die":
                os._exit(3)
            raise RuntimeError(f"deliberate failure at step {self.t}")
        return self._obs(), [0.0, 0.0], False, False, {}


gymnasium.register("FaultyStep-v0", entry_point=FaultyEnv, kwargs={"mode": "raise"})
gymnasium.register("DyingStep-v0", entry_point=FaultyEnv, kwargs={"mode": "die"})
gymnasium.register("NanReward-v0", entry_point=FaultyEnv, kwargs={"mode": "nan"})
