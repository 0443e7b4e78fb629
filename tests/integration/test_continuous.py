"""Continuous actions end to end: HAPPO and MAPPO on Multi-Agent MuJoCo and the paper's toy game."""

from __future__ import annotations

import os

import pytest

from tests.integration.helpers import read_json, run_main, sacred_runs

SHORT_MUJOCO = ["env_args.time_limit=100", "t_max=1500", "batch_size_run=4", "batch_size=4", "buffer_size=4",
                "mini_batches=2", "epochs=2", "test_interval=1000", "test_nepisode=2", "log_interval=1000",
                "runner_log_interval=500", "learner_log_interval=500", "seed=2"]


@pytest.mark.parametrize("alg", ["happo", "mappo"])
def test_short_runs_on_halfcheetah_2x3(alg, tmp_path):
    result = run_main(alg, ["env_args.key=mamujoco:HalfCheetah-2x3", *SHORT_MUJOCO], str(tmp_path), env="mamujoco")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "COMPLETED"
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    for key in ("return_mean", "test_return_mean", "pg_loss", "critic_loss", "action_std", "approx_kl"):
        assert key in metrics, key
    assert metrics["ep_length_mean"]["values"][-1] == 100  # HalfCheetah never falls: time-limit ends only
    std = metrics["action_std"]["values"][0]
    assert 0.3 < std < 0.4  # sigmoid(1) * 0.5 = 0.37 at the start, as in HARL
    if alg == "happo":
        assert "factor_mean" in metrics


@pytest.mark.parametrize("alg", [
    "happo",
    pytest.param("mappo", marks=pytest.mark.slow),  # MAPPO's update runs in Lookahead-MAPPO's toy-game test, which reaches it
])
def test_toy_game_reaches_the_optimum(alg, tmp_path):
    """R = a0^3 - 2(a0 - a1)^2 + 3 a0 from [0.1, 0.1] (R = 0.3) to [1, 1] (R = 4)."""
    # one-step episodes: a few PPO epochs per batch suffice
    overrides = ["t_max=2000", "test_interval=500", "test_nepisode=10", "seed=1", "epochs=4", "mini_batches=1"]
    if alg == "happo":  # happo.yaml's 40 envs x 400-step segments are sized for MuJoCo: 16 one-step episodes
        overrides += ["batch_size_run=16", "batch_size=16", "buffer_size=16", "rollout_length=0"]
    result = run_main(alg, overrides, str(tmp_path), env="toy_game")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(os.path.join(sacred_runs(str(tmp_path))[0], "metrics.json"))
    test_returns = metrics["test_return_mean"]["values"]
    assert test_returns[0] < 1.0, f"should start near [0.1, 0.1] (R ~ 0.3): {test_returns}"
    assert test_returns[-1] >= 3.9, f"{alg} did not reach the optimum: {test_returns}"


def test_discrete_only_selector_rejects_continuous_env(tmp_path):
    result = run_main("happo", ["action_selector=epsilon_greedy", "t_max=100"], str(tmp_path), env="toy_game")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "'epsilon_greedy' supports discrete actions only" in result.stderr


@pytest.mark.parametrize("task", [
    "HalfCheetah-2x3", "Walker2d-3x2", "Ant-4x2",  # each robot once, and 2, 3 and 4 agents
    # the other partitions of the same robots (their envs are checked in-process in tests/envs)
    *(pytest.param(task, marks=pytest.mark.slow) for task in ("Ant-2x4", "HalfCheetah-3x2", "Walker2d-2x3")),
])
def test_happo_runs_a_few_iterations_on_every_paper_task(task, tmp_path):
    overrides = [f"env_args.key=mamujoco:{task}", "env_args.time_limit=20", "t_max=100", "batch_size_run=2",
                 "batch_size=2", "buffer_size=2", "epochs=1", "mini_batches=1", "test_nepisode=1", "seed=0"]
    result = run_main("happo", overrides, str(tmp_path), env="mamujoco")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_json(os.path.join(sacred_runs(str(tmp_path))[0], "metrics.json"))
    assert len(metrics["critic_loss"]["values"]) >= 1  # trained
    assert metrics["env_steps_per_second"]["steps"][-1] > 100  # ran past t_max (falls end episodes early)
