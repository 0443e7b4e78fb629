"""Processes a test starts: each one dies with the test process and is killed when the test ends.

A child started here gets a session (and so a process group) of its own, holding its whole tree
unless a descendant leaves it, and on Linux the parent-death signal SIGKILL, so a test process that
dies abruptly (kill -9, a library calling ``os._exit``) takes it down too; its grandchildren follow
by their own means (``main.py``'s env workers watch their parent, Ray's processes have a reaper).
``started`` and ``run`` kill the group in a ``finally``, so an ordinary failure leaves nothing.

Every process the suite starts, directly or not, inherits the environment variable ``SUITE_MARK``
that tests/conftest.py sets once per session; ``marked`` finds them from ``/proc`` so the suite can
check at its end that none is alive, and never looks at a process of anyone else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tests.support.process_tree import ProcessId, alive
from utils.parent_death import die_with_parent

SUITE_MARK = "LOOKAHEAD_TEST_SUITE"


def new_mark() -> str:
    """A value of ``SUITE_MARK`` that no other session uses."""
    return uuid.uuid4().hex


def _child_setup(parent: int, then: Callable[[], None] | None) -> Callable[[], None]:
    """The ``preexec_fn``: SIGKILL when the parent dies (and at once if it already has), then ``then``."""

    def setup() -> None:
        die_with_parent(parent)
        if then is not None:
            then()

    return setup


def start(command: Sequence[str], *, preexec: Callable[[], None] | None = None, **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen(command)`` in a session of its own that dies with this process.

    ``preexec`` runs in the child after the parent-death signal is set (e.g. to reset SIGINT).
    Pair it with ``stop`` in a ``finally``, or use ``started``.
    """
    return subprocess.Popen(list(command), start_new_session=True, preexec_fn=_child_setup(os.getpid(), preexec),
                            **popen)


def stop(process: subprocess.Popen, grace: float = 0.0) -> None:
    """Kill ``process``'s process group (SIGTERM first when ``grace`` > 0, then SIGKILL) and reap it.

    Only the group that ``start`` created for it is signalled, and only while ``process`` has not
    been reaped, so its pid (= the group id) cannot belong to anyone else.
    """
    if process.returncode is None and process.poll() is None and grace > 0:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.returncode is None:
        # While the leader is unreaped (even a zombie) its pid cannot be reused by another group.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    else:
        _signal_group(process.pid, signal.SIGKILL)  # descendants left in the group after the leader exited


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


@contextlib.contextmanager
def started(command: Sequence[str], *, grace: float = 0.0, **kwargs: Any) -> Iterator[subprocess.Popen]:
    """``start(command)``, and ``stop`` on the way out, whatever happens in between."""
    process = start(command, **kwargs)
    try:
        yield process
    finally:
        stop(process, grace=grace)


def run(command: Sequence[str], *, timeout: float, check: bool = False, capture_output: bool = False,
        **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run``, with the child started by ``start``; its whole group is killed when it
    ends, times out or the test fails (``subprocess.run`` itself kills the child only)."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with started(command, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            raise
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result


def marked(mark: str) -> dict[ProcessId, str]:
    """Living processes (other than this one) whose environment holds ``SUITE_MARK=mark`` -> command line."""
    needle = f"{SUITE_MARK}={mark}".encode()
    found: dict[ProcessId, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            found[(int(entry), int(fields[19]))] = command
    return alive(found)


def wait_until_none_marked(mark: str, seconds: float) -> dict[ProcessId, str]:
    """Poll until no process carries ``mark`` or ``seconds`` pass; the ones still alive."""
    deadline = time.monotonic() + seconds
    while (living := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return living
