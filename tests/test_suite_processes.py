"""The suite's own process discipline (tests/support/processes.py, suite_processes.py): what a test
starts dies with it, is killed when it ends, and the suite fails if anything it started outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.process_tree import identify, kill_survivors, requires_proc, wait_until_gone

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

# A parent that starts ``sleep`` through ``processes.start`` (its own session, so only the
# parent-death signal can take it down), prints the sleeper's pid and waits.
PARENT = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}, {src!r}]
    from tests.support import processes
    child = processes.start(["sleep", "300"])
    print(child.pid, flush=True)
    time.sleep(300)
    """
)


@requires_proc
def test_a_started_process_dies_when_its_parent_is_killed():
    with processes.started([sys.executable, "-c", PARENT.format(repo=str(REPO), src=str(SRC))],
                           stdout=subprocess.PIPE, text=True) as parent:
        sleeper = {identify(int(parent.stdout.readline())): "sleep"}
        try:
            os.kill(parent.pid, signal.SIGKILL)  # the parent only: the sleeper is in a session of its own
            parent.wait(timeout=10)
            assert not wait_until_gone(sleeper, 5.0), "the child outlived its killed parent"
        finally:
            kill_survivors(sleeper)
            parent.stdout.close()


@requires_proc
def test_run_kills_the_whole_group_on_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    shell = f"sleep 300 & echo $! > {pid_file}; wait"  # subprocess.run would kill only the shell
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run(["sh", "-c", shell], timeout=2)
    pid = int(pid_file.read_text())
    sleeper = {key: command for key, command in processes.marked(os.environ[processes.SUITE_MARK]).items()
               if key[0] == pid}
    # SIGKILL is delivered asynchronously: a sleeper caught mid-exit is still listed for a moment
    left = wait_until_gone(sleeper, 5.0)
    kill_survivors(left)
    assert not left, f"left alive after the timeout: {left}"


SLEEPER_MAIN = "import time\ntime.sleep(300)\n"


@requires_proc
def test_a_sweep_trials_run_dies_with_its_trial(tmp_path):
    """``search.run_trial`` (what a Ray worker runs) killed with -9: its ``main.py`` dies too."""
    main_path = tmp_path / "main.py"
    main_path.write_text(SLEEPER_MAIN)
    trial = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SRC)!r})
        import search
        search.run_trial([], {str(main_path)!r}, {str(tmp_path / "logs")!r}, "trial")
        """
    )
    with processes.started([sys.executable, "-c", trial]) as process:
        deadline = time.monotonic() + 60
        while not (runs := {key: c for key, c in processes.marked(os.environ[processes.SUITE_MARK]).items()
                            if c == f"{sys.executable} {main_path}"}):
            assert process.poll() is None and time.monotonic() < deadline, "the trial never started its run"
            time.sleep(0.1)
        try:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            assert not wait_until_gone(runs, 5.0), "the run outlived its killed trial"
        finally:
            kill_survivors(runs)


LEAKY_TEST = textwrap.dedent(
    """
    import subprocess

    def test_leaks():
        subprocess.Popen(["sleep", "300"])

    def test_clean():
        subprocess.run(["true"])
    """
)


@requires_proc
@pytest.mark.parametrize("select, code", [("test_leaks", 1), ("test_clean", 0)])
def test_the_suite_fails_when_a_test_leaves_a_process_behind(tmp_path, select, code):
    """An inner pytest session with the plugin: a test that leaves ``sleep`` running passes, but the
    session fails naming it, and it is dead afterwards; a clean session passes."""
    (tmp_path / "test_inner.py").write_text(LEAKY_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nleftover_grace_seconds = 1\n")
    result = processes.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.suite_processes",
                            "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
                            f"{tmp_path / 'test_inner.py'}::{select}"],
                           cwd=REPO, env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True,
                           timeout=120)
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    leaked = "error: the tests left 1 process(es) they started alive" in result.stdout
    assert leaked == (code == 1), result.stdout[-3000:]
    if leaked:
        assert "sleep 300" in result.stdout
        pid = int(result.stdout.split("pid ")[1].split(":")[0])
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
