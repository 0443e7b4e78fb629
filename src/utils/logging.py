"""Statistics logging to the console, sacred (metrics.json), TensorBoard and Weights & Biases."""

from __future__ import annotations

import logging
import os
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from utils.config import ConfigError

WANDB_MODES = ("disabled", "offline", "online")
WANDB_EXTRA = "pip install -e '.[wandb]'"  # how to install wandb (setup.py's extra)
WANDB_DEFAULT_PROJECT = "lookahead"
# W&B's x-axis for every scalar: t_env, logged beside each value. W&B's own step counts log calls and
# must not go back, while keys reach log_stat out of t_env order (test returns after learner losses).
WANDB_STEP_METRIC = "t_env"


class Logger:
    """``log_stat(key, value, t)`` records a scalar everywhere that is switched on.

    ``print_recent_stats`` prints EPyMARL's "Recent Stats" block: for each key the mean of its
    last few values (episodes-based keys are already means), four per line. Only those last
    ``recent_window`` values are kept here (EPyMARL keeps every one, which grows with the run).
    """

    recent_window = 5

    def __init__(self, console_logger: logging.Logger) -> None:
        self.console_logger = console_logger
        self.stats: dict[str, deque[tuple[int, float]]] = defaultdict(lambda: deque(maxlen=self.recent_window))
        self._sacred_run = None
        self._writer = None
        self._wandb_run = None
        self._wandb_gets_log_stat = False  # False with TensorBoard: W&B reads the event files instead

    def setup_tb(self, directory: str) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it pulls in tensorboard

        self._writer = SummaryWriter(log_dir=directory)

    def setup_wandb(self, config: Mapping[str, Any], name: str, directory: str, tensorboard_dir: str | None) -> None:
        """Start a W&B run called ``name`` (the run's unique token) that records ``config``, with its
        files in ``directory/wandb/`` and, if set, ``hypergroup`` as its group.

        With a ``tensorboard_dir`` (the one :meth:`setup_tb` gets next) W&B syncs the event files
        written there, so every scalar reaches it once, at TensorBoard's step; W&B hooks the event
        writer class, so call this before :meth:`setup_tb`. Without one :meth:`log_stat` sends each
        scalar, plotted against ``t_env``. wandb is imported only here: it is an optional extra.
        """
        if self._writer is not None:
            raise RuntimeError("setup_wandb must come before setup_tb: W&B syncs only event writers created after it")
        try:
            import wandb
        except ImportError:
            raise ConfigError(f"use_wandb=True needs wandb, which is not installed: {WANDB_EXTRA}") from None
        if tensorboard_dir is not None:
            # What init(sync_tensorboard=True) does, plus the root: unnamed, W&B waits 10 s to guess it.
            wandb.tensorboard.patch(root_logdir=tensorboard_dir)
        os.makedirs(directory, exist_ok=True)
        try:
            self._wandb_run = wandb.init(
                entity=config["wandb_team"],
                project=config["wandb_project"] or WANDB_DEFAULT_PROJECT,
                mode=config["wandb_mode"],
                config=dict(config),
                name=name,
                group=config.get("hypergroup"),
                dir=directory,
            )
        except wandb.errors.Error as error:  # e.g. online without `wandb login`
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigError(f"W&B could not start the run (wandb_mode={config['wandb_mode']!r}): {reason} "
                              "(no account needed: wandb_mode=offline or disabled)") from None
        self._wandb_gets_log_stat = tensorboard_dir is None
        if self._wandb_gets_log_stat:
            self._wandb_run.define_metric(WANDB_STEP_METRIC)
            self._wandb_run.define_metric("*", step_metric=WANDB_STEP_METRIC)

    def save_to_wandb(self, directory: str, base_path: str) -> None:
        """Upload the files of ``directory`` to the W&B run (``setup_wandb`` first), named by their
        path below ``base_path`` so that the run keeps the local layout."""
        self._wandb_run.save(os.path.join(directory, "*"), base_path=base_path, policy="now")

    def setup_sacred(self, sacred_run: Any) -> None:
        self._sacred_run = sacred_run

    def log_stat(self, key: str, value: float, t: int) -> None:
        value = float(value)
        self.stats[key].append((t, value))
        if self._writer is not None:
            self._writer.add_scalar(key, value, t)
        if self._sacred_run is not None:
            self._sacred_run.log_scalar(key, value, t)
        if self._wandb_gets_log_stat:
            self._wandb_run.log({key: value, WANDB_STEP_METRIC: t})

    def print_recent_stats(self) -> None:
        if "episode" not in self.stats:
            return
        t_env, episode = self.stats["episode"][-1]
        lines = [f"Recent Stats | t_env: {t_env:>10} | Episode: {int(episode):>8}"]
        cells = []
        for key in sorted(k for k in self.stats if k != "episode"):
            recent = [v for _, v in self.stats[key]]
            cells.append(f"{key + ':':<25}{np.mean(recent):>10.4f}")
        for row in range(0, len(cells), 4):
            lines.append("    ".join(cells[row : row + 4]))
        self.console_logger.info("\n".join(lines))

    def close(self, failed: bool = False) -> None:
        """Flush and close every sink; the W&B run ends marked failed if ``failed``. TensorBoard
        closes first, so that W&B reads its last events before the run ends. W&B's background
        service stops too: it holds the process's stdout, whose capture (sacred's cout.txt) would
        otherwise wait for it in vain."""
        if self._writer is not None:
            self._writer.close()
        if self._wandb_run is not None:
            import wandb

            exit_code = 1 if failed else 0
            self._wandb_run.finish(exit_code=exit_code)
            wandb.teardown(exit_code=exit_code)
            if not self._wandb_gets_log_stat:
                wandb.tensorboard.unpatch()  # the patch is global; the next run names its own root


def log_if_due(logger: Any, stats: dict[str, float], t_env: int, last_t: int, interval: int) -> int:
    """Log every entry of ``stats`` at ``t_env`` if ``interval`` env steps passed since ``last_t``;
    returns the step of the latest log (learners report their diagnostics this way)."""
    if t_env - last_t < interval:
        return last_t
    for key, value in stats.items():
        logger.log_stat(key, value, t_env)
    return t_env


def as_floats(stats: Mapping[str, Any]) -> dict[str, float]:
    """``stats`` with every value a Python float; the tensor values (0-d, on any one device) are read
    back in one transfer, so an update's diagnostics cost the device one wait, not one per value."""
    tensors = {key: value for key, value in stats.items() if isinstance(value, torch.Tensor)}
    floats = {key: float(value) for key, value in stats.items() if key not in tensors}
    if tensors:
        values = torch.stack([value.detach().float().reshape(()) for value in tensors.values()])
        floats.update(zip(tensors, values.tolist()))
    return {key: floats[key] for key in stats}


class PrefixedLogger:
    """Logs through ``logger`` with ``prefix`` before every key: a second learner (e.g. Lookahead's
    imagined update) reports its diagnostics beside the real ones without overwriting them."""

    def __init__(self, logger: Any, prefix: str) -> None:
        self.logger = logger
        self.prefix = prefix

    def log_stat(self, key: str, value: float, t: int) -> None:
        self.logger.log_stat(f"{self.prefix}{key}", value, t)


def get_console_logger() -> logging.Logger:
    """The "pymarl" console logger (shared with sacred, so its messages land in cout.txt too)."""
    logger = logging.getLogger("pymarl")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s] %(name)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger
