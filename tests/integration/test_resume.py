"""A run killed with SIGKILL after saving checkpoints resumes from its latest one; one stopped between
an update and its test makes the test up when resumed.

The killed run leaves only complete ``<t_env>/`` checkpoint directories (written under a temporary
name, then renamed). Loading the latest gives a learner whose every tensor equals the saved files;
a new run given ``checkpoint_path`` continues counting env steps from that checkpoint's ``t_env``.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.env_info import EnvInfo
from components.scheme import build_scheme
from experiment.build import set_epymarl_sizes
from controllers import REGISTRY as mac_registry
from learners import REGISTRY as learner_registry
from run import load_checkpoint, make_args, run_sequential
from runners import REGISTRY as runner_registry
from tests.factories import FakeLogger
from tests.integration.helpers import LBF, MAIN, SUPPORT, read_json, run_main, sacred_runs
from utils.checkpoint import list_checkpoint_steps
from utils import stop_signals
from utils.config import load_config
from utils.logging import Logger, get_console_logger

RUN = [f"env_args.key={LBF}", "env_args.time_limit=50", "runner=episode", "test_nepisode=2", "seed=4",
       "standardise_returns=True"]


def start_run(launch, results: str, overrides: list[str]) -> subprocess.Popen:
    command = [sys.executable, MAIN, "--config=mappo", "--env-config=gymma", "with",
               f"local_results_path={results}", *overrides]
    with open(os.path.join(results, "killed_run.log"), "w") as log:
        return launch(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=SUPPORT))


def wait_for_checkpoints(results: str, process: subprocess.Popen, count: int, timeout: float = 120) -> str:
    """The run's model directory once it holds ``count`` complete checkpoints."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, open(os.path.join(results, "killed_run.log")).read()[-3000:]
        for token_dir in glob.glob(os.path.join(results, "models", "*")):
            if len(list_checkpoint_steps(token_dir)) >= count:
                return token_dir
        time.sleep(0.2)
    raise AssertionError(f"no {count} checkpoints within {timeout} s")


def build_learner(overrides: dict):
    """A learner built as ``run.run_sequential`` builds it, for the ``RUN`` settings."""
    config = load_config("mappo", "gymma")
    config.update(seed=4, runner="episode", test_nepisode=2, standardise_returns=True, **overrides,
                  env_args={"key": LBF, "time_limit": 50})
    args = make_args(config)
    runner = runner_registry[args.runner](args=args, logger=FakeLogger())
    env_info = runner.get_env_info()
    runner.close_env()
    set_epymarl_sizes(args, EnvInfo.from_env(env_info))
    scheme, groups, preprocess = build_scheme(env_info, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return learner_registry[args.learner](mac, buffer_scheme, FakeLogger(), args), args


def assert_same(a, b, what: str) -> None:
    """Equal nested dicts / lists of tensors and numbers."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), what
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for key in a:
            assert_same(a[key], b[key], f"{what}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]")
    else:
        assert a == b, what


def test_killed_run_resumes_from_its_latest_checkpoint(tmp_path, launch):
    killed = str(tmp_path / "killed")
    os.makedirs(killed)
    process = start_run(launch, killed, RUN + ["save_model=True", "save_model_interval=400", "t_max=1000000"])
    try:
        token_dir = wait_for_checkpoints(killed, process, count=2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    steps = list_checkpoint_steps(token_dir)
    latest = max(steps)
    assert latest > min(steps) > 0

    # loading: the latest checkpoint, every tensor as saved
    learner, args = build_learner({"checkpoint_path": token_dir})
    assert load_checkpoint(learner, args, Logger(get_console_logger()))[0] == latest
    saved = os.path.join(token_dir, str(latest))
    load = lambda name: torch.load(os.path.join(saved, name), map_location="cpu")  # noqa: E731
    assert_same(learner.mac.agent.state_dict(), load("agent.th"), "agent")
    assert_same(learner.critic.state_dict(), load("critic.th"), "critic")
    assert_same(learner.target_critic.state_dict(), load("target_critic.th"), "target_critic")
    assert_same(learner._optimiser_states(), load("optimisers.th"), "optimisers")
    assert_same(learner.return_stats.state_dict(), load("normalisers.th")["return"], "return normaliser")
    assert learner.return_stats.count > 1
    fresh, _ = build_learner({})
    assert not all(torch.equal(a, b) for a, b in zip(fresh.mac.parameters(), learner.mac.parameters()))

    # resuming: the new run counts env steps on from the checkpoint's t_env
    resumed = str(tmp_path / "resumed")
    result = run_main("mappo", RUN + [f"checkpoint_path={token_dir}", f"t_max={latest + 600}", "save_model=True",
                                      "save_model_interval=400", "runner_log_interval=0"], resumed, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = sacred_runs(resumed)[0]
    with open(os.path.join(run_dir, "cout.txt")) as f:
        assert f"Loading model from {saved}" in f.read()
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    train_steps = metrics["return_mean"]["steps"]
    assert latest < train_steps[0] <= latest + 10 * 50  # one batch of 10 episodes of at most 50 steps
    assert train_steps[-1] > latest + 600
    assert metrics["test_return_mean"]["steps"][0] == train_steps[0]
    (new_dir,) = glob.glob(os.path.join(resumed, "models", "*"))
    assert min(list_checkpoint_steps(new_dir)) == train_steps[0]


def test_a_stop_between_an_update_and_its_test_is_made_up_for_on_resuming(tmp_path, monkeypatch):
    """A stop (SIGTERM) lands during the update after which a test is due: the run saves the updated policy at
    that t_env, untested, its episodes counted. Resumed (``resumed_from``), it runs that test first, so
    its tests fall at the env steps of an uninterrupted run's."""
    tests_at: list[int] = []
    run_tests = runner_registry["episode"].run_tests
    monkeypatch.setattr(runner_registry["episode"], "run_tests", lambda self: tests_at.append(self.t_env) or run_tests(self))
    stop_at: list[int] = []
    learn = learner_registry["ppo_learner"].train

    def learn_then_stop(self, batch, t_env, episode_num):
        stats = learn(self, batch, t_env, episode_num)
        if t_env in stop_at:  # inside the update's deferred() block: the stop takes effect when it ends
            os.kill(os.getpid(), signal.SIGTERM)  # not SIGINT, which a suite started with `&` ignores
        return stats

    monkeypatch.setattr(learner_registry["ppo_learner"], "train", learn_then_stop)

    def run(token: str, **overrides) -> list[int]:
        """``run_sequential`` of 4 one-step toy-game episodes a batch, tests every 8 steps; its test steps."""
        config = load_config("mappo", "toy_game")
        config.update(seed=3, runner="episode", batch_size_run=4, batch_size=4, buffer_size=4, epochs=1,
                      mini_batches=1, test_nepisode=1, test_interval=8, log_interval=8, t_max=40, save_model=True,
                      save_model_interval=1000, local_results_path=str(tmp_path), **overrides)
        args = make_args(config)
        args.unique_token = token
        tests_at.clear()
        run_sequential(args, Logger(get_console_logger()))
        return list(tests_at)

    uninterrupted = run("whole")
    assert uninterrupted == [4, 12, 20, 28, 36, 44]

    stop_at.append(20)
    with stop_signals.handled(), pytest.raises(stop_signals.RunInterrupted):
        run("stopped")
    assert tests_at == [4, 12]  # the stop came before the test due at 20
    checkpoint = os.path.join(str(tmp_path), "models", "stopped")
    assert list_checkpoint_steps(checkpoint) == [4, 20]  # the first batch's, and the stop's
    assert read_json(os.path.join(checkpoint, "20", "loop.json"))["episode"] == 20  # 5 batches of 4, counted

    stop_at.clear()
    resumed = run("resumed", checkpoint_path=checkpoint, load_step=0, resumed_from=str(tmp_path), resumed_step=20)
    assert [4, 12] + resumed == uninterrupted
