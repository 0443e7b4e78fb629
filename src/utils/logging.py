"""Statistics logging to the console, sacred (metrics.json) and TensorBoard."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np


class Logger:
    """``log_stat(key, value, t)`` records a scalar everywhere that is switched on.

    ``print_recent_stats`` prints EPyMARL's "Recent Stats" block: for each key the mean of its
    last few values (episodes-based keys are already means), four per line.
    """

    recent_window = 5

    def __init__(self, console_logger: logging.Logger) -> None:
        self.console_logger = console_logger
        self.stats: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._sacred_run = None
        self._writer = None

    def setup_tb(self, directory: str) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it pulls in tensorboard

        self._writer = SummaryWriter(log_dir=directory)

    def setup_sacred(self, sacred_run: Any) -> None:
        self._sacred_run = sacred_run

    def log_stat(self, key: str, value: float, t: int) -> None:
        value = float(value)
        self.stats[key].append((t, value))
        if self._writer is not None:
            self._writer.add_scalar(key, value, t)
        if self._sacred_run is not None:
            self._sacred_run.log_scalar(key, value, t)

    def print_recent_stats(self) -> None:
        if "episode" not in self.stats:
            return
        t_env, episode = self.stats["episode"][-1]
        lines = [f"Recent Stats | t_env: {t_env:>10} | Episode: {int(episode):>8}"]
        cells = []
        for key in sorted(k for k in self.stats if k != "episode"):
            recent = [v for _, v in self.stats[key][-self.recent_window :]]
            cells.append(f"{key + ':':<25}{np.mean(recent):>10.4f}")
        for row in range(0, len(cells), 4):
            lines.append("    ".join(cells[row : row + 4]))
        self.console_logger.info("\n".join(lines))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def log_if_due(logger: Any, stats: dict[str, float], t_env: int, last_t: int, interval: int) -> int:
    """Log every entry of ``stats`` at ``t_env`` if ``interval`` env steps passed since ``last_t``;
    returns the step of the latest log (learners report their diagnostics this way)."""
    if t_env - last_t < interval:
        return last_t
    for key, value in stats.items():
        logger.log_stat(key, value, t_env)
    return t_env


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
