"""Statistics over the valid entries of padded tensors: ``mask`` is 1 where an entry is real data
(a filled transition of an agent), 0 in padding, broadcastable to the values."""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over the entries ``mask`` marks valid (0 when there are none)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def standardise(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` over the valid entries; padded entries stay 0."""
    mean = masked_mean(x, mask)
    std = torch.sqrt(masked_mean((x - mean) ** 2, mask))
    return (x - mean) / (std + 1e-5) * mask
