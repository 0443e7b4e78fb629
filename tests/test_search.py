"""src/search.py: real toy-game sweeps through Ray on this machine (one Ray session shared by the
fast tests), resume, a failing trial, and a two-node local Ray cluster."""

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

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'); sweep tests need it")

import search  # noqa: E402  (src/ is on sys.path: tests/conftest.py)
from tests.support import processes  # noqa: E402
from tests.support.ray_cluster import two_node_cluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# A toy-game run of a few seconds (mostly imports): one batch of 4 one-step episodes.
TINY = {"runner": "episode", "batch_size_run": 4, "batch_size": 4, "buffer_size": 4, "t_max": 4,
        "epochs": 1, "mini_batches": 1, "test_nepisode": 1}


def write_sweep(path: Path, results: Path, **sweep) -> Path:
    sweep = {"env-config": "toy_game", "overrides": TINY, "seeds": 1, "resources": {"cpus": 1},
             "local_results_path": str(results), **sweep}
    path.write_text(yaml.safe_dump(sweep))
    return path


def sacred_runs(results: Path) -> list[tuple[str, dict]]:
    """(status, config) of every sacred run under ``results``."""
    runs = []
    for run_json in sorted(glob.glob(str(results / "sacred" / "*" / "*" / "*" / "run.json"))):
        with open(run_json) as f:
            status = json.load(f)["status"]
        with open(os.path.join(os.path.dirname(run_json), "config.json")) as f:
            runs.append((status, json.load(f)))
    return runs


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray (2 CPUs) for the fast tests; ``run_sweep`` leaves a session it did not start open."""
    started_here = search.start_ray(None, num_cpus=2)
    yield
    if started_here:  # never a session this fixture did not start
        ray.shutdown()


@pytest.fixture(scope="module")
def grid_sweep(ray_session, tmp_path_factory):
    """A 2 x 2 sweep (algorithm x lr), run once for the tests below."""
    root = tmp_path_factory.mktemp("grid")
    sweep_file = write_sweep(root / "grid.yaml", root / "results",
                             grid={"--config": ["happo", "mappo"], "lr": [0.0003, 0.001]})
    progress = search.run_sweep(search.load_sweep(str(sweep_file)), progress_interval=2)
    return sweep_file, root / "results", progress


def test_grid_sweep_runs_every_combination_through_ray(grid_sweep):
    _, results, progress = grid_sweep
    assert (progress.done, progress.skipped, progress.failed) == (4, 0, [])
    runs = sacred_runs(results)
    assert sorted((config["name"], config["lr"], status) for status, config in runs) == [
        ("happo", 0.0003, "COMPLETED"), ("happo", 0.001, "COMPLETED"),
        ("mappo", 0.0003, "COMPLETED"), ("mappo", 0.001, "COMPLETED")]
    assert {config["hypergroup"] for _, config in runs} == {
        "config=happo,lr=0.0003", "config=happo,lr=0.001", "config=mappo,lr=0.0003", "config=mappo,lr=0.001"}
    assert {config["t_max"] for _, config in runs} == {4}


def test_resume_skips_completed_trials_and_reruns_the_rest(grid_sweep, tmp_path):
    sweep_file, results, _ = grid_sweep
    again = search.run_sweep(search.load_sweep(str(sweep_file)), progress_interval=2)
    assert (again.done, again.skipped, again.failed) == (0, 4, [])
    assert len(sacred_runs(results)) == 4  # nothing ran again
    # A run that did not complete does not count: mark one FAILED, and only that trial runs again.
    run_json = sorted(glob.glob(str(results / "sacred" / "mappo" / "*" / "*" / "run.json")))[0]
    with open(run_json) as f:
        record = json.load(f)
    with open(run_json, "w") as f:
        json.dump({**record, "status": "FAILED"}, f)
    resumed = search.run_sweep(search.load_sweep(str(sweep_file)), progress_interval=2)
    assert (resumed.done, resumed.skipped, resumed.failed) == (1, 3, [])
    assert sorted(status for status, _ in sacred_runs(results)) == ["COMPLETED"] * 4 + ["FAILED"]


def test_failing_trials_are_reported_and_the_others_finish(ray_session, tmp_path, capsys):
    # lr=-1 is refused by the config checks (never launched); an unknown env key fails inside the run.
    sweep_file = write_sweep(tmp_path / "bad.yaml", tmp_path / "results", config="mappo",
                             groups=[{"lr": 0.001}, {"lr": -1.0}, {"env_args.key": "no-such-env-v0"}])
    progress = search.run_sweep(search.load_sweep(str(sweep_file)), progress_interval=2)
    assert progress.done == 1
    errors = {trial.name: error for trial, error in progress.failed}
    assert len(errors) == 2
    assert "bad value for 'lr': -1.0" in errors["lr=-1.0,seed=0"]
    run_error = errors["env_args.key=no-such-env-v0,seed=0"]
    assert run_error.startswith("error:") and "no-such-env-v0" in run_error
    out = capsys.readouterr().out
    assert "FAILED env_args.key=no-such-env-v0" in out and "failed" in out
    assert [status for status, _ in sacred_runs(tmp_path / "results")].count("COMPLETED") == 1


def test_epymarl_sweep_file_is_read(tmp_path):
    """EPyMARL's keys: grid-search (scalars allowed), grid-search-groups, exclude: null, --seeds."""
    sweep_file = tmp_path / "epymarl.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "exclude": None,
        "grid-search": {"--config": ["mappo", "ippo"], "lr": [0.0005], "use_wandb": False,
                        "wandb_project": "p", "t_max": 100},
        "grid-search-groups": {"env0": [{"--env-config": "gymma"},
                                        {"env_args.key": "lbforaging:Foraging-8x8-2p-3f-v3"},
                                        {"env_args.time_limit": 25}]},
    }))
    sweep = search.load_sweep(str(sweep_file), seeds_flag=2, results_flag=str(tmp_path / "r"))
    assert [(t.alg, t.env, t.seed) for t in sweep.trials] == [
        ("mappo", "gymma", 0), ("mappo", "gymma", 1), ("ippo", "gymma", 0), ("ippo", "gymma", 1)]
    config = search.trial_config(sweep.trials[0])  # main.py accepts every key it is given
    assert (config["use_wandb"], config["wandb_project"]) == (False, "p")
    assert (config["hypergroup"], config["env_args"]["time_limit"]) == ("config=mappo", 25)
    assert config["local_results_path"] == str(tmp_path / "r")


def test_set_flags_override_every_trial_and_shipped_sweep_files_are_valid(tmp_path):
    """``--set`` wins over the file's overrides, grid and groups; every sweep file under
    benchmarks/sweeps builds a valid config for each of its trials (as ``--dry-run`` checks)."""
    sweep_file = write_sweep(tmp_path / "s.yaml", tmp_path / "r", grid={"--config": ["happo", "mappo"], "lr": [0.1, 0.2]})
    sweep = search.load_sweep(str(sweep_file), set_flags=search.parse_set_flags(["lr=0.5", "t_max=8"]))
    assert [(trial.alg, dict(trial.overrides)["lr"], dict(trial.overrides)["t_max"]) for trial in sweep.trials] == [
        ("happo", 0.5, 8), ("mappo", 0.5, 8)]  # the lr axis collapses into one value: no duplicate trials
    with pytest.raises(search.SweepError, match="not of the form key=value"):
        search.parse_set_flags(["t_max"])
    shipped = sorted((REPO / "benchmarks" / "sweeps").glob("*.yaml"))
    assert len(shipped) >= 5
    for path in shipped:
        trials = search.load_sweep(str(path), results_flag=str(tmp_path / "shipped")).trials
        configs = [search.trial_config(trial) for trial in trials]
        assert len({search.canonical(config) for config in configs}) == len(trials), path.name


def test_trials_no_node_can_hold_are_refused(ray_session, tmp_path):
    sweep_file = write_sweep(tmp_path / "big.yaml", tmp_path / "results", config="mappo", resources={"cpus": 64})
    with pytest.raises(search.SweepError, match=r"'resources.cpus': 64; the largest Ray node has 2 CPUs"):
        search.run_sweep(search.load_sweep(str(sweep_file)), progress_interval=2)


@pytest.mark.parametrize("sweep, message", [
    ({"grid": {"lr": [0.1]}, "config": "mappo", "seeds": 0}, "bad value for 'seeds': 0"),
    ({"grid": {"lr": [0.1]}, "config": "mappo", "resources": {"cpu": 1}}, "unknown resources key(s) cpu"),
    ({"grid": {"lr": [0.1]}, "config": "mappo", "exclude": ["x"]}, "bad value for 'exclude'"),
    ({"grid": {"lr": [0.1]}, "config": "mappo", "gird": {}}, "unknown sweep key(s) 'gird'"),
])
def test_bad_sweep_file_is_one_line(tmp_path, capsys, sweep, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"env-config": "toy_game", **sweep}))
    assert search.main([str(path), "--dry-run"]) == 2
    stderr = capsys.readouterr().err.strip()
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ") and message in stderr


def test_sweep_runs_across_a_two_node_cluster_and_stops_only_it(ray_session, tmp_path):
    """One trial on each node; stopping the cluster leaves none of its processes (those whose
    command names its temp dir), and the suite's own Ray session, started before it, still works."""
    mark = os.environ[processes.SUITE_MARK]
    sweep_file = write_sweep(tmp_path / "cluster.yaml", tmp_path / "results", config="mappo", seeds=2)
    with two_node_cluster(tmp_path) as (address, env, temp_dir, _):
        assert any(temp_dir in command for command in processes.marked(mark).values())
        result = processes.run([sys.executable, str(REPO / "src" / "search.py"), str(sweep_file),
                                "--address", address, "--progress-interval", "2"],
                               capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "finished: 2 ran, 0 skipped" in result.stdout
    nodes = {line.split("(node ")[1].rstrip(")") for line in result.stdout.splitlines() if "] done " in line}
    assert len(nodes) == 2  # one trial on each node
    assert sorted((status, config["seed"]) for status, config in sacred_runs(tmp_path / "results")) == [
        ("COMPLETED", 0), ("COMPLETED", 1)]
    deadline = time.monotonic() + 30
    while (left := [c for c in processes.marked(mark).values() if temp_dir in c]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left
    assert ray.get(ray.remote(lambda: 7).remote(), timeout=60) == 7


@pytest.mark.parametrize("signum, sigint_at_start, exit_code", [
    (signal.SIGINT, signal.SIG_DFL, 130),
    pytest.param(signal.SIGTERM, signal.SIG_DFL, 143, marks=pytest.mark.slow),  # SIGTERM's path: the next case
    (signal.SIGTERM, signal.SIG_IGN, 143),  # started with `&` from a script: SIGINT ignored, Ray's processes too
])
def test_ctrl_c_or_sigterm_stops_running_trials_and_keeps_finished_runs(tmp_path, signum, sigint_at_start, exit_code):
    """SIGINT (Ctrl-C) or SIGTERM (``kill``) to ``search.py``: the running trial's run ends INTERRUPTED
    (not DEAD, which it would be if Ray could not cancel the trial), the finished one stays COMPLETED,
    and the exit code is 128 + the signal."""
    long_run = {"t_max": 10_000_000, "test_interval": 10_000_000}
    sweep_file = write_sweep(tmp_path / "stop.yaml", tmp_path / "results", config="mappo",
                             groups=[{"lr": 0.001}, {"lr": 0.002, **long_run}])
    log_path = tmp_path / "search.log"
    with open(log_path, "w") as log:
        process = processes.start([sys.executable, str(REPO / "src" / "search.py"), str(sweep_file), "--num-cpus", "2",
                                   "--progress-interval", "1"], stdout=log, stderr=subprocess.STDOUT,
                                  preexec=lambda: signal.signal(signal.SIGINT, sigint_at_start))
    try:
        deadline = time.monotonic() + 180
        while ("] done lr=0.001" not in log_path.read_text()
               or [status for status, _ in sacred_runs(tmp_path / "results")].count("RUNNING") != 1):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        process.send_signal(signum)
        assert process.wait(timeout=90) == exit_code, log_path.read_text()[-3000:]
    finally:
        processes.stop(process)
    assert sorted((config["lr"], status) for status, config in sacred_runs(tmp_path / "results")) == [
        (0.001, "COMPLETED"), (0.002, "INTERRUPTED")]
    assert "[search] interrupted: stopping 1 unfinished trials" in log_path.read_text()


def fake_run(results: Path, run_id: int, config: dict, record: dict, steps: list[int] = ()) -> str:
    """A sacred run directory under ``results`` as ``main.py`` leaves it, with checkpoints at ``steps``."""
    run_dir = results / "sacred" / config["name"] / "toy" / str(run_id)
    run_dir.mkdir(parents=True)
    models = results / "models" / f"token{run_id}"
    for step in steps:
        (models / str(step)).mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "info.json").write_text(json.dumps({"models_dir": str(models)}))
    return str(run_dir)


@pytest.mark.parametrize("record, plan", [
    ({"status": "INTERRUPTED"}, "resume"),
    ({"status": "RUNNING", "start_time": "2020-01-01T00:00:00"}, "resume"),  # DEAD: no heartbeat since 2020
    ({"status": "FAILED", "fail_trace": ["Traceback ...\n", "runners.env_pool.EnvWorkerError: env worker 1 died "
                                         "(exit code -9) without a reply\n"]}, "resume"),  # an env worker OOM-killed
    ({"status": "FAILED", "fail_trace": ["utils.finite_checks.NonFiniteError: non-finite critic loss\n"]}, "to run"),
    ({"status": "COMPLETED"}, "completed"),
])
def test_only_runs_that_stopped_early_are_resumed(tmp_path, record, plan):
    """The plan of a trial whose earlier run (same config but for save_model_keep) ended as ``record``
    says: resumed from its newest checkpoint only if it stopped early and only with ``--resume``."""
    sweep_file = write_sweep(tmp_path / "s.yaml", tmp_path / "results", config="mappo",
                             overrides={**TINY, "save_model": True})
    (trial,) = search.load_sweep(str(sweep_file)).trials
    config = {**search.trial_config(trial), "save_model_keep": 3}
    if plan == "completed":  # a run recorded before the keys a resumption sets existed
        config = {key: value for key, value in config.items() if key not in ("resumed_from", "resumed_step")}
    run_dir = fake_run(tmp_path / "results", 1, config, record, steps=[4, 12, 8])
    runs = search.past_runs(str(tmp_path / "results"))
    resumed = search.plan_trial(trial, runs, resume=True)
    assert resumed.state == plan
    assert search.plan_trial(trial, runs, resume=False).state == ("completed" if plan == "completed" else "to run")
    if plan == "resume":
        extra = dict(resumed.trial.overrides)
        assert (extra["resumed_from"], extra["resumed_step"], extra["load_step"]) == (run_dir, 12, 0)
        assert extra["checkpoint_path"] == str(tmp_path / "results" / "models" / "token1")
        # the resumption, once started, stands for the trial: its COMPLETED run completes it
        resumed_config = search.trial_config(resumed.trial)
        fake_run(tmp_path / "results", 2, resumed_config, {"status": "COMPLETED"})
        assert search.plan_trial(trial, search.past_runs(str(tmp_path / "results")), resume=True).state == "completed"


def test_a_trial_with_a_live_resumption_is_not_started_again(tmp_path):
    """A dead run resumed by a run that is still alive (another search.py runs it): the trial is
    'running', not resumed a second time from the dead run's checkpoint."""
    sweep_file = write_sweep(tmp_path / "s.yaml", tmp_path / "results", config="mappo",
                             overrides={**TINY, "save_model": True})
    (trial,) = search.load_sweep(str(sweep_file)).trials
    config = search.trial_config(trial)
    dead = fake_run(tmp_path / "results", 1, config, {"status": "RUNNING", "start_time": "2020-01-01T00:00:00"},
                    steps=[4])
    resumed = search.plan_trial(trial, search.past_runs(str(tmp_path / "results")), resume=True)
    assert resumed.state == "resume"
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()  # as sacred writes it
    live = fake_run(tmp_path / "results", 2, search.trial_config(resumed.trial), {"status": "RUNNING", "heartbeat": now})
    for resume in (True, False):
        plan = search.plan_trial(trial, search.past_runs(str(tmp_path / "results")), resume=resume)
        assert plan.state == "running" and live in plan.note and dead not in plan.note


def test_bad_resume_value_is_one_line(tmp_path, capsys):
    sweep_file = write_sweep(tmp_path / "s.yaml", tmp_path / "results", config="mappo", resume="always")
    assert search.main([str(sweep_file), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == ("error: bad value for 'resume': 'always'; allowed: null (no resuming) "
                                               "or checkpoint (stopped runs go on from their newest checkpoint)")


def test_a_setting_added_after_a_run_matches_it_at_its_default_only():
    """A run recorded before a ``default.yaml`` setting existed has no such key in its config.json;
    a trial holding that setting at its default is still that run, one that sets it otherwise is not."""
    recorded = {"name": "happo", "seed": 0, "lr": 0.001, "env_args": {"key": "toy"}}
    assert search.canonical({**recorded, "model_compile": False}) == search.canonical(recorded)
    assert search.canonical({**recorded, "model_compile": True}) != search.canonical(recorded)
    assert search.canonical({**recorded, "lr": 0.0005}) != search.canonical(recorded)  # a value differs


def test_copied_runs_count_as_done_only_when_completed(tmp_path, capsys):
    """``--completed-in``: a trial whose run finished under another results path and was copied
    elsewhere (a collected folder) is completed on a machine whose results path is empty, also
    through a resumption (an INTERRUPTED copy resumed by a COMPLETED one); a copy that did not finish
    is neither resumed (its checkpoints are not there) nor taken for a live run."""
    sweep_file = write_sweep(tmp_path / "s.yaml", tmp_path / "new_results", config="mappo",
                             overrides={**TINY, "save_model": True})
    (trial,) = search.load_sweep(str(sweep_file)).trials
    elsewhere = {**search.trial_config(trial), "local_results_path": "/old/machine/runs"}
    copies = tmp_path / "collected"

    def plan(**sweep_flags) -> str:
        sweep = search.load_sweep(str(sweep_file), **sweep_flags)
        return search.plan_trial(trial, search.past_runs(sweep.results_path, sweep.completed_in), resume=True).state

    stopped = fake_run(copies, 1, elsewhere, {"status": "INTERRUPTED"}, steps=[4])
    fake_run(copies, 2, elsewhere, {"status": "RUNNING", "heartbeat": "2999-01-01T00:00:00"})  # alive, if here
    assert plan(completed_in=[str(copies)]) == "to run"
    resumed_there = {**elsewhere, "resumed_from": "/old/machine/runs/" + stopped.split("/collected/")[1],
                     "resumed_step": 4, "checkpoint_path": "/old/machine/runs/models/token1", "load_step": 0}
    fake_run(copies, 3, resumed_there, {"status": "COMPLETED"})
    assert plan() == "to run"  # without the flag the copies are not looked at
    assert plan(completed_in=[str(copies)]) == "completed"
    assert search.main([str(sweep_file), "--dry-run", "--completed-in", str(copies)]) == 0
    assert "   0 [completed]" in capsys.readouterr().out
    assert search.main([str(sweep_file), "--dry-run", "--completed-in", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --completed-in '{tmp_path / 'nowhere'}' is not a folder; give a folder of copied runs "
        "(one holding sacred/<name>/<env>/<id>/)")
