"""End-to-end: ``rollout_length`` segments through ``src/main.py`` with HAPPO (continuous, parallel
runner) and MAPPO (discrete, episode runner), shuffled transition mini-batches included."""

from __future__ import annotations

import math
import os

import pytest

from tests.integration.helpers import LBF, read_json, run_main, sacred_runs

LOGS = ["log_interval=500", "runner_log_interval=500", "learner_log_interval=500"]


def completed_metrics(results: str) -> dict:
    (run_dir,) = sacred_runs(results)
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "COMPLETED"
    return read_json(os.path.join(run_dir, "metrics.json"))


@pytest.mark.parametrize(
    "alg, env, overrides",
    [
        ("happo", "mamujoco", ["runner=parallel", "env_args.time_limit=150", "rollout_length=100", "batch_size_run=3",
                               "batch_size=3", "buffer_size=3", "epochs=2", "mini_batches=4", "hidden_dim=16"]),
        ("mappo", "gymma", [f"env_args.key={LBF}", "env_args.time_limit=30", "agent=mlp", "obs_last_action=False",
                            "rollout_length=40", "batch_size_run=2", "batch_size=2", "buffer_size=2",
                            "mini_batches=3"]),
    ],
    ids=["happo-halfcheetah-parallel", "mappo-lbf-episode"],
)
def test_segment_runs_train_test_and_log(alg, env, overrides, tmp_path):
    result = run_main(alg, [*overrides, *LOGS, "t_max=1500", "test_interval=1000", "test_nepisode=2", "seed=4"],
                      str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = completed_metrics(str(tmp_path))
    for key in ("return_mean", "ep_length_mean", "test_return_mean", "pg_loss", "critic_loss",
                "train_steps_per_second"):
        assert key in metrics, f"{key} not logged; logged: {sorted(metrics)}"
        assert all(math.isfinite(v) for v in metrics[key]["values"]), key
    time_limit = int(next(o for o in overrides if o.startswith("env_args.time_limit=")).split("=")[1])
    # LBF episodes may end early (all food eaten); HalfCheetah's only end is the time limit
    lengths = metrics["ep_length_mean"]["values"]
    assert all(0 < v <= time_limit for v in lengths)
    if env == "mamujoco":
        assert lengths == [time_limit] * len(lengths)
        assert metrics["test_ep_length_mean"]["values"][-1] == time_limit
