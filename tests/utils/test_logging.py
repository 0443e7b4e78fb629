"""``utils.logging.Logger``: every ``log_stat`` reaches TensorBoard, sacred and the console summary."""

from __future__ import annotations

import logging
import math

import pytest

from tests.integration.helpers import read_tensorboard
from utils.logging import Logger


class FakeSacredRun:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def log_scalar(self, key: str, value: float, t: int) -> None:
        self.scalars.append((key, value, t))


LOGGED = [("return_mean", 1.5, 0), ("pg_loss", -0.25, 0), ("return_mean", 2.5, 100), ("pg_loss", 0.75, 100),
          ("return_mean", 3.0, 250)]


def test_log_stat_writes_every_scalar_to_tensorboard_and_sacred(tmp_path):
    logger = Logger(logging.getLogger("test-logging"))
    sacred = FakeSacredRun()
    logger.setup_sacred(sacred)
    logger.setup_tb(str(tmp_path))
    for key, value, t in LOGGED:
        logger.log_stat(key, value, t)
    logger.close()

    scalars = read_tensorboard(str(tmp_path))
    assert scalars == {
        "return_mean": [(0, 1.5), (100, 2.5), (250, 3.0)],
        "pg_loss": [(0, -0.25), (100, 0.75)],
    }
    assert sacred.scalars == LOGGED
    assert list(logger.stats["return_mean"]) == [(0, 1.5), (100, 2.5), (250, 3.0)]


def test_a_long_run_keeps_only_the_recent_values():
    logger = Logger(logging.getLogger("test-logging-bounded"))
    for t in range(0, 100_000, 100):
        logger.log_stat("return_mean", float(t), t)
    assert list(logger.stats["return_mean"]) == [(t, float(t)) for t in range(99_500, 100_000, 100)]


def test_recent_stats_print_the_mean_of_the_last_values(caplog):
    console = logging.getLogger("test-logging-console")
    console.setLevel(logging.INFO)
    logger = Logger(console)
    for t, value in enumerate([100.0, 1.0, 2.0, 3.0, 4.0, 5.0]):  # the first value is outside the window
        logger.log_stat("return_mean", value, t)
    logger.log_stat("episode", 42, 5)
    with caplog.at_level(logging.INFO, logger="test-logging-console"):
        logger.print_recent_stats()
    (message,) = [r.getMessage() for r in caplog.records]
    assert "t_env:          5" in message and "Episode:       42" in message
    line = next(line for line in message.splitlines() if "return_mean" in line)
    assert float(line.split("return_mean:")[1].split()[0]) == pytest.approx(3.0)
    assert math.isfinite(float(line.split()[-1]))
