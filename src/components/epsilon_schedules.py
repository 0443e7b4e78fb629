"""Exploration schedules for the value-based action selectors."""

from __future__ import annotations


class LinearDecaySchedule:
    """Linear decay from ``start`` to ``finish`` over ``anneal_time`` env steps, then flat."""

    def __init__(self, start: float, finish: float, anneal_time: int) -> None:
        self.start, self.finish, self.anneal_time = start, finish, max(anneal_time, 1)

    def eval(self, t_env: int) -> float:
        progress = min(t_env / self.anneal_time, 1.0)
        return self.start + progress * (self.finish - self.start)
