"""A failing env worker reaches the main process as a clear error within seconds (no hang)."""

from __future__ import annotations

import os
import time

import pytest

from tests.integration.helpers import read_json, run_main, sacred_runs


@pytest.mark.parametrize(
    "key, fragments",
    [
        ("faulty_envs:FaultyStep-v0", ["RuntimeError", "deliberate failure at step 3", "worker traceback"]),
        ("faulty_envs:DyingStep-v0", ["env worker", "exit code 3"]),
    ],
)
def test_worker_failure_stops_the_run_quickly(key, fragments, tmp_path):
    # every env in a worker (learner_steps_envs=False), so the failure happens in one
    started = time.time()
    result = run_main("mappo", [f"env_args.key={key}", "env_args.time_limit=10", "t_max=1000", "learner_steps_envs=False"],
                      str(tmp_path), timeout=120)
    elapsed = time.time() - started
    assert result.returncode == 1, result.stderr[-2000:]
    assert elapsed < 60, f"took {elapsed:.0f} s to notice the failed worker"
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-2000:])
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"


def test_failure_in_the_learners_own_block_of_envs_stops_the_run_with_its_error(tmp_path):
    """With ``learner_steps_envs`` (the default) the first envs run in the learner's process: their
    error goes up as itself, with its own traceback (as with ``runner=episode``), and the run is FAILED."""
    result = run_main("mappo", ["env_args.key=faulty_envs:FaultyStep-v0", "env_args.time_limit=10", "t_max=1000",
                                "env_workers=2"], str(tmp_path), timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.rstrip().endswith("RuntimeError: deliberate failure at step 3"), result.stderr[-2000:]
    assert "worker traceback" not in result.stderr and "EnvWorkerError" not in result.stderr
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"
