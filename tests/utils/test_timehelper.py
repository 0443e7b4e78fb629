"""utils/timehelper.py: durations as text, the time-left estimate, and ``timed`` (with the GPU's
queue drained at both ends where CUDA is in use, faked here on the CPU)."""

from __future__ import annotations

import time

import pytest
import torch

from utils.timehelper import time_left, time_str, timed


def test_time_str_and_time_left():
    assert time_str(3725) == "1 hours, 2 minutes, 5 seconds"
    assert time_str(90061) == "1 days, 1 hours, 1 minutes, 1 seconds"
    assert time_left(time.time(), 100, 100, 1000) == "-"
    assert time_left(time.time() - 10, 0, 100, 1100) in {"0 hours, 1 minutes, 40 seconds", "0 hours, 1 minutes, 41 seconds"}


def test_timed_records_the_block_even_when_it_raises():
    stats: dict[str, float] = {}
    with pytest.raises(ValueError), timed(stats, "time_block"):
        time.sleep(0.05)
        raise ValueError("the block failed")
    assert 0.05 <= stats["time_block"] < 1.0


def test_timed_drains_the_gpu_queue_at_both_ends_where_cuda_is_in_use(monkeypatch):
    """Kernels are queued, not run, when a GPU block returns: without a wait at its end the block's
    time would hold only the launches, and the next block's would hold the rest."""
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: events.append("drain"))
    stats: dict[str, float] = {}
    with timed(stats, "time_block"):
        events.append("block")
    assert events == ["drain", "block", "drain"]
    assert "time_block" in stats


def test_timed_does_not_touch_cuda_where_it_is_not_in_use(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: pytest.fail("synchronised without CUDA"))
    with timed({}, "time_block"):
        pass
