"""Stopping a real parallel run of ``src/main.py``: Ctrl-C, SIGTERM, ``kill -9``, and a NaN reward.

Each run is MAPPO on LBF with three envs (``runner=parallel``): one in the learner's process, one in
each of two env workers. The whole process tree (env
workers, sacred's two output-capture ``tee`` processes) is read from ``/proc`` once training has
begun, and every process of it must be gone afterwards, not only the main process.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest
import torch

from tests.integration.helpers import LBF, MAIN, SUPPORT, read_json, run_main, sacred_runs
from tests.support.process_tree import descendants, identify, kill_survivors, requires_proc, wait_until_gone

# three envs over three processes: the first in the learner's (learner_steps_envs), one in each of two workers
PARALLEL = [f"env_args.key={LBF}", "env_args.time_limit=50", "runner=parallel", "batch_size_run=3",
            "env_workers=3", "t_max=1000000", "test_nepisode=3"]
STARTED = "Beginning training"
CHECKPOINT_FILES = {"agent.th", "critic.th", "target_critic.th", "optimisers.th", "normalisers.th", "counters.th"}


def start_main(launch, overrides: list[str], results: str, log_path: str) -> subprocess.Popen:
    """``python src/main.py --config=mappo --env-config=gymma with ...`` started by ``launch`` (the
    fixture), in its own session (so a signal to its process group reaches it and its workers, as
    Ctrl-C in a terminal does), with stdout and stderr to ``log_path``. SIGINT is reset to its
    default first, as for a terminal's foreground job: tests started in the background by a script
    (``cmd &``) inherit it ignored, and the run rightly keeps an ignored signal ignored."""
    command = [sys.executable, MAIN, "--config=mappo", "--env-config=gymma", "with",
               f"local_results_path={results}", *overrides]
    with open(log_path, "w") as log:
        return launch(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=SUPPORT),
                      preexec=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_line(process: subprocess.Popen, log_path: str, text: str, seconds: float = 120) -> str:
    """Wait until the run's output contains ``text``; its output so far."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(log_path) as f:
            output = f.read()
        if text in output:
            return output
        assert process.poll() is None, f"the run ended (code {process.returncode}) before '{text}':\n{output[-3000:]}"
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no '{text}' within {seconds} s")


@pytest.fixture
def trees() -> Iterator[list[dict]]:
    """Where tests put the process trees they observe; whatever of them is left is killed afterwards."""
    observed: list[dict] = []
    yield observed
    for tree in observed:
        kill_survivors(tree)


def running_tree(process: subprocess.Popen, log_path: str, trees: list[dict]) -> dict:
    """The run's processes a second after training began: 2 ``tee`` and the env workers at least."""
    wait_for_line(process, log_path, STARTED)
    time.sleep(1.0)  # into the collection loop
    tree = descendants(process.pid)
    trees.append({**tree, identify(process.pid): "main"})  # main too, should the test fail before it ends
    assert sum("tee" in command for command in tree.values()) == 2, tree
    assert len(tree) >= 4, tree  # + the env workers, forked copies of main.py
    return tree


def finish(process: subprocess.Popen, log_path: str, seconds: float = 30) -> tuple[int, str, float]:
    """Wait for the run to exit: ``(exit code, its output, seconds it took)``."""
    started = time.monotonic()
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    with open(log_path) as f:
        return code, f.read(), time.monotonic() - started


@requires_proc
@pytest.mark.parametrize(
    "signum, to_group, code",
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c-to-the-process-group", "sigterm-to-main-only"],
)
def test_signal_stops_the_run_in_order_and_leaves_no_process(signum, to_group, code, tmp_path, trees, launch):
    log_path = str(tmp_path / "output.txt")
    process = start_main(launch, PARALLEL + ["save_model=True"], str(tmp_path), log_path)
    tree = running_tree(process, log_path, trees)

    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    returncode, output, seconds = finish(process, log_path)

    assert returncode == code, output[-3000:]
    assert seconds < 15, f"stopping took {seconds:.1f} s"
    left = wait_until_gone(tree, 2.0)
    assert not left, f"left running after the run ended: {left}"
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "INTERRUPTED"
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}" in output and "Traceback" not in output, output[-3000:]
    # a final checkpoint, saved after the stop began, at the t_env the loop stopped at, complete
    stopping = output.split(f"{name}: stopping training at t_env ")[1]
    stopped_at = int(stopping.split()[0])
    (token_dir,) = glob.glob(str(tmp_path / "models" / "*"))
    assert f"Saved models to {os.path.join(token_dir, str(stopped_at))}\n" in stopping, output[-3000:]
    assert all(step.isdigit() for step in os.listdir(token_dir)), "a partial checkpoint was left behind"
    assert CHECKPOINT_FILES <= set(os.listdir(os.path.join(token_dir, str(stopped_at))))


@requires_proc
def test_kill_9_of_main_leaves_no_worker_alive(tmp_path, trees, launch):
    log_path = str(tmp_path / "output.txt")
    process = start_main(launch, PARALLEL, str(tmp_path), log_path)
    tree = running_tree(process, log_path, trees)

    process.kill()  # SIGKILL: no handler, no cleanup, as the OOM killer does
    process.wait(timeout=10)

    left = wait_until_gone(tree, 10.0)
    assert not left, f"still alive 10 s after kill -9 of main: {left}"


def test_nan_reward_stops_the_run_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    overrides = ["env_args.key=faulty_envs:NanReward-v0", "env_args.time_limit=10", "runner=parallel",
                 "batch_size_run=2", "env_workers=2", "t_max=1000", "save_model=True"]
    result = run_main("mappo", overrides, str(tmp_path), timeout=120)

    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [result.stderr.strip().splitlines()[-1]], result.stderr[-3000:]
    assert errors[0].startswith("error: non-finite critic loss (nan) in PPOLearner at t_env="), errors
    assert "Traceback" not in result.stderr
    (run_dir,) = sacred_runs(str(tmp_path))
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "FAILED"
    # the checkpoint saved before the NaN is the last one, complete and finite
    failed_at = int(errors[0].split("t_env=")[1].split(";")[0])
    (token_dir,) = glob.glob(str(tmp_path / "models" / "*"))
    steps = sorted(int(name) for name in os.listdir(token_dir))  # int(): no partial directory
    assert steps and steps[-1] < failed_at
    files = glob.glob(os.path.join(token_dir, str(steps[-1]), "*.th"))
    assert CHECKPOINT_FILES <= {os.path.basename(path) for path in files}
    for path in files:
        assert all(torch.isfinite(t).all() for t in tensors_in(torch.load(path, map_location="cpu"))), path


def tensors_in(state: object) -> list[torch.Tensor]:
    """Every tensor inside a checkpoint file's nested dicts and lists."""
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for value in state.values() for t in tensors_in(value)]
    if isinstance(state, (list, tuple)):
        return [t for value in state for t in tensors_in(value)]
    return []
