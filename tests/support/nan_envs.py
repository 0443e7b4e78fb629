"""A tiny gymnasium multi-agent env whose reward turns NaN, for the learners' non-finite checks.

Importing this module registers ``NanReward-v0``: two agents, observation = [step count], three
actions, reward 1 per agent until step ``nan_at``, NaN from then on (as a broken reward function
or a sensor fault would give).
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces


class NanRewardEnv(gymnasium.Env):
    """Rewards ``[1, 1]`` for ``nan_at - 1`` steps of each episode, ``[nan, nan]`` afterwards."""

    def __init__(self, nan_at: int = 3) -> None:
        self.n_agents = 2
        self.observation_space = spaces.Tuple([spaces.Box(-np.inf, np.inf, (1,), np.float32)] * 2)
        self.action_space = spaces.Tuple([spaces.Discrete(3)] * 2)
        self.nan_at, self.t = nan_at, 0

    def _obs(self):
        return tuple(np.array([self.t], dtype=np.float32) for _ in range(2))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, actions):
        self.t += 1
        reward = float("nan") if self.t >= self.nan_at else 1.0
        return self._obs(), [reward, reward], False, False, {}


gymnasium.register("NanReward-v0", entry_point=NanRewardEnv)
