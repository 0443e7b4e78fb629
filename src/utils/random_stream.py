"""A torch random stream of its own: code run inside it draws no number from the run's stream.

Lookahead's extra parts (the model's mini-batches, the imagined start states and actions, the
lookahead update's shuffles) run in one, so until the first imagined update changes the sampling
policy a Lookahead run is its base learner's run number for number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class RandomStream:
    """The CPU's and the given CUDA devices' torch generator states, seeded with ``seed`` apart from
    the global ones, swapped in by :meth:`active` and kept between uses."""

    def __init__(self, seed: int, cuda_devices: list[int]) -> None:
        self.cuda_devices = cuda_devices
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            self._state = self._capture()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the block on this stream; the global streams come back exactly as they were."""
        with torch.random.fork_rng(devices=self.cuda_devices):
            torch.random.set_rng_state(self._state["cpu"])
            for device, state in zip(self.cuda_devices, self._state["cuda"]):
                torch.cuda.set_rng_state(state, device)
            try:
                yield
            finally:
                self._state = self._capture()

    def _capture(self) -> dict:
        return {"cpu": torch.random.get_rng_state(), "cuda": [torch.cuda.get_rng_state(d) for d in self.cuda_devices]}
