"""Put ``src/`` on sys.path so tests import modules as the code does (``import envs``)."""

import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As runs do (``torch_threads: 1``): tiny networks are slower, not faster, on several threads."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
