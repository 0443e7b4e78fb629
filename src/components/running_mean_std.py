"""Running mean and variance of a stream of tensors (Chan et al.'s parallel update)."""

from __future__ import annotations

import torch


class RunningMeanStd:
    """Tracks the mean and variance over all leading dimensions of the tensors passed to ``update``."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4, device: str | torch.device = "cpu") -> None:
        self.mean = torch.zeros(shape, dtype=torch.float32, device=device)
        self.var = torch.ones(shape, dtype=torch.float32, device=device)
        self.count = epsilon

    def update(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Fold in the samples of ``x`` (``[..., *shape]``); rows where ``mask == 0`` are ignored."""
        x = x.reshape(-1, *self.mean.shape)
        if mask is not None:
            x = x[mask.reshape(x.shape[0], -1)[:, 0] > 0]
        if x.shape[0] == 0:
            return
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        self.var = (self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total) / total
        self.count = total

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / torch.sqrt(self.var + 1e-8)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sqrt(self.var + 1e-8) + self.mean

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"].to(self.mean.device), state["var"].to(self.var.device), state["count"]
