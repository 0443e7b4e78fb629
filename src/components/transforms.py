"""Field transforms applied by :class:`EpisodeBatch` when a preprocessed field is written."""

from __future__ import annotations

import torch


class OneHot:
    """Integer indices ``[..., 1]`` -> one-hot floats ``[..., out_dim]`` (derives ``actions_onehot``)."""

    def __init__(self, out_dim: int) -> None:
        self.out_dim = out_dim

    def transform(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(indices.squeeze(-1).long(), self.out_dim).float()

    def infer_output_info(self, vshape: tuple[int, ...] | int, dtype: torch.dtype) -> tuple[tuple[int], torch.dtype]:
        return (self.out_dim,), torch.float32
