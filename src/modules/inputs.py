"""Input features shared by agents and critics, computed for all time steps at once."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from components.episode_buffer import EpisodeBatch


def action_feature_key(scheme: Mapping[str, Any]) -> str:
    """Discrete actions feed networks as one-hot vectors; continuous ones as their raw values."""
    return "actions_onehot" if "actions_onehot" in scheme else "actions"


def action_feature_size(scheme: Mapping[str, Any]) -> int:
    vshape = scheme[action_feature_key(scheme)]["vshape"]
    return int(vshape if isinstance(vshape, int) else vshape[0])


def last_actions(batch: EpisodeBatch, ts: slice) -> torch.Tensor:
    """Each agent's previous action features ``[B, len(ts), n_agents, dim]`` (zeros at t=0)."""
    actions = batch[action_feature_key(batch.scheme)]
    start = ts.start or 0
    stop = batch.max_seq_length if ts.stop is None else ts.stop
    previous = actions[:, max(start - 1, 0) : max(stop - 1, 0)]
    if start == 0:
        previous = torch.cat([torch.zeros_like(actions[:, :1]), previous], dim=1)
    return previous


def agent_ids(batch_size: int, n_steps: int, n_agents: int, device: torch.device) -> torch.Tensor:
    """One-hot agent identities ``[B, T, n_agents, n_agents]`` (an expanded view, no copy)."""
    return torch.eye(n_agents, device=device).expand(batch_size, n_steps, n_agents, n_agents)


def steps_of(t: int | slice | None) -> slice:
    """The stored steps a network reads: step ``t``, the steps of a slice ``t``, or all (``None``)."""
    if isinstance(t, slice):
        return t
    return slice(None) if t is None else slice(t, t + 1)
