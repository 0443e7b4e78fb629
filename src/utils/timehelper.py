"""Human-readable durations, the run loop's estimate of the time left, and timing a block."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch


def time_str(seconds: float) -> str:
    """``3725`` -> ``"1 hours, 2 minutes, 5 seconds"`` (days shown only when non-zero)."""
    seconds = int(max(seconds, 0))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{hours} hours, {minutes} minutes, {seconds} seconds"
    return f"{days} days, {text}" if days else text


def time_left(start_time: float, t_start: int, t_current: int, t_max: int) -> str:
    """Linear extrapolation of the wall time still needed to reach ``t_max`` env steps."""
    if t_current <= t_start:
        return "-"
    rate = (time.time() - start_time) / (t_current - t_start)
    return time_str(rate * (t_max - t_current))


@contextlib.contextmanager
def timed(stats: dict[str, float], key: str) -> Iterator[None]:
    """Record the block's wall time in seconds as ``stats[key]``. Where CUDA is in use, the GPU's
    queue is drained at both ends (two waits per block), so the time holds the block's own kernels
    rather than some of the block before it."""
    _drain_gpu_queue()
    started = time.perf_counter()
    try:
        yield
    finally:
        _drain_gpu_queue()
        stats[key] = time.perf_counter() - started


def _drain_gpu_queue() -> None:
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
