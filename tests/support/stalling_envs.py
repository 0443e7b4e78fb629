"""The toy game, stalled at a known step while a file exists: a run a test can kill at a known point.

Importing this module registers ``StallingToy-v0`` (gymma key ``stalling_envs:StallingToy-v0`` with
``tests/support`` on ``PYTHONPATH``). It plays ``envs.toy_game.ToyGame``; from its ``stall_after``-th
step on, while the file ``stall_file`` exists, ``step`` first writes ``<stall_file>.stalled`` and
then waits until the file is gone. A run whose envs stall stops at a t_env fixed by its config (its
loop waits for the envs), saves nothing more, and sacred's heartbeats still flush its metrics: a test
then kills it with everything before the stall on disk. Without the file the env is the toy game.
"""

from __future__ import annotations

import os
import time

import gymnasium

from envs.toy_game import ToyGame

STALLING_ID = "StallingToy-v0"


class StallingToyGame(ToyGame):
    """See the module docstring."""

    def __init__(self, stall_file: str = "", stall_after: int = 0) -> None:
        super().__init__()
        self.stall_file, self.stall_after, self.steps = stall_file, stall_after, 0

    def step(self, actions):
        self.steps += 1
        if self.steps >= self.stall_after and os.path.exists(self.stall_file):
            with open(f"{self.stall_file}.stalled", "w") as f:
                f.write(str(self.steps))
            while os.path.exists(self.stall_file):
                time.sleep(0.1)
        return super().step(actions)


if STALLING_ID not in gymnasium.registry:
    gymnasium.register(STALLING_ID, entry_point=StallingToyGame)
