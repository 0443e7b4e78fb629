"""Lookahead through ``src/main.py``, at tiny sizes.

* ``lookahead: False``, and the warm-up of ``lookahead: True``, log HAPPO's numbers (V-trace on
  stored behaviour log-probs) for the same seed, metric for metric;
* lookahead_happo on HalfCheetah 2x3 runs its imagined updates (diagnostics logged and finite),
  saves, and its checkpoint evaluates;
* lookahead_mappo on LBF (discrete, predicted observations) and on the paper's toy game
  (continuous, one-step episodes that terminate), where the greedy test return reaches R >= 3.9.
"""

from __future__ import annotations

import glob
import math
import os

import pytest

from tests.integration.helpers import LBF, read_json, run_main, sacred_runs

CHEETAH = ["env_args.key=mamujoco:HalfCheetah-2x3", "env_args.time_limit=100", "t_max=1600", "batch_size_run=2",
           "batch_size=2", "buffer_size=2", "rollout_length=100", "epochs=2", "mini_batches=2", "hidden_dim=32",
           "test_interval=800", "test_nepisode=1", "log_interval=800", "runner_log_interval=400",
           "learner_log_interval=400", "seed=5"]
TINY_LOOKAHEAD = ["lka_epochs=2", "lka_mini_batches=2", "lka_rollouts=32", "lka_horizon=5", "mlearn_steps=20",
                  "model_hidden_dim=32", "model_hidden_layers=2", "model_batch_size=64"]
WALL_CLOCK = ("env_steps_per_second", "train_steps_per_second", "time_real_rollout", "peak_rss_mb")  # may differ


def metrics_of(results: str) -> dict:
    (run_dir,) = sacred_runs(results)
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "COMPLETED"
    return read_json(os.path.join(run_dir, "metrics.json"))


def run_ok(alg: str, overrides: list[str], results: str, env: str = "gymma") -> dict:
    result = run_main(alg, overrides, results, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return metrics_of(results)


def assert_finite(metrics: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        assert key in metrics, f"{key} not logged; logged: {sorted(metrics)}"
        assert all(math.isfinite(v) for v in metrics[key]["values"]), (key, metrics[key]["values"])


SAME_ALGORITHM = [*CHEETAH, "store_log_probs=True", "advantage_estimator=vtrace"]  # happo = lookahead_happo's base


@pytest.fixture(scope="module")
def happo_metrics(tmp_path_factory) -> dict:
    """HAPPO with V-trace on stored log-probs: what lookahead_happo's base learner should log."""
    return run_ok("happo", SAME_ALGORITHM, str(tmp_path_factory.mktemp("happo")), env="mamujoco")


@pytest.mark.parametrize(
    "mode, overrides",
    [("off", ["lookahead=False"]), ("warm-up", [*TINY_LOOKAHEAD, "lka_warmup_steps=1000000"])],
    ids=["off", "warm-up"],
)
def test_off_and_warm_up_log_happos_numbers(mode, overrides, happo_metrics, tmp_path):
    """Same seed, same settings: every metric both runs logged is equal, value for value."""
    base = happo_metrics
    metrics = run_ok("lookahead_happo", [*SAME_ALGORITHM, *overrides], str(tmp_path), env="mamujoco")
    assert {"pg_loss", "critic_loss", "factor_mean", "return_mean", "test_return_mean"} <= base.keys()
    common = (base.keys() & metrics.keys()) - set(WALL_CLOCK)
    assert len(common) >= 20, sorted(common)
    for key in sorted(common):
        assert metrics[key]["steps"] == base[key]["steps"], key
        assert metrics[key]["values"] == base[key]["values"], key
    if mode == "off":
        assert "kl_gap" not in metrics and "model_loss" not in metrics
    else:
        assert_finite(metrics, ("kl_gap", "model_loss", "model_val_next_state_mse", "time_model"))
        assert "imagined_return" not in metrics and "lka_pg_loss" not in metrics  # still warming up
        assert all(v == pytest.approx(0.0, abs=1e-6) for v in metrics["kl_gap"]["values"])  # pi~ = pi


def test_lookahead_happo_imagines_on_halfcheetah_saves_and_evaluates(tmp_path):
    overrides = [*CHEETAH, *TINY_LOOKAHEAD, "lka_warmup_steps=400", "save_model=True", "save_model_interval=800"]
    metrics = run_ok("lookahead_happo", overrides, str(tmp_path / "train"), env="mamujoco")
    assert_finite(metrics, (
        "kl_gap", "kl_gap_reverse", "kl_updated_to_old", "kl_updated_to_lookahead", "rho_mean", "model_loss",
        "model_val_next_state_mse", "model_val_reward_r2", "imagined_return", "time_real_update", "time_model",
        "time_imagination", "time_lookahead_update", "lka_pg_loss", "pg_loss", "test_return_mean",
    ))
    assert "lka_critic_loss" not in metrics  # one lookahead step: its critic, replaced at the next sync, is not trained
    assert "model_val_obs_mse" not in metrics  # MaMuJoCo's observations come from its state_to_obs map
    assert any(v != 0.0 for v in metrics["kl_gap"]["values"])  # pi~ moved away from pi

    (models,) = glob.glob(str(tmp_path / "train" / "models" / "*"))
    latest = max(int(step) for step in os.listdir(models) if step.isdigit())
    assert os.path.exists(os.path.join(models, str(latest), "lookahead.th"))
    evaluation = [*overrides, "evaluate=True", f"checkpoint_path={models}", "save_model=False"]
    evaluated = run_ok("lookahead_happo", evaluation, str(tmp_path / "evaluate"), env="mamujoco")
    assert_finite(evaluated, ("test_return_mean",))
    assert "return_mean" not in evaluated and "kl_gap" not in evaluated  # no training happened


def test_lookahead_mappo_on_lbf(tmp_path):
    overrides = [f"env_args.key={LBF}", "env_args.time_limit=50", "t_max=800", "batch_size_run=2", "batch_size=2",
                 "buffer_size=2", "rollout_length=50", "epochs=2", "mini_batches=2", "hidden_dim=32",
                 "test_interval=400", "test_nepisode=2", "log_interval=400", "runner_log_interval=200",
                 "learner_log_interval=200", "seed=2", "lka_warmup_steps=200", *TINY_LOOKAHEAD]
    metrics = run_ok("lookahead_mappo", overrides, str(tmp_path))
    assert_finite(metrics, (
        "kl_gap", "rho_mean", "model_loss", "model_obs_loss", "model_val_next_state_mse", "model_val_obs_mse",
        "imagined_return", "time_imagination", "time_lookahead_update", "lka_pg_loss", "pi_max", "test_return_mean",
    ))


@pytest.mark.parametrize("model", ["learned", "env"])
def test_lookahead_mappo_reaches_the_toy_games_optimum(tmp_path, model):
    """R = a0^3 - 2(a0 - a1)^2 + 3 a0 from [0.1, 0.1] (R = 0.3) to [1, 1] (R = 4) with the study's
    own file, as its header says to run it, with the learned model and with the game's exact
    dynamics (``lka_model=env``: no model, so no model diagnostics)."""
    overrides = ["t_max=800", "test_interval=200", "log_interval=1000", "seed=1", f"lka_model={model}"]
    metrics = run_ok("lookahead_mappo_toy", overrides, str(tmp_path), env="toy_game")
    returns = metrics["test_return_mean"]["values"]
    assert returns[0] < 1.0, f"should start near [0.1, 0.1] (R ~ 0.3): {returns}"
    assert returns[-1] >= 3.9, f"lookahead_mappo did not reach the optimum: {returns}"
    assert_finite(metrics, ("imagined_return", "kl_gap", "kl_gap_agent1", "rho_mean_agent0", "is_weight_max_agent1"))
    if model == "learned":
        assert metrics["model_val_termination_accuracy"]["values"][-1] == 1.0
    else:
        assert not any(key.startswith("model_") for key in metrics)
    # the imagined updates ran before the first evaluation after the start
    assert metrics["imagined_return"]["steps"][0] < metrics["test_return_mean"]["steps"][1]


def test_lookahead_happo_trains_its_model_during_the_rollouts(tmp_path):
    """``model_train_during_rollout=True`` through ``main.py``: the run completes, logs the model's
    thread time and saves a checkpoint after waiting for the thread."""
    overrides = [*CHEETAH, *TINY_LOOKAHEAD, "lka_warmup_steps=400", "model_train_during_rollout=True",
                 "save_model=True", "save_model_interval=800"]
    metrics = run_ok("lookahead_happo", overrides, str(tmp_path), env="mamujoco")
    assert_finite(metrics, ("model_loss", "time_model_background", "imagined_return", "test_return_mean"))
    (models,) = glob.glob(str(tmp_path / "models" / "*"))
    latest = max(int(step) for step in os.listdir(models) if step.isdigit())
    assert latest >= 1600 and os.path.exists(os.path.join(models, str(latest), "lookahead.th"))
