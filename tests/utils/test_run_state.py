"""utils/run_state.py: a RUNNING run whose process is gone is DEAD, told by the process it recorded
(on its own host) or by its heartbeat (elsewhere); other statuses are as sacred wrote them."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.process_tree import requires_proc
from utils.run_state import DEAD_AFTER_BEATS, HEARTBEAT_SECONDS, run_state

SRC = str(Path(__file__).resolve().parents[2] / "src")
NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
# A child that prints its process identity as main.py records it, then waits.
CHILD = "import json, sys, time; from utils.run_state import process_identity; " \
        "print(json.dumps(process_identity()), flush=True); time.sleep(300)"


def record(process: dict | None = None, hostname: str | None = None, heartbeat_age: float | None = None,
           status: str = "RUNNING") -> dict:
    """A run.json as sacred writes it (naive UTC timestamps), started an hour before NOW."""
    started = (NOW - datetime.timedelta(hours=1)).replace(tzinfo=None)
    host = {"hostname": hostname or socket.gethostname(), **({"process": process} if process else {})}
    beat = None if heartbeat_age is None else (NOW - datetime.timedelta(seconds=heartbeat_age)).replace(tzinfo=None)
    return {"status": status, "host": host, "start_time": started.isoformat(),
            "heartbeat": beat.isoformat() if beat else None}


@requires_proc
def test_a_run_on_this_host_is_dead_once_its_process_is_gone():
    env = {**os.environ, "PYTHONPATH": SRC}
    with processes.started([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env) as child:
        identity = json.loads(child.stdout.readline())
        assert identity["pid"] == child.pid and identity["start_ticks"] and identity["boot_id"]
        # Its heartbeat is an hour old, yet it runs: on its own host the process decides.
        assert run_state(record(identity, heartbeat_age=3600), NOW) == "RUNNING"
        recycled = {**identity, "start_ticks": identity["start_ticks"] - 1}  # same pid, another process
        assert run_state(record(recycled), NOW) == "DEAD"
        rebooted = {**identity, "boot_id": "another boot"}
        assert run_state(record(rebooted), NOW) == "DEAD"
        child.kill()
        child.wait()
    assert run_state(record(identity, heartbeat_age=0), NOW) == "DEAD"  # a fresh heartbeat does not save it


@pytest.mark.parametrize("age, state", [(None, "DEAD"), (0, "RUNNING"),
                                        (DEAD_AFTER_BEATS * HEARTBEAT_SECONDS - 1, "RUNNING"),
                                        (DEAD_AFTER_BEATS * HEARTBEAT_SECONDS + 1, "DEAD")])
def test_a_run_elsewhere_is_dead_when_its_heartbeat_is_stale(age, state):
    """On another host (or with no process recorded) the last heartbeat decides, else the start time."""
    elsewhere = {"pid": 1, "start_ticks": 1, "boot_id": "x"}
    assert run_state(record(elsewhere, hostname="another-host", heartbeat_age=age), NOW) == state
    assert run_state(record(None, heartbeat_age=age), NOW) == state  # no process recorded (an EPyMARL run)


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "INTERRUPTED", "QUEUED"])
def test_other_statuses_are_left_as_they_are(status):
    assert run_state(record(None, heartbeat_age=3600, status=status), NOW) == status
