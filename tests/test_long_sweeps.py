"""Long sweeps that survive: a trial whose run was killed resumes from its last checkpoint, the
tools know the killed run as DEAD, and no trial outlives its sweep (``kill -9`` of ``search.py``,
death of the trial's Ray worker, loss of a node of an isolated cluster). Real toy-game sweeps
(``src/search.py`` in a subprocess, its own local Ray or cluster) with results in the test's
temporary directory, outside the checkout."""

from __future__ import annotations

import datetime
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'); sweep tests need it")

import plot_results  # noqa: E402  (src/ is on sys.path: tests/conftest.py)
import search  # noqa: E402
from tests.support import processes  # noqa: E402
from tests.support.process_tree import (  # noqa: E402
    alive, descendants, identify, kill_survivors, parent_of, requires_proc, wait_until_gone)
from tests.support.ray_cluster import two_node_cluster  # noqa: E402
from utils.checkpoint import list_checkpoint_steps  # noqa: E402
from utils.run_state import run_state  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEARCH = str(REPO / "src" / "search.py")
SUPPORT = str(REPO / "tests" / "support")
# MAPPO on the toy game with two env workers (both envs in subprocesses): t_env grows by 2 per batch;
# checkpoints every >= 16 steps.
RUN = {"runner": "parallel", "batch_size_run": 2, "env_workers": 2, "learner_steps_envs": False, "batch_size": 2,
       "buffer_size": 2,
       "epochs": 1, "mini_batches": 1, "test_nepisode": 2, "t_max": 100, "test_interval": 10, "log_interval": 10,
       "runner_log_interval": 10, "learner_log_interval": 10, "save_model": True, "save_model_interval": 16}
STALL_AFTER = 25  # each env's step at which it stalls while the stall file exists: t_env ~ 40


def write_sweep(tmp_path: Path, **extra) -> tuple[Path, Path, Path]:
    """A one-trial sweep of the stalling toy game; ``(sweep file, results dir, stall file)``."""
    results, stall = tmp_path / "results", tmp_path / "stall"
    overrides = {**RUN, "env_args": {"key": "stalling_envs:StallingToy-v0", "stall_file": str(stall),
                                     "stall_after": STALL_AFTER}}
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump({"config": "mappo", "env-config": "toy_game", "overrides": overrides, "seeds": 1,
                                    "resources": {"cpus": 1}, "local_results_path": str(results), **extra}))
    return path, results, stall


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SUPPORT}


def start_search(launch, sweep: Path, log: Path, *flags: str) -> subprocess.Popen:
    with open(log, "w") as out:
        return launch([sys.executable, SEARCH, str(sweep), "--num-cpus", "2", "--progress-interval", "1", *flags],
                      stdout=out, stderr=subprocess.STDOUT, env=environment())


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def run_dirs(results: Path) -> list[str]:
    """The sacred run directories under ``results``, in the order sacred numbered them."""
    return sorted(glob.glob(str(results / "sacred" / "*" / "*" / "*" / "run.json")),
                  key=lambda p: int(Path(p).parent.name))


def wait_for(condition, process: subprocess.Popen, log: Path, seconds: float, what: str):
    """Poll ``condition()`` until it returns something true; fails if ``process`` ends first."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert process.poll() is None, f"search.py ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    return value


def running_runs(results: Path, count: int) -> dict[str, int] | None:
    """``{run dir: pid}`` once ``count`` runs record their processes."""
    found = {}
    for path in run_dirs(results):
        try:
            found[os.path.dirname(path)] = read_json(path)["host"]["process"]["pid"]
        except (ValueError, KeyError):
            return None  # being written
    return found if len(found) == count else None


def running_run(results: Path) -> tuple[str, int] | None:
    """``(run dir, pid)`` of the single run once its ``run.json`` records its process."""
    runs = running_runs(results, 1)
    return next(iter(runs.items())) if runs else None


def run_tree(pid: int) -> dict:
    """The run's processes once its env workers are up: main.py, 2 ``tee``, 2 env workers."""
    tree = {**descendants(pid), identify(pid): "main.py"}
    return tree if len(tree) >= 5 else {}


def stalled_and_flushed(run_dir: str, stall: Path) -> bool:
    """The envs stalled, and sacred wrote a heartbeat since: metrics and info.json are on disk."""
    marker = Path(f"{stall}.stalled")
    if not marker.exists():
        return False
    stalled_at = datetime.datetime.fromtimestamp(marker.stat().st_mtime, datetime.timezone.utc)
    try:
        heartbeat = read_json(os.path.join(run_dir, "run.json"))["heartbeat"]
    except (ValueError, KeyError):
        return False
    beat = heartbeat and datetime.datetime.fromisoformat(heartbeat).replace(tzinfo=datetime.timezone.utc)
    return bool(beat) and beat > stalled_at and os.path.exists(os.path.join(run_dir, "info.json"))


def curve_steps(results: Path, out: Path, metric: str = "test_return_mean") -> list[int]:
    """The steps of the single curve ``plot_results.py`` draws from ``results``."""
    assert plot_results.main([str(results), "--out", str(out), "--metric", metric]) == 0
    with open(f"{out}.csv") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    assert len({row[1] for row in rows}) == 1
    return [int(row[2]) for row in rows]


@requires_proc
def test_a_killed_trial_resumes_from_its_checkpoint_into_one_curve(tmp_path, launch, capsys):
    """The trial's Ray worker is killed (-9) while its envs stall: the run and its env workers die
    within 10 s, the run is DEAD to ``--dry-run`` and ``plot_results.py``; ``resume: checkpoint``
    continues it from its newest checkpoint to COMPLETED, and the joined curve has the steps of an
    uninterrupted run."""
    sweep, results, stall = write_sweep(tmp_path)
    (trial,) = search.load_sweep(str(sweep)).trials
    reference = tmp_path / "reference"
    done = processes.run([sys.executable, str(REPO / "src" / "main.py"), *trial.argv(),
                          f"local_results_path={reference}"], capture_output=True, text=True, timeout=180,
                         env=environment())
    assert done.returncode == 0, done.stderr[-3000:]

    stall.write_text("")
    log = tmp_path / "search1.log"
    first = start_search(launch, sweep, log)
    run_dir, pid = wait_for(lambda: running_run(results), first, log, 120, "a run")
    tree = wait_for(lambda: run_tree(pid), first, log, 120, "the run's env workers")
    try:
        wait_for(lambda: stalled_and_flushed(run_dir, stall), first, log, 120, "a stall and a heartbeat")
        os.kill(parent_of(pid), signal.SIGKILL)  # the trial's Ray worker, which started main.py
        assert not wait_until_gone(tree, 10.0), "the run outlived its trial's Ray worker by 10 s"
    finally:
        kill_survivors(tree)
    assert first.wait(timeout=60) == 1, log.read_text()[-3000:]
    assert "FAILED" in log.read_text()

    models_dir = read_json(os.path.join(run_dir, "info.json"))["models_dir"]
    assert models_dir.startswith(str(results))  # absolute, outside the checkout
    steps = list_checkpoint_steps(models_dir)
    killed_at = steps[-1]
    assert 0 < killed_at < RUN["t_max"] and len(steps) >= 2
    assert read_json(os.path.join(run_dir, "run.json"))["status"] == "RUNNING"  # what kill -9 leaves
    capsys.readouterr()
    assert search.main([str(sweep), "--dry-run"]) == 0
    assert f"[to run] {run_dir} (DEAD) has a checkpoint at t_env {killed_at}" in capsys.readouterr().out
    assert search.main([str(sweep), "--dry-run", "--resume"]) == 0
    planned = capsys.readouterr().out
    assert f"[resume] from t_env {killed_at} of {run_dir} (DEAD)" in planned
    assert f"checkpoint_path={models_dir} load_step=0 resumed_from={run_dir} resumed_step={killed_at}" in planned
    assert plot_results.main([str(results), "--status", "DEAD", "--out", str(tmp_path / "dead")]) == 0
    assert "runs by status (a run and its resumptions count once): DEAD 1" in capsys.readouterr().out

    stall.unlink()
    write_sweep(tmp_path, resume="checkpoint")
    log = tmp_path / "search2.log"
    second = start_search(launch, sweep, log)
    assert second.wait(timeout=180) == 0, log.read_text()[-3000:]
    assert f"[search] resuming {trial.name} from t_env {killed_at}" in log.read_text()
    (killed, resumed) = [os.path.dirname(path) for path in run_dirs(results)]
    assert killed == run_dir and read_json(os.path.join(killed, "run.json"))["status"] == "RUNNING"  # untouched
    assert read_json(os.path.join(resumed, "run.json"))["status"] == "COMPLETED"
    config = read_json(os.path.join(resumed, "config.json"))
    assert (config["resumed_from"], config["resumed_step"], config["t_max"]) == (run_dir, killed_at, RUN["t_max"])
    with open(os.path.join(resumed, "cout.txt")) as f:
        assert f"Loading model from {os.path.join(models_dir, str(killed_at))}\n" in f.read()
    metrics = read_json(os.path.join(resumed, "metrics.json"))
    logged = sorted(step for entry in metrics.values() for step in entry["steps"])
    assert killed_at < logged[0] <= killed_at + RUN["log_interval"]  # t_env goes on from the checkpoint
    assert RUN["t_max"] < logged[-1] <= RUN["t_max"] + 2  # to the same t_max
    for metric in ("test_return_mean", "return_mean"):
        assert curve_steps(results, tmp_path / "joined", metric) == curve_steps(reference, tmp_path / "ref", metric)

    capsys.readouterr()
    assert search.main([str(sweep), "--dry-run"]) == 0
    assert "[completed]" in capsys.readouterr().out  # the resumption stands for the trial


@requires_proc
def test_kill_9_of_search_ends_its_trials_runs_and_their_env_workers(tmp_path, launch):
    """``kill -9`` of ``search.py``: the trial's ``main.py`` and its env workers are gone within 10 s,
    and the run, RUNNING in its files, is DEAD to the tools."""
    sweep, results, _ = write_sweep(tmp_path, overrides={**RUN, "t_max": 10_000_000})  # the plain toy game
    log = tmp_path / "search.log"
    process = start_search(launch, sweep, log)
    run_dir, pid = wait_for(lambda: running_run(results), process, log, 120, "a run")
    tree = wait_for(lambda: run_tree(pid), process, log, 120, "the run's env workers")
    try:
        process.kill()
        process.wait(timeout=10)
        assert not wait_until_gone(tree, 10.0), "the run outlived search.py by 10 s"
    finally:
        kill_survivors(tree)
    record = read_json(os.path.join(run_dir, "run.json"))
    assert (record["status"], run_state(record)) == ("RUNNING", "DEAD")


def raylet_of(node: subprocess.Popen) -> int:
    """The raylet of the node whose ``ray start --block`` process is ``node``."""
    (pid,) = [pid for (pid, _), command in descendants(node.pid).items() if "/raylet " in f"{command} "]
    return pid


@pytest.mark.slow  # 35-40 s: a second two-node cluster (test_search.py's two-node sweep runs in the default suite)
@requires_proc
def test_the_loss_of_a_node_ends_the_runs_it_held(tmp_path, launch):
    """On an isolated two-node cluster, one trial per node: killing the worker node's raylet by pid
    (never ``ray stop``) ends the ``main.py`` it ran and that run's env workers within 10 s; the
    head's run goes on. Ray kills a dead worker's children itself; with that switched off
    (``RAY_kill_child_processes_on_worker_exit*=0``) the run's parent-death signal still ends it, and
    without both the run outlives its node (seen)."""
    sweep, results, _ = write_sweep(tmp_path, overrides={**RUN, "t_max": 10_000_000}, seeds=2)
    log = tmp_path / "search.log"
    with two_node_cluster(tmp_path) as (address, env, _, (_, worker)):
        with open(log, "w") as out:
            process = launch([sys.executable, SEARCH, str(sweep), "--address", address, "--progress-interval", "1"],
                             stdout=out, stderr=subprocess.STDOUT, env={**env, "PYTHONPATH": SUPPORT})
        runs = wait_for(lambda: running_runs(results, 2), process, log, 180, "a run on each node")
        trees = {pid: wait_for(lambda pid=pid: run_tree(pid), process, log, 120, "the runs' env workers")
                 for pid in runs.values()}
        raylet = raylet_of(worker)
        # main.py's parent is its Ray worker, whose parent is the raylet of the node it runs on
        on_worker = [pid for pid in runs.values() if parent_of(parent_of(pid)) == raylet]
        assert len(on_worker) == 1, (runs, raylet)
        (on_head,) = [pid for pid in runs.values() if pid not in on_worker]
        lost, kept = trees[on_worker[0]], trees[on_head]
        try:
            os.kill(raylet, signal.SIGKILL)
            assert not wait_until_gone(lost, 10.0), "the run outlived its node by 10 s"
            assert len(alive(kept)) == len(kept)  # the head's run is untouched
        finally:
            kill_survivors(lost)
            process.kill()
            process.wait(timeout=30)
            assert not wait_until_gone(kept, 15.0)  # and ends with its sweep
