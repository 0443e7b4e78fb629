"""What every runner stores of a step's actions: the controller's actions and, when the scheme
stores them (``store_log_probs``), their behaviour log-probabilities (the sampler's log mu)."""

from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch
from components.interfaces import Controller


def act(mac: Controller, batch: EpisodeBatch, t: int, t_env: int, rows: slice | list[int],
        test_mode: bool) -> dict[str, torch.Tensor]:
    """``mac``'s actions for ``rows`` of ``batch`` at step ``t`` (and ``log_prob`` when stored),
    as the fields to write into the batch."""
    if "log_prob" not in batch.scheme:
        return {"actions": mac.select_actions(batch, t_ep=t, t_env=t_env, bs=rows, test_mode=test_mode)}
    actions, log_probs = mac.select_actions(batch, t_ep=t, t_env=t_env, bs=rows, test_mode=test_mode,
                                            return_log_probs=True)
    return {"actions": actions, "log_prob": log_probs}
