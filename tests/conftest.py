"""Put ``src/`` on sys.path so tests import modules as the code does (``import envs``), and check
that the suite leaves no process behind (tests/support/suite_processes.py)."""

import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from tests.support import processes  # noqa: E402
from tests.support.suite_processes import (  # noqa: E402,F401  (the plugin's hooks)
    pytest_addoption, pytest_configure, pytest_sessionfinish)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As runs do (``torch_threads: 1``): tiny networks are slower, not faster, on several threads."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def launch():
    """``processes.start`` for one test: each process it starts (its whole process group) is killed
    when the test ends, passed or failed."""
    launched = []

    def start(command, **kwargs):
        process = processes.start(command, **kwargs)
        launched.append(process)
        return process

    yield start
    for process in launched:
        processes.stop(process)
