"""An isolated Ray cluster of two nodes on this machine, for tests: its own temp dir and ports,
each node one ``ray start --block`` process started through ``tests.support.processes``."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support import processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_text(path: Path, text: str, process: subprocess.Popen, seconds: float) -> None:
    """Until ``text`` is in the file ``path`` that ``process`` writes; fails if it exits first."""
    deadline = time.monotonic() + seconds
    while text not in path.read_text():
        assert process.poll() is None and time.monotonic() < deadline, path.read_text()[-3000:]
        time.sleep(0.2)


@contextlib.contextmanager
def two_node_cluster(logs: Path) -> Iterator[tuple[str, dict, str, list[subprocess.Popen]]]:
    """A head and one worker node, 1 CPU each, isolated from every other Ray; yields ``(address,
    env, temp dir, [head, worker])`` (the ``ray start --block`` processes, whose reapers take each
    node's processes down with them). On the way out exactly those two process groups are killed
    (never ``ray stop``, which stops every Ray on the machine, the suite's own session included)."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    # Short: Ray's socket paths under it must fit Unix's 107 characters.
    temp_dir = tempfile.mkdtemp(prefix="c", dir=os.environ.get("RAY_TMPDIR", "/tmp"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": temp_dir}  # a throw-away cluster needs no token
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--block"]
    commands = [["--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false"],
                [f"--address={address}"]]
    nodes: list[subprocess.Popen] = []
    try:
        for name, options in zip(("head", "worker"), commands):
            log_path = logs / f"{name}.log"
            with open(log_path, "w") as log:
                nodes.append(processes.start([ray_cli, "start", *options, *common], env=env, stdout=log,
                                             stderr=subprocess.STDOUT))
            wait_for_text(log_path, "Ray runtime started", nodes[-1], 120)
        yield address, env, temp_dir, nodes
    finally:
        for node in reversed(nodes):
            processes.stop(node, grace=20)
