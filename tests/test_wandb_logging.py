"""Weights & Biases logging (``use_wandb``, the ``wandb`` extra): real offline runs of ``src/main.py``
on the toy game, read back from the run's own transaction log with ``wandb leet inspect``.

Without TensorBoard every scalar goes to W&B from ``Logger.log_stat`` at its ``t_env``; with it,
W&B syncs the event files instead. Either way W&B must hold exactly what sacred's metrics.json
holds: each key's values at the same steps, once. Bad wandb settings stop with one line; those
tests need no wandb.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys

import pytest

import main
from tests.integration.helpers import read_json, run_main, sacred_runs
from utils.config import ConfigError
from utils.logging import Logger
from tests.support import processes

TINY = ["runner=episode", "batch_size_run=4", "batch_size=4", "buffer_size=4", "t_max=40", "epochs=1",
        "test_nepisode=2", "test_interval=10", "log_interval=10", "runner_log_interval=10",
        "learner_log_interval=10", "use_wandb=True", "wandb_mode=offline"]
WANDB_OWN_KEYS = ("_runtime", "_step", "_timestamp", "_wandb")  # what W&B adds to each history row


@pytest.fixture(scope="module")
def inspect_command() -> list[str]:
    """The command that prints an offline run's records as JSON lines."""
    pytest.importorskip("wandb")
    command = [sys.executable, "-m", "wandb", "leet", "inspect", "--json"]
    if processes.run([*command, "--help"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("this wandb cannot print an offline run's records (`wandb leet inspect` is newer)")
    return command


@pytest.fixture
def wandb_inspect(inspect_command, tmp_path, monkeypatch) -> list[str]:
    """``inspect_command``, with W&B kept offline, quiet and out of the home directory."""
    for variable, value in (("WANDB_MODE", "offline"), ("WANDB_SILENT", "true"),
                            ("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config")),
                            ("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache")),
                            ("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))):
        monkeypatch.setenv(variable, value)
    return inspect_command


def offline_run(results: str) -> str:
    """The single offline W&B run directory a run wrote under ``results``."""
    (run_dir,) = glob.glob(os.path.join(results, "wandb", "offline-run-*"))
    return run_dir


def records(command: list[str], run_dir: str) -> dict[str, list[dict]]:
    """The run's records by type (run, history, metric, exit, ...), in the order written."""
    result = processes.run([*command, run_dir], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    by_type: dict[str, list[dict]] = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        by_type.setdefault(record["type"], []).append(record[record["type"]])
    return by_type


def history_series(history: list[dict], step_key: str) -> dict[str, list[tuple[int, float]]]:
    """Each logged key's ``(step, value)`` pairs, the step read from ``step_key`` of its row."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in history:
        item = row["item"]
        for key, value in item.items():
            if key != step_key and not key.startswith(WANDB_OWN_KEYS):
                series.setdefault(key, []).append((item[step_key], value))
    return series


def assert_same_as_sacred(series: dict[str, list[tuple[int, float]]], metrics: dict, rel: float) -> None:
    assert set(series) == set(metrics), (sorted(series), sorted(metrics))
    for key, logged in metrics.items():
        steps, values = zip(*series[key])
        assert list(steps) == logged["steps"], key
        assert list(values) == pytest.approx(logged["values"], rel=rel), key


def test_every_scalar_reaches_wandb_at_its_t_env_and_checkpoints_are_uploaded(wandb_inspect, tmp_path):
    overrides = TINY + ["save_model=True", "save_model_interval=20", "wandb_save_model=True", "hypergroup=lr_0.1"]
    result = run_main("mappo", overrides, str(tmp_path), env="toy_game", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = sacred_runs(str(tmp_path))
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    assert {"return_mean", "test_return_mean", "pg_loss"} <= set(metrics)

    wandb_dir = offline_run(str(tmp_path))
    logged = records(wandb_inspect, wandb_dir)
    (token,) = os.listdir(tmp_path / "models")
    (run,) = logged["run"]
    assert run["display_name"] == token and run["run_group"] == "lr_0.1" and run["project"] == "lookahead"
    assert run["config"]["update"]["t_max"] == 40 and run["config"]["update"]["unique_token"] == token
    assert {"step_metric": "t_env", "glob_name": "*"}.items() <= logged["metric"][1].items()
    # one history row per log_stat call, with its t_env: the same values at the same steps as sacred
    assert len(logged["history"]) == sum(len(m["values"]) for m in metrics.values())
    assert_same_as_sacred(history_series(logged["history"], "t_env"), metrics, rel=1e-12)
    (exit_record,) = logged["exit"]  # one clean finish; proto3's JSON leaves out zero-valued fields (a 0 s runtime)
    assert exit_record.get("exit_code", 0) == 0, exit_record
    # every checkpoint, under the layout of results/
    saved = sorted(os.listdir(tmp_path / "models" / token), key=int)
    assert len(saved) >= 2
    for step in saved:
        local = os.listdir(tmp_path / "models" / token / step)
        uploaded = os.listdir(os.path.join(wandb_dir, "files", "models", token, step))
        assert local and sorted(uploaded) == sorted(local), step


def test_with_tensorboard_wandb_syncs_the_event_files_without_logging_twice(wandb_inspect, tmp_path):
    result = run_main("mappo", TINY + ["use_tensorboard=True"], str(tmp_path), env="toy_game", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = sacred_runs(str(tmp_path))
    metrics = read_json(os.path.join(run_dir, "metrics.json"))

    logged = records(wandb_inspect, offline_run(str(tmp_path)))
    # TensorBoard's rows, one per step (float32 values): each key once per step it was logged at
    history = logged["history"]
    assert len(history) == len({step for m in metrics.values() for step in m["steps"]})
    assert_same_as_sacred(history_series(history, "global_step"), metrics, rel=1e-6)
    assert "metric" not in logged  # no t_env axis: log_stat sent nothing itself


def test_a_failed_run_ends_its_wandb_run_as_failed(wandb_inspect, tmp_path):
    overrides = ["env_args.key=faulty_envs:NanReward-v0", "env_args.time_limit=10", "runner=episode",
                 "batch_size_run=1", "batch_size=2", "buffer_size=2", "t_max=200", "use_wandb=True"]
    result = run_main("mappo", overrides, str(tmp_path), timeout=120)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: non-finite"), result.stderr[-3000:]
    logged = records(wandb_inspect, offline_run(str(tmp_path)))
    assert logged["exit"][0]["exit_code"] == 1


def test_online_without_an_account_stops_with_one_line(wandb_inspect, tmp_path, monkeypatch):
    """W&B's own refusal (no API key: this HOME has none) is told in one line, the run FAILED."""
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_main("mappo", TINY + ["wandb_mode=online"], str(tmp_path), env="toy_game", timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: W&B could not start the run (wandb_mode='online'): "), line
    assert line.endswith("(no account needed: wandb_mode=offline or disabled)"), line
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"


@pytest.mark.parametrize(
    "override, message",
    [
        ("wandb_mode=ofline", "bad value for 'wandb_mode': 'ofline'; allowed: one of disabled, offline, online"),
        ("wandb_project=''", "bad value for 'wandb_project': ''; allowed: null (the project 'lookahead') or a "
                             "non-empty string: the W&B project"),
        ("wandb_team=3", "bad value for 'wandb_team': 3; allowed: null (the account's default entity) or a "
                         "non-empty string: the W&B entity (team or user)"),
        ("use_wandb=yes", "bad value for 'use_wandb': 'yes' is a str, expected a bool (default False)"),
    ],
)
def test_bad_wandb_settings_stop_with_one_line(override, message, tmp_path, capsys):
    argv = ["--config=mappo", "--env-config=toy_game", "with", f"local_results_path={tmp_path}", override]
    assert main.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"error: {message}"
    assert not os.path.exists(tmp_path / "sacred")


def test_without_the_extra_use_wandb_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now fails as if not installed
    argv = ["--config=mappo", "--env-config=toy_game", "with", f"local_results_path={tmp_path}", "use_wandb=True"]
    assert main.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("error: bad value for 'use_wandb': True; allowed: False, or True once wandb is installed: "
                    "pip install -e '.[wandb]'")
    # code that builds its Logger itself is told the same
    config = {"wandb_team": None, "wandb_project": None, "wandb_mode": "offline"}
    with pytest.raises(ConfigError, match=r"needs wandb, which is not installed: pip install -e '\.\[wandb\]'"):
        Logger(logging.getLogger("test-wandb")).setup_wandb(config, "run", str(tmp_path), tensorboard_dir=None)


def test_wandb_starts_before_tensorboard(tmp_path):
    """W&B hooks TensorBoard's event writer class: a writer made before it would go unseen."""
    logger = Logger(logging.getLogger("test-wandb"))
    logger.setup_tb(str(tmp_path / "tb"))
    with pytest.raises(RuntimeError, match="setup_wandb must come before setup_tb"):
        logger.setup_wandb({}, "run", str(tmp_path), tensorboard_dir=str(tmp_path / "tb"))
    logger.close()
