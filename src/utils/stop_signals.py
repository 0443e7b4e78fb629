"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (schedulers, Ray, Kubernetes, ``timeout``) alike.

The first signal raises :class:`RunInterrupted` in the main thread. It is a ``KeyboardInterrupt``,
so everything that already unwinds cleanly on Ctrl-C does so on SIGTERM too: the training loop
writes its last logs (and a checkpoint), the runner closes its env workers, sacred records the run
as INTERRUPTED and stops its output capture, and ``main`` exits with ``128 + signal number``
(130 for SIGINT, 143 for SIGTERM, the shell's convention). Inside :func:`deferred` (a learner update)
the exception waits until the block ends, so a final checkpoint never holds a half-applied update.

A second signal while stopping ends the process at once (``os._exit``); env workers notice the
parent's death by themselves (see ``runners.env_pool``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run was asked to stop by ``signum``; ``exit_code`` is what the process should return."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.signal_name}")


class _StopState:
    """What the handler has seen: the first stop signal, and whether it must wait for a block to end."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.signum: int | None = None  # the first stop signal received
        self.raised = False  # RunInterrupted was raised for it
        self.deferring = 0  # depth of nested ``deferred()`` blocks


_state = _StopState()


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    if _state.signum is not None:  # a second signal: the user (or scheduler) does not want to wait
        os.write(2, f"\n{signal.Signals(signum).name} again while stopping: exiting at once\n".encode())
        os._exit(128 + signum)
    _state.signum = signum
    if not _state.deferring:
        _state.raised = True
        raise RunInterrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described in the module docstring inside the block (main thread
    only); the previous handlers are back afterwards. A signal the process was started with ignored
    (``nohup``, ``cmd &`` in a script) stays ignored."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _state.clear()
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _on_stop_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        _state.clear()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold back the first stop signal until the block ends, then raise :class:`RunInterrupted`.

    For short steps whose half-done state must not be saved (a learner's update). A second signal
    still ends the process at once.
    """
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    if not _state.deferring and _state.signum is not None and not _state.raised:
        _state.raised = True
        raise RunInterrupted(_state.signum)
