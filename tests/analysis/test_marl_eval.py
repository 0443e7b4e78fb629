"""analysis.marl_eval: the layout, env-key splitting and runs that share a name."""

from __future__ import annotations

import numpy as np

from analysis.marl_eval import RunScores, marl_eval_json, split_env_key


def test_env_keys_split_into_env_and_task():
    assert split_env_key("mamujoco:Ant-2x4", "mamujoco") == ("mamujoco", "Ant-2x4")
    assert split_env_key("lbforaging:Foraging-8x8-2p-3f-v3", "gymma") == ("lbforaging", "Foraging-8x8-2p-3f-v3")
    assert split_env_key("toy", "toy_game") == ("toy_game", "toy")


def test_layout_and_repeated_run_names():
    runs = [RunScores("mamujoco", "Ant-2x4", "happo", "seed_0", np.array([50_000.0, 100_000.0]), np.array([1.5, 2.5])),
            RunScores("mamujoco", "Ant-2x4", "happo", "seed_0", np.array([50_000.0]), np.array([9.0])),
            RunScores("mamujoco", "Ant-2x4", "happo", "seed_1", np.array([]), np.array([]))]  # nothing logged
    data = marl_eval_json(runs, "return")
    happo = data["mamujoco"]["Ant-2x4"]["happo"]
    assert happo["seed_0"] == {"step_0": {"step_count": 50_000, "return": [1.5]},
                               "step_1": {"step_count": 100_000, "return": [2.5]},
                               "absolute_metrics": {"return": [2.5]}}
    assert happo["seed_0_2"]["absolute_metrics"] == {"return": [9.0]}
    assert "seed_1" not in happo
    assert isinstance(happo["seed_0"]["step_1"]["step_count"], int)
