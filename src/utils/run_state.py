"""Whether a sacred run that says RUNNING still runs: the status the tools show, DEAD included.

A run killed with ``kill -9`` (or by the OOM killer, or with its machine) never tells sacred, so
its ``run.json`` says RUNNING for ever. ``search.py`` (which resumes dead runs) and
``plot_results.py`` (which lists them) read the status through :func:`run_state`, which never
writes to the run's files:

* On the host that ran it (``host.hostname``), if ``main.py`` recorded its process
  (``host.process``, written by :func:`process_identity` as sacred host info when the run
  starts): the run is dead when that process is gone. A process is its pid *and* its start time
  (so a recycled pid is not mistaken for the run) on this boot (``boot_id``; a reboot ends every
  run); an exited process not yet reaped (a zombie) is gone.
* Elsewhere, or for a run without that record (one of EPyMARL's): dead when its last heartbeat
  (sacred writes one every ``HEARTBEAT_SECONDS``; the start time before the first) is older than
  ``DEAD_AFTER_BEATS`` heartbeats. Clocks of different machines must roughly agree.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Mapping
from typing import Any

HEARTBEAT_SECONDS = 10.0  # sacred's SETTINGS.DEFAULT_BEAT_INTERVAL, which main.py leaves as it is
DEAD_AFTER_BEATS = 6  # heartbeats missed before a run elsewhere counts as dead
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The start time of living process ``pid`` in clock ticks since boot (None if there is none,
    or it is a zombie, or there is no ``/proc``)."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (command name) "; the name may hold spaces
    return None if fields[0] == "Z" else int(fields[19])


def process_identity() -> dict[str, Any]:
    """This process as :func:`run_state` recognises it later: ``{"pid", "start_ticks", "boot_id"}``
    (the last two null where there is no ``/proc``)."""
    boot_id = _read(BOOT_ID_PATH)
    return {"pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()),
            "boot_id": boot_id.strip() if boot_id else None}


def _process_gone(process: Mapping[str, Any]) -> bool | None:
    """Whether the recorded process no longer runs on this machine; None if that cannot be told here."""
    boot_id = _read(BOOT_ID_PATH)
    if boot_id is None or process.get("start_ticks") is None or process.get("boot_id") is None:
        return None
    if process["boot_id"] != boot_id.strip():
        return True  # this machine rebooted since
    return _start_ticks(int(process["pid"])) != process["start_ticks"]


def _utc(text: str) -> datetime.datetime:
    """sacred's timestamps: ``datetime.utcnow().isoformat()``, naive UTC."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


def last_sign_of_life(record: Mapping[str, Any]) -> datetime.datetime | None:
    """The run's last heartbeat, else its start time (UTC); None if ``run.json`` has neither."""
    stamp = record.get("heartbeat") or record.get("start_time")
    return _utc(stamp) if stamp else None


def is_dead(record: Mapping[str, Any], now: datetime.datetime | None = None) -> bool:
    """Whether a run whose ``run.json`` (``record``) says RUNNING has stopped without saying so."""
    host = record.get("host") or {}
    process = host.get("process")
    if isinstance(process, Mapping) and host.get("hostname") == socket.gethostname():
        gone = _process_gone(process)
        if gone is not None:
            return gone
    last = last_sign_of_life(record)
    if last is None:
        return False  # not a sacred run.json this module knows how to read
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - last).total_seconds() > DEAD_AFTER_BEATS * HEARTBEAT_SECONDS


def run_state(record: Mapping[str, Any], now: datetime.datetime | None = None) -> str:
    """The run's sacred status (COMPLETED, FAILED, INTERRUPTED, RUNNING, ...), or DEAD for a
    RUNNING run that :func:`is_dead`."""
    status = str(record.get("status"))
    return "DEAD" if status == "RUNNING" and is_dead(record, now) else status
