"""One experiment, from a merged config to a trained (and tested, and saved) controller.

``run`` is sacred's main function. It builds the runner, then the buffer, controller and learner
(``experiment.build.build_run``), and then loops: collect a batch of episodes, train on a sample,
and every ``test_interval`` / ``log_interval`` / ``save_model_interval`` env steps test, print, save.

A checkpoint (``<local_results_path>/models/<unique_token>/<t_env>/``, recorded as ``models_dir``
in the sacred run's info) holds the learner's files and ``loop.json``, the loop's schedule
(``LoopState``), so a run resumed from it tests, logs and saves at the env steps the uninterrupted
run would have. ``save_model_keep: N`` keeps the newest N checkpoints of a run.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from components.episode_buffer import ReplayBuffer
from components.interfaces import Learner, Runner
from experiment.build import build_run
from experiment.config_checks import check_choices
from runners import REGISTRY as runner_registry
from utils.checkpoint import list_checkpoint_steps
from utils.config import ConfigError
from utils.finite_checks import NonFiniteError
from utils.logging import Logger
from utils.stop_signals import deferred
from utils.threads import learner_threads, torch_threads
from utils.timehelper import time_left, time_str


def run(_run: Any, _config: dict, _log: Any) -> None:
    """Sacred entry point: set up seeds, device and logging, then train (or evaluate)."""
    args = make_args(_config)
    _log.info("Experiment parameters: %s", {k: v for k, v in sorted(vars(args).items())})
    seed_everything(args.seed)
    torch.set_num_threads(args.torch_threads)

    logger = Logger(_log)
    logger.setup_sacred(_run)
    token = f"{args.name}_seed{args.seed}_{env_label(vars(args))}_{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}"
    args.unique_token = token.replace(":", "-").replace("/", "-")
    if args.save_model:  # where search.py finds the checkpoints to resume a stopped run from
        _run.info["models_dir"] = models_dir(args)
    tb_dir = os.path.join(args.local_results_path, "tb_logs", args.unique_token) if args.use_tensorboard else None
    try:
        if args.use_wandb:  # before TensorBoard, whose event files W&B then syncs
            logger.setup_wandb(vars(args), args.unique_token, args.local_results_path, tensorboard_dir=tb_dir)
        if tb_dir is not None:
            logger.setup_tb(tb_dir)
        run_sequential(args, logger)
    except BaseException:
        logger.close(failed=True)
        raise
    logger.close()


def make_args(config: dict) -> SimpleNamespace:
    """The config as attributes, with the env seeded from ``seed`` and the device chosen."""
    config = {key: value for key, value in config.items()}
    config["env_args"] = dict(config["env_args"])
    config["env_args"].setdefault("seed", config["seed"])
    if config["use_cuda"] and not torch.cuda.is_available():
        config["use_cuda"] = False
        print("use_cuda=True but no CUDA device is available: running on the CPU")
    config["device"] = "cuda" if config["use_cuda"] else "cpu"
    args = SimpleNamespace(**config)
    check_choices(args)
    return args


def env_label(config: dict) -> str:
    """How a run's env is named in result paths: the gymma key, else the map name, else the env."""
    env_args = config.get("env_args") or {}
    return str(env_args.get("key") or env_args.get("map_name") or config["env"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_sequential(args: SimpleNamespace, logger: Logger) -> None:
    """Build every component, then train until ``t_max`` env steps (or only evaluate)."""
    runner = runner_registry[args.runner](args=args, logger=logger)
    try:
        components = build_run(args, runner, logger)
        buffer, learner = components.buffer, components.learner
        if args.use_cuda:
            learner.cuda()

        loop = None
        if args.checkpoint_path:
            runner.t_env, loop = load_checkpoint(learner, args, logger)
        if args.evaluate:
            evaluate(args, runner, logger)
            return
        resumed = loop is not None and bool(args.resumed_from)
        if not resumed:  # a new run from a checkpoint keeps its own schedule
            loop = LoopState.start(args)
        train(args, runner, buffer, learner, logger, loop, resumed=resumed)
    finally:
        runner.close_env()


@dataclass
class LoopState:
    """Where the training loop's schedule stands: the episodes played and the env steps of the last
    test, report, checkpoint and training-return log (the runner's ``log_train_stats_t``)."""

    episode: int
    last_test_t: int
    last_log_t: int
    last_save_t: int
    last_runner_log_t: int

    FILE = "loop.json"

    @classmethod
    def start(cls, args: SimpleNamespace) -> "LoopState":
        """A new run's: test and report at the first batch; save then too (``last_save_t`` 0)."""
        return cls(0, -args.test_interval - 1, -args.log_interval - 1, 0, -args.runner_log_interval - 1)

    def save(self, directory: str) -> None:
        with open(os.path.join(directory, self.FILE), "w") as f:
            json.dump(asdict(self), f)

    @classmethod
    def load(cls, directory: str) -> "LoopState | None":
        """The state saved in checkpoint ``directory``; None for a checkpoint written without it."""
        path = os.path.join(directory, cls.FILE)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return cls(**json.load(f))


def models_dir(args: SimpleNamespace) -> str:
    """The directory of this run's checkpoints, ``<local_results_path>/models/<unique_token>`` (absolute)."""
    return os.path.abspath(os.path.join(args.local_results_path, "models", args.unique_token))


def load_checkpoint(learner: Learner, args: SimpleNamespace, logger: Logger) -> tuple[int, LoopState | None]:
    """Load the checkpoint at ``load_step`` (0: latest; else the closest); its t_env and loop state.

    A resumption (``resumed_from`` set) must find exactly the step it names in ``resumed_step``."""
    if not os.path.isdir(args.checkpoint_path):
        raise ConfigError(f"checkpoint_path '{args.checkpoint_path}' is not a directory")
    steps = list_checkpoint_steps(args.checkpoint_path)
    if not steps:
        raise ConfigError(f"checkpoint_path '{args.checkpoint_path}' holds no <t_env>/ model directories")
    step = max(steps) if args.load_step == 0 else min(steps, key=lambda s: abs(s - args.load_step))
    if args.resumed_from and step != args.resumed_step:
        raise ConfigError(f"bad value for 'resumed_step': {args.resumed_step}; allowed: the step loaded from "
                          f"checkpoint_path '{args.checkpoint_path}' with load_step={args.load_step}, {step}")
    path = os.path.join(args.checkpoint_path, str(step))
    logger.console_logger.info("Loading model from %s", path)
    learner.load_models(path)
    return step, LoopState.load(path)


def evaluate(args: SimpleNamespace, runner: Runner, logger: Logger) -> None:
    runner.run_tests()
    if args.save_replay:
        runner.save_replay()
    logger.log_stat("episode", 0, runner.t_env)
    logger.print_recent_stats()
    logger.console_logger.info("Finished evaluation")


def save_checkpoint(learner: Learner, args: SimpleNamespace, t_env: int, logger: Logger, loop: LoopState) -> str:
    """Write the learner's files and ``loop`` into a temporary directory, then rename it to
    ``<t_env>/``; then, with ``save_model_keep`` N > 0, delete all but the newest N checkpoints."""
    root = models_dir(args)
    final = os.path.join(root, str(t_env))
    staging = os.path.join(root, f".{t_env}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    learner.save_models(staging)
    loop.save(staging)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(staging, final)
    logger.console_logger.info("Saved models to %s", final)
    if args.save_model_keep > 0:
        for old in list_checkpoint_steps(root)[:-args.save_model_keep]:
            shutil.rmtree(os.path.join(root, str(old)))
    if args.use_wandb and args.wandb_save_model:
        logger.save_to_wandb(final, base_path=args.local_results_path)
    return final


def report_progress(logger: Logger, episode: int, t_env: int, steps: int, seconds: float, test_seconds: float) -> None:
    """Log progress and speed: env steps/s overall, and excluding test episodes and checkpoint saves
    (the figure HARL reports, which evaluates on separate envs); and the peak resident memory of
    this process so far (``peak_rss_mb``; the env workers are processes of their own)."""
    logger.log_stat("episode", episode, t_env)
    logger.log_stat("env_steps_per_second", steps / max(seconds, 1e-9), t_env)
    logger.log_stat("train_steps_per_second", steps / max(seconds - test_seconds, 1e-9), t_env)
    logger.log_stat("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, t_env)  # KiB on Linux
    logger.print_recent_stats()


def train(args: SimpleNamespace, runner: Runner, buffer: ReplayBuffer, learner: Learner, logger: Logger,
          loop: LoopState, resumed: bool = False) -> None:
    """The on-line loop: collect, learn, and periodically test, report and save, on the schedule
    ``loop`` holds (a new run's, or the one a resumed run saved with its checkpoint). A ``resumed``
    run first runs the test its schedule had due at the checkpoint's t_env, if any: a stop that
    landed between an update and the test after it saved the updated policy untested, and the
    uninterrupted run would have tested that policy at that t_env.

    On Ctrl-C or SIGTERM (``utils.stop_signals``) the loop stops, reports and saves a final
    checkpoint (``save_model``) before the interrupt goes on up; a learner update is never cut in
    half. A non-finite loss, gradient or parameter (``utils.finite_checks``) stops it at once,
    reported with the update's ``t_env``: the last checkpoint saved stays the last one.
    """
    start_time, last_time = time.time(), time.time()
    test_seconds = 0.0  # time spent in test episodes and checkpoint saves
    t_start = runner.t_env
    runner.log_train_stats_t = loop.last_runner_log_t
    threads = learner_threads(args.learner_threads)

    def report() -> None:
        report_progress(logger, loop.episode, runner.t_env, runner.t_env - t_start, time.time() - start_time,
                        test_seconds)

    def save() -> None:
        loop.last_runner_log_t = runner.log_train_stats_t
        save_checkpoint(learner, args, runner.t_env, logger, loop)

    def test_if_due() -> None:
        nonlocal last_time, test_seconds
        if runner.t_env - loop.last_test_t < args.test_interval:
            return
        logger.console_logger.info("t_env: %d / %d", runner.t_env, args.t_max)
        logger.console_logger.info(
            "Estimated time left: %s. Time passed: %s",
            time_left(last_time, loop.last_test_t, runner.t_env, args.t_max) if loop.last_test_t >= t_start
            else "-",  # a resumed run's last test was before this process started: no rate yet
            time_str(time.time() - start_time),
        )
        last_time = time.time()
        runner.run_tests()
        loop.last_test_t = runner.t_env  # after the test: one cut short by a stop is run again on resuming
        test_seconds += time.time() - last_time

    logger.console_logger.info("Beginning training for %d timesteps", args.t_max)

    counted_t = runner.t_env  # the t_env up to which loop.episode counts the episodes
    try:
        if resumed:
            test_if_due()
        while runner.t_env <= args.t_max:
            episode_batch = runner.run(test_mode=False)
            buffer.insert_episode_batch(episode_batch)
            if buffer.can_sample(args.batch_size):
                sample = buffer.sample(args.batch_size)
                sample = sample[:, : sample.max_t_filled()]
                if sample.device != torch.device(args.device):
                    sample.to(args.device)
                with deferred(), torch_threads(threads):  # every core the run holds while the env workers wait
                    learner.train(sample, runner.t_env, loop.episode)
            loop.episode += args.batch_size_run
            counted_t = runner.t_env
            test_if_due()

            if runner.t_env - loop.last_log_t >= args.log_interval:
                report()
                loop.last_log_t = runner.t_env

            save_due = runner.t_env - loop.last_save_t >= args.save_model_interval or loop.last_save_t == 0
            if args.save_model and save_due:
                save_started = time.time()
                loop.last_save_t = runner.t_env
                save()
                test_seconds += time.time() - save_started
    except NonFiniteError as error:
        raise error.at(runner.t_env) from None
    except KeyboardInterrupt as interrupt:
        signal_name = getattr(interrupt, "signal_name", "SIGINT")
        logger.console_logger.warning("%s: stopping training at t_env %d", signal_name, runner.t_env)
        if runner.t_env != counted_t:  # stopped after a batch was collected, before its episodes were counted
            loop.episode += args.batch_size_run
        report()
        if args.save_model:
            save()
        raise

    if loop.last_log_t != runner.t_env:
        report()
    if args.save_model:
        save()
    logger.console_logger.info("Finished training after %s", time_str(time.time() - start_time))
