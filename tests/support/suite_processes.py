"""A pytest plugin: the suite leaves no process behind, and its Ray sessions stay apart from others.

At start it gives this session a mark (``SUITE_MARK`` in the environment, inherited by every
process the tests start, directly or through ``main.py``, ``search.py`` or Ray) and a Ray temp dir
of its own (``RAY_TMPDIR``), so no test's Ray shares a directory with a user's cluster. At the end
it waits a little for marked processes to exit, then kills those still alive and fails the run,
naming each: a test that leaves a process behind is a bug even when every assertion passed.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.support.process_tree import kill_survivors
from tests.support.processes import SUITE_MARK, new_mark, wait_until_none_marked

GRACE_INI = "leftover_grace_seconds"
_state: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(GRACE_INI, "seconds that processes the tests started get to exit after the last test "
                  "before they count as left behind (Ray's workers exit shortly after its raylet)", default="30")


def pytest_configure(config: pytest.Config) -> None:
    _state["mark"] = os.environ[SUITE_MARK] = new_mark()
    # Short: Ray's socket paths under it must fit Unix's 107 characters.
    _state["ray_tmp"] = os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="lka-ray-", dir="/tmp")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "mark" not in _state:
        return
    grace = float(session.config.getini(GRACE_INI))
    left = wait_until_none_marked(_state["mark"], grace)
    kill_survivors(left)  # each re-checked by its start time, so a recycled pid is never hit
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"error: the tests left {len(left)} process(es) they started alive "
                 f"{grace:g} s after the last test (killed now):"]
        lines += [f"  pid {pid}: {command[:200]}" for (pid, _), command in sorted(left.items())]
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True)
            else:
                print(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(_state["ray_tmp"], ignore_errors=True)  # whatever used it is gone or killed by now
