"""Against a real EPyMARL checkout (``EPYMARL_PATH``, run by ``EPYMARL_PYTHON``, a Python with
EPyMARL's requirements and lbforaging; default: this one): install into a copy, train
``lookahead_mappo`` and ``happo`` through EPyMARL's own ``src/main.py``, check EPyMARL's own ``mappo``
still runs, and uninstall back to the same files."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.plugin.conftest import SCRIPT, snapshot
from tests.support import processes

EPYMARL_PATH = os.environ.get("EPYMARL_PATH")
EPYMARL_PYTHON = os.environ.get("EPYMARL_PYTHON", sys.executable)
pytestmark = pytest.mark.skipif(
    not EPYMARL_PATH,
    reason="set EPYMARL_PATH to an EPyMARL checkout (and EPYMARL_PYTHON to a Python with its requirements) to run",
)

LBF = ["env_args.key=lbforaging:Foraging-8x8-2p-3f-v3", "env_args.time_limit=25"]
SMALL = ["t_max=500", "batch_size_run=2", "batch_size=2", "buffer_size=2", "test_nepisode=2", "test_interval=250",
         "learner_log_interval=100", "runner_log_interval=100", "log_interval=250", "hidden_dim=32"]
TINY_LOOKAHEAD = ["lka_warmup_steps=100", "lka_rollouts=32", "lka_horizon=5", "lka_epochs=1", "lka_mini_batches=1",
                  "mlearn_steps=20", "model_hidden_dim=32", "model_hidden_layers=2", "model_batch_size=64"]


def without_results(files: dict) -> dict:
    """The checkout's own files: not EPyMARL's results, nor git's bookkeeping (sacred runs git, which
    refreshes its index)."""
    return {path: data for path, data in files.items() if not path.startswith(("results/", ".git/"))}


def epymarl_main(root: Path, alg: str, overrides: list[str]) -> tuple[str, dict]:
    """Run EPyMARL's main; return the sacred status and metrics of the run it wrote."""
    command = [EPYMARL_PYTHON, "src/main.py", f"--config={alg}", "--env-config=gymma", "with", *overrides]
    result = processes.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    runs = sorted(glob.glob(str(root / "results" / "sacred" / alg / "*" / "[0-9]*")), key=os.path.getmtime)
    assert runs, f"{alg} wrote no sacred run: {result.stderr[-3000:]}"
    with open(os.path.join(runs[-1], "run.json")) as f:
        status = json.load(f)["status"]
    with open(os.path.join(runs[-1], "metrics.json")) as f:
        return status, json.load(f)


def test_lookahead_and_happo_train_inside_epymarl_and_uninstall_restores_it(tmp_path):
    root = tmp_path / "epymarl"
    shutil.copytree(EPYMARL_PATH, root, ignore=shutil.ignore_patterns("results", "__pycache__"))
    processes.run([sys.executable, str(SCRIPT), "uninstall", str(root)], check=True, capture_output=True,
                  timeout=120)
    before = snapshot(root)
    install = processes.run([sys.executable, str(SCRIPT), "install", str(root)], capture_output=True, text=True,
                            timeout=120)
    assert install.returncode == 0, install.stderr

    status, metrics = epymarl_main(root, "lookahead_mappo", [*LBF, *SMALL, *TINY_LOOKAHEAD])
    assert status == "COMPLETED"
    for key in ("kl_gap", "imagined_return", "lka_pg_loss", "model_loss", "time_model", "return_mean", "test_return_mean"):
        assert key in metrics, f"{key} not in EPyMARL's sacred metrics: {sorted(metrics)}"
    assert metrics["model_val_termination_accuracy"]["values"][-1] == 1.0  # time-limit ends read as truncations
    status, metrics = epymarl_main(root, "happo", [*LBF, *SMALL])
    assert status == "COMPLETED" and "factor_mean" in metrics
    status, metrics = epymarl_main(root, "mappo", [*LBF, "t_max=200"])  # EPyMARL's own algorithm
    assert status == "COMPLETED" and "return_mean" in metrics

    uninstall = processes.run([sys.executable, str(SCRIPT), "uninstall", str(root)], capture_output=True,
                              text=True, timeout=120)
    assert uninstall.returncode == 0, uninstall.stderr
    assert without_results(snapshot(root)) == without_results(before)
