"""A child process that dies with its parent: Linux's parent-death signal (``prctl``).

Used where a process starts another that must not outlive it however it ends (kill -9 included):
``search.py``'s trial starts the run, and the tests start runs, sweeps and Ray nodes. Call
``die_with_parent(parent)`` in the child between fork and exec (``subprocess.Popen``'s
``preexec_fn``); the signal survives the exec. It fires when the *thread* that forked the child
exits, so fork from a thread that lives as long as the parent (the main thread). Elsewhere than
Linux it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
# Resolved once, before any fork: the child between fork and exec should only call it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """In the child: receive ``signum`` when the parent (pid ``parent``) dies; exit at once if it
    died before the signal was armed (the child has been re-parented by then)."""
    if _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:
        os._exit(1)
