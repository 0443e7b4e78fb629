"""``utils.threads`` and the run loop's use of it: the learner phases on ``learner_threads``, the
rollouts on ``torch_threads``."""

from __future__ import annotations

import os

import torch

from experiment.build import build_run
from main import build_config
from run import LoopState, make_args, train
from runners import REGISTRY as runner_registry
from tests.factories import FakeLogger
from utils.logging import Logger, get_console_logger
from utils.threads import cpus_held, learner_threads, torch_threads


def test_the_cpus_held_are_the_affinity_or_fewer_where_the_environment_says(monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpus_held() == affinity == learner_threads(0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as Ray sets it for a task holding one CPU
    assert cpus_held() == 1 == learner_threads(0)
    assert learner_threads(3) == 3  # an explicit setting wins
    monkeypatch.setenv("OMP_NUM_THREADS", str(affinity + 5))
    assert cpus_held() == affinity
    monkeypatch.setenv("OMP_NUM_THREADS", "four")
    assert cpus_held() == affinity


def test_torch_threads_comes_back_after_the_block():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_the_run_loop_learns_on_learner_threads_and_rolls_out_on_torch_threads():
    config = build_config(["--config=happo", "--env-config=toy_game"])
    config.update(seed=2, t_max=64, batch_size_run=16, batch_size=16, buffer_size=16, epochs=1, mini_batches=1,
                  rollout_length=0, learner_threads=2, torch_threads=1, test_interval=10**6, log_interval=10**6)
    args = make_args(config)
    runner = runner_registry[args.runner](args=args, logger=FakeLogger())
    threads = {"run": set(), "train": set()}
    try:
        components = build_run(args, runner, FakeLogger())
        run, learn = runner.run, components.learner.train
        runner.run = lambda *a, **k: threads["run"].add(torch.get_num_threads()) or run(*a, **k)
        components.learner.train = lambda *a: threads["train"].add(torch.get_num_threads()) or learn(*a)
        torch.set_num_threads(args.torch_threads)
        train(args, runner, components.buffer, components.learner, Logger(get_console_logger()), LoopState.start(args))
    finally:
        runner.close_env()
    assert threads == {"run": {1}, "train": {2}}
