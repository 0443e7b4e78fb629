"""Which processes a run spawned, and whether any is still alive, read from Linux's ``/proc``.

A process is identified by ``(pid, start time)`` so a recycled pid is never mistaken for the
original; a zombie (exited, not yet reaped by whoever adopted it) counts as gone. Tests snapshot
the tree while the run is alive, because once the main process dies its children are re-parented
and can no longer be found by walking down from it.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

ProcessId = tuple[int, int]  # (pid, start time in clock ticks since boot)

requires_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.isdir("/proc"), reason="reads the process tree from /proc"
)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, parent pid, start time)`` of ``pid``, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (command name) "; the name may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def identify(pid: int) -> ProcessId:
    """``(pid, start time)`` of the living process ``pid``."""
    stat = _stat(pid)
    assert stat is not None, f"no process {pid}"
    return pid, stat[2]


def parent_of(pid: int) -> int:
    """The parent pid of the living process ``pid``."""
    stat = _stat(pid)
    assert stat is not None, f"no process {pid}"
    return stat[1]


def descendants(pid: int) -> dict[ProcessId, str]:
    """Every living process below ``pid`` (children, grandchildren, ...) -> its command line."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[1], []).append(int(entry))
    found: dict[ProcessId, str] = {}
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        stat = _stat(child)
        if stat is None or stat[0] == "Z":
            continue
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except FileNotFoundError:
            continue
        found[(child, stat[2])] = command
        stack.extend(children.get(child, []))
    return found


def alive(processes: dict[ProcessId, str]) -> dict[ProcessId, str]:
    """Those of ``processes`` still running (same pid and start time, not a zombie)."""
    living = {}
    for (pid, started), command in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == started:
            living[(pid, started)] = command
    return living


def wait_until_gone(processes: dict[ProcessId, str], seconds: float) -> dict[ProcessId, str]:
    """Poll until none of ``processes`` is alive or ``seconds`` pass; the ones still alive."""
    deadline = time.monotonic() + seconds
    while (living := alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return living


def kill_survivors(processes: dict[ProcessId, str]) -> None:
    """SIGKILL those of ``processes`` still alive: a failed test must not leave them behind."""
    for pid, _ in alive(processes):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
