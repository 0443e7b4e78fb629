"""The map from an env's global state to every agent's observation, as a torch batch op.

An env whose agents' observations are a fixed function of its global state publishes
an instance of ``StateToObservations`` in its env info (key ``"state_to_obs"``, see
``envs.gymma``), so that a model predicting states (e.g. a world model) can hand the
agents the observations they would see, without asking the env:

    obs = env_info["state_to_obs"](states)  # [..., state_dim] -> [..., n_agents, obs_dim]

The function is one gather from the state, extended by a constant 0 and a constant 1,
which yields each agent's selected state entries, its one-hot agent id (optional) and
the zero padding up to the longest observation; then, optionally, a per-vector z-score
over the agent's own entries (HARL's MaMuJoCo ``norm_obs``: subtract the vector's mean,
divide by its standard deviation; padding stays 0). ``zscore`` is the same z-score in
numpy, for envs computing it on their observations (all agents at once).

The object holds only index lists and flags, so it pickles (env info travels from
subprocess env workers by pickling); index tensors are built on first use on each
device and cached per instance.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

NORM_EPS = 1e-8
"""Floor on the standard deviation in a per-vector z-score: a constant vector maps to 0
instead of NaN. Far below any real spread, so other vectors match HARL's formula."""


def zscore(vectors: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
    """``(v - mean(v)) / max(std(v), eps)`` for every vector ``v`` along the last axis of a
    float64 array (one vector ``[dim]`` or a batch ``[n_vectors, dim]``); population std, as HARL.

    One vectorised pass for the whole batch, built from the same numpy reductions that
    ``v.mean()`` and ``v.std()`` use (a pairwise sum, then a division by ``dim``), so every
    row equals ``(v - v.mean()) / max(v.std(), eps)`` bit for bit, at a fraction of the
    call overhead of those methods on short vectors (they dominated the MaMuJoCo step).
    """
    dim = vectors.shape[-1]
    centred = vectors - (np.add.reduce(vectors, axis=-1) / dim)[..., None]
    std = np.sqrt(np.add.reduce(centred * centred, axis=-1) / dim)
    return centred / np.maximum(std, eps)[..., None]


class StateToObservations:
    """``state [..., state_dim] -> observations [..., n_agents, obs_dim]``.

    Agent ``i``'s observation is ``state[..., state_indices[i]]``, followed by the one-hot
    of ``i`` over ``n_agents`` entries when ``agent_id``, z-scored over those entries when
    ``norm_obs``, then zero-padded to ``obs_dim`` (the longest agent observation).

    Args:
        state_indices: per agent, the state entries it observes, in order.
        state_dim: length of the state vector.
        agent_id: append the one-hot agent id.
        norm_obs: z-score each agent's observation vector (see ``zscore``).
        exact: whether the map reproduces the env's observations on every state (up to
            float32 rounding of the z-score); False when it is known or found to differ on
            some states (e.g. a value the env clips in one and not the other).
        eps: floor on the standard deviation of the z-score.

    Attributes:
        n_agents, obs_dim, state_dim, agent_id, norm_obs, exact, eps: as above.
        obs_sizes: per agent, its observation length before padding.
    """

    def __init__(
        self,
        state_indices: Sequence[Sequence[int]],
        state_dim: int,
        *,
        agent_id: bool,
        norm_obs: bool,
        exact: bool,
        eps: float = NORM_EPS,
    ) -> None:
        self.state_dim = int(state_dim)
        self.n_agents = len(state_indices)
        self.agent_id = bool(agent_id)
        self.norm_obs = bool(norm_obs)
        self.exact = bool(exact)
        self.eps = float(eps)
        if self.n_agents == 0:
            raise ValueError("StateToObservations needs at least one agent.")
        # Positions of the two constants appended to the state before the gather.
        zero, one = self.state_dim, self.state_dim + 1
        rows: list[list[int]] = []
        for i, indices in enumerate(state_indices):
            row = [int(j) for j in indices]
            if any(not 0 <= j < self.state_dim for j in row):
                raise ValueError(f"agent {i}'s state indices {row} leave [0, {self.state_dim}).")
            if self.agent_id:
                row += [one if j == i else zero for j in range(self.n_agents)]
            rows.append(row)
        self.obs_sizes = [len(row) for row in rows]
        self.obs_dim = max(self.obs_sizes)
        self._gather_rows = [row + [zero] * (self.obs_dim - len(row)) for row in rows]
        self._device_cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gather index [n_agents * obs_dim], valid mask [n_agents, obs_dim])`` on ``device``."""
        tables = self._device_cache.get(device)
        if tables is None:
            index = torch.tensor(self._gather_rows, dtype=torch.long, device=device).reshape(-1)
            sizes = torch.tensor(self.obs_sizes, device=device)
            valid = torch.arange(self.obs_dim, device=device) < sizes[:, None]
            tables = self._device_cache[device] = (index, valid)
        return tables

    def __call__(self, state: torch.Tensor) -> torch.Tensor:
        """Observations ``[..., n_agents, obs_dim]`` of states ``[..., state_dim]`` (any float
        dtype and device; the result has the state's dtype and device)."""
        if state.shape[-1:] != (self.state_dim,):
            raise ValueError(
                f"StateToObservations expects states of shape [..., {self.state_dim}], got {list(state.shape)}."
            )
        index, valid = self._tables(state.device)
        constants = torch.tensor([0.0, 1.0], dtype=state.dtype, device=state.device)
        extended = torch.cat([state, constants.expand(*state.shape[:-1], 2)], dim=-1)  # [..., state_dim + 2]
        obs = extended.index_select(-1, index).unflatten(-1, (self.n_agents, self.obs_dim))
        if not self.norm_obs:
            return obs
        mask = valid.to(state.dtype)  # [n_agents, obs_dim]
        count = mask.sum(-1, keepdim=True)  # [n_agents, 1]
        mean = obs.sum(-1, keepdim=True) / count  # padded entries are 0
        centred = (obs - mean) * mask
        std = (centred.square().sum(-1, keepdim=True) / count).sqrt()
        return centred / std.clamp_min(self.eps)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the per-device tensor cache (it may hold CUDA tensors)."""
        state = self.__dict__.copy()
        state["_device_cache"] = {}
        return state

    def __repr__(self) -> str:
        return (
            f"StateToObservations(state_dim={self.state_dim}, n_agents={self.n_agents}, obs_dim={self.obs_dim}, "
            f"agent_id={self.agent_id}, norm_obs={self.norm_obs}, exact={self.exact})"
        )
