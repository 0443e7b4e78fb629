"""``utils.stop_signals``: inside ``handled()`` the first SIGINT/SIGTERM raises RunInterrupted
(held back inside ``deferred()``), a second one ends the process at once, an ignored signal stays
ignored, and the previous handlers are back afterwards.

Signals are sent to this process itself. The second-signal case exits the process, so it runs in
a child interpreter.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

import pytest

from utils.stop_signals import RunInterrupted, deferred, handled
from tests.support import processes

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def wait_for_handler() -> None:
    """Give the interpreter a few bytecodes to run a pending Python signal handler."""
    for _ in range(1000):
        time.sleep(0)


@pytest.fixture(autouse=True)
def foreground_signals():
    """As in a terminal's foreground job: a test run started in the background by a script (``cmd &``)
    inherits SIGINT ignored, which ``handled()`` rightly leaves ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_raises_a_keyboard_interrupt_with_the_exit_code(signum, code):
    before = signal.getsignal(signum)
    with handled():
        with pytest.raises(RunInterrupted) as caught:
            os.kill(os.getpid(), signum)
            wait_for_handler()
    assert isinstance(caught.value, KeyboardInterrupt)  # what sacred records as INTERRUPTED
    assert (caught.value.exit_code, caught.value.signal_name) == (code, signal.Signals(signum).name)
    assert signal.getsignal(signum) is before


def test_deferred_block_finishes_before_the_interrupt_is_raised():
    finished = False
    with handled(), pytest.raises(RunInterrupted):
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            wait_for_handler()
            finished = True  # not reached if the handler raised inside the block
    assert finished


def test_ignored_signal_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `cmd &` in a script starts it
    try:
        with handled():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, before)


SECOND_SIGNAL = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {src!r})
    from utils.stop_signals import deferred, handled

    with handled(), deferred():  # a long stop in progress
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(20)
    print("not reached")
    """
)


def test_second_signal_ends_the_process_at_once():
    started = time.monotonic()
    result = processes.run([sys.executable, "-c", SECOND_SIGNAL.format(src=SRC)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 143, result.stderr
    assert time.monotonic() - started < 10
    assert "not reached" not in result.stdout
    assert "SIGTERM again while stopping: exiting at once" in result.stderr
