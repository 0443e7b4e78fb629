"""Episode-major storage of multi-agent trajectories.

An :class:`EpisodeBatch` holds, for ``batch_size`` episodes of up to ``max_seq_length`` steps, one
tensor per *field* of a *scheme*:

* transition fields: ``[batch, time, (group,) *vshape]`` (e.g. ``obs``: ``[B, T, n_agents, obs_dim]``)
* episode-constant fields (``episode_const=True``): ``[batch, (group,) *vshape]``

A scheme entry is ``{"vshape": int | tuple, "dtype": torch.dtype, "group": "agents"?,
"episode_const": bool?}``. ``groups`` maps a group name to its size (``{"agents": n_agents}``).
The field ``filled`` (``[B, T, 1]``, long) is always present and marks valid *transitions*.

Time convention: an episode of length ``L`` fills transition indices ``0..L-1`` and stores the
final observation/state (for bootstrapping) at index ``L`` without marking it filled. So
``max_seq_length = episode_limit + 1``.

``preprocess`` derives fields on every update, e.g.
``{"actions": ("actions_onehot", [OneHot(n_actions)])}``. Nothing here assumes integer actions:
a continuous action field is a float field with ``vshape=(action_dim,)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

Index = int | slice | Sequence[int] | torch.Tensor


def _as_slice(index: Index, size: int) -> slice | torch.Tensor:
    """Normalise an index along one axis so that indexing keeps that axis."""
    if isinstance(index, int):
        index = index % size  # -1 is the last episode / step
        return slice(index, index + 1)
    if isinstance(index, slice):
        return index
    return torch.as_tensor(index, dtype=torch.long)


def _as_write_index(index: Index, size: int) -> slice | torch.Tensor:
    """``_as_slice`` for writes, where a list of consecutive non-negative ids (a runner's active
    envs, usually all of them) becomes a slice: basic indexing skips building an index tensor."""
    if isinstance(index, list) and index and index[0] >= 0 and index == list(range(index[0], index[0] + len(index))):
        return slice(index[0], index[0] + len(index))
    return _as_slice(index, size)


def _axis_len(index: slice | torch.Tensor, size: int) -> int:
    if isinstance(index, slice):
        return len(range(*index.indices(size)))
    return int(index.numel())


class _PickedOnRead(Mapping[str, torch.Tensor]):
    """The transition fields of :meth:`EpisodeBatch.transitions`: each field is picked from its
    source tensor when it is first read, then kept. A mini-batch's step reads only some fields (an
    actor's step its observations and actions, the critic's the state); picking every field for each
    mini-batch made Lookahead's imagined update (80,000 transitions in 10 mini-batches) 1.2x slower.
    The sources are read as they are then: the learners do not write to the batch they train on."""

    def __init__(self, sources: Mapping[str, torch.Tensor], episodes: torch.Tensor, steps: torch.Tensor) -> None:
        self._sources, self._episodes, self._steps = sources, episodes, steps
        self._picked: dict[str, torch.Tensor] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._picked:
            picked = self._sources[name][self._episodes, self._steps].unsqueeze(1)  # KeyError for an unknown field
            self._picked[name] = torch.cat([picked, torch.zeros_like(picked)], dim=1)  # step 1: an empty final slot
        return self._picked[name]

    def __setitem__(self, name: str, value: torch.Tensor) -> None:  # a field replaced, as a batch's own can be
        self._picked[name] = value

    def __iter__(self) -> Iterator[str]:
        yield from self._sources
        yield from (name for name in self._picked if name not in self._sources)

    def __len__(self) -> int:
        return len(self._sources) + sum(name not in self._sources for name in self._picked)


class EpisodeBatch:
    """A batch of episodes stored as one tensor per scheme field (see module docstring)."""

    def __init__(
        self,
        scheme: Mapping[str, Mapping[str, Any]],
        groups: Mapping[str, int],
        batch_size: int,
        max_seq_length: int,
        data: dict[str, dict[str, torch.Tensor]] | None = None,
        preprocess: Mapping[str, tuple[str, list]] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.scheme = dict(scheme)
        self.groups = dict(groups)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.preprocess = dict(preprocess or {})
        self.device = torch.device(device)
        if data is not None:
            self.transition_data = data["transition"]  # a dict, or a mini-batch's _PickedOnRead
            self.episode_data = data["episode"]
        else:
            self.transition_data: dict[str, torch.Tensor] = {}
            self.episode_data: dict[str, torch.Tensor] = {}
            self._allocate()

    # ------------------------------------------------------------------ construction
    def _allocate(self) -> None:
        for source, (target, transforms) in self.preprocess.items():
            entry = dict(self.scheme[source])
            vshape, dtype = entry["vshape"], entry.get("dtype", torch.float32)
            for transform in transforms:
                vshape, dtype = transform.infer_output_info(vshape, dtype)
            entry.update(vshape=vshape, dtype=dtype)
            self.scheme[target] = entry
        self.scheme["filled"] = {"vshape": (1,), "dtype": torch.long}

        for name, entry in self.scheme.items():
            vshape = entry["vshape"]
            vshape = (vshape,) if isinstance(vshape, int) else tuple(vshape)
            entry["vshape"] = vshape
            group_shape = (self.groups[entry["group"]],) if "group" in entry else ()
            dtype = entry.get("dtype", torch.float32)
            if entry.get("episode_const", False):
                shape = (self.batch_size, *group_shape, *vshape)
                self.episode_data[name] = torch.zeros(shape, dtype=dtype, device=self.device)
            else:
                shape = (self.batch_size, self.max_seq_length, *group_shape, *vshape)
                self.transition_data[name] = torch.zeros(shape, dtype=dtype, device=self.device)

    # ------------------------------------------------------------------ writing
    def update(
        self,
        data: Mapping[str, Any],
        bs: Index = slice(None),
        ts: Index = slice(None),
        mark_filled: bool = True,
    ) -> None:
        """Write ``data`` (field -> array-like) at episodes ``bs`` and time steps ``ts``.

        Values are reshaped to the destination slice, so per-env lists of per-agent arrays, numpy
        arrays and tensors all work. Transition writes mark ``filled`` unless ``mark_filled`` is
        False (used for the final observation of an episode). Preprocessed fields are derived here.
        """
        bs_idx = _as_write_index(bs, self.batch_size)
        ts_idx = _as_write_index(ts, self.max_seq_length)
        if mark_filled and any(name in self.transition_data for name in data):
            self._write(self.transition_data["filled"], 1, (bs_idx, ts_idx))
        for name, value in data.items():
            if name in self.transition_data:
                target, index = self.transition_data, (bs_idx, ts_idx)
            elif name in self.episode_data:
                target, index = self.episode_data, (bs_idx,)
            else:
                raise KeyError(f"'{name}' is not a field of this batch's scheme: {sorted(self.scheme)}")
            written = self._write(target[name], value, index)
            if name in self.preprocess:
                new_name, transforms = self.preprocess[name]
                for transform in transforms:
                    written = transform.transform(written)
                self._write(target[new_name], written, index)

    def update_steps(
        self,
        data: Mapping[str, Any],
        ts: torch.Tensor,
        rows: torch.Tensor | None = None,
        mark_filled: bool = True,
    ) -> None:
        """Write ``data`` at step ``ts[i]`` of episode ``rows[i]`` (each episode at its own step).

        For runners whose episodes are not in lock-step (rollout segments, where an episode that
        ends mid-row restarts further along that row). ``rows`` defaults to every episode; ``ts``
        and ``rows`` are ``[n]`` long tensors and ``data`` values have a leading axis of size ``n``.
        Preprocessed fields are derived as in ``update``.
        """
        rows = torch.arange(self.batch_size) if rows is None else rows
        index = (rows.to(self.device), ts.to(self.device))
        for name, value in data.items():
            if name not in self.transition_data:
                raise KeyError(f"'{name}' is not a transition field of this batch's scheme: {sorted(self.transition_data)}")
            dest = self.transition_data[name]
            value = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
            value = value.to(device=dest.device, dtype=dest.dtype).reshape(len(rows), *dest.shape[2:])
            dest[index] = value
            if name in self.preprocess:
                new_name, transforms = self.preprocess[name]
                for transform in transforms:
                    value = transform.transform(value)
                self.transition_data[new_name][index] = value
        if mark_filled:
            self.transition_data["filled"][index] = 1

    @staticmethod
    def _write(dest: torch.Tensor, value: Any, index: tuple) -> torch.Tensor:
        """Write ``value`` into ``dest[index]`` (index: a slice or an index tensor per leading axis).

        Values with as many elements as the destination are reshaped to it (per-env lists, missing
        singleton dims); others broadcast (e.g. ``filled = 1``). Returns the written values.
        """
        if isinstance(value, torch.Tensor):
            value = value.to(device=dest.device, dtype=dest.dtype)
        else:
            value = torch.as_tensor(np.asarray(value), dtype=dest.dtype, device=dest.device)
        lead = [_axis_len(idx, dest.shape[axis]) for axis, idx in enumerate(index)]
        shape = torch.Size([*lead, *dest.shape[len(index) :]])
        value = value.reshape(shape) if value.numel() == shape.numel() else value.expand(shape)
        if sum(not isinstance(idx, slice) for idx in index) > 1:  # two index tensors: take their outer product
            index = (index[0].unsqueeze(1), *index[1:])
        dest[index] = value
        return value

    # ------------------------------------------------------------------ reading
    def __getitem__(self, item: str | Iterable[str] | Index | tuple) -> Any:
        """``batch["obs"]`` -> tensor; ``batch[["obs", "state"]]`` -> batch of those fields;
        ``batch[bs]`` / ``batch[bs, ts]`` -> a new EpisodeBatch over the selected episodes/steps."""
        if isinstance(item, str):
            if item in self.episode_data:
                return self.episode_data[item]
            if item in self.transition_data:
                return self.transition_data[item]
            raise KeyError(f"'{item}' is not a field of this batch's scheme: {sorted(self.scheme)}")
        if isinstance(item, (list, tuple)) and item and all(isinstance(k, str) for k in item):
            keys = list(item) + ["filled"]
            data = {
                "transition": {k: v for k, v in self.transition_data.items() if k in keys},
                "episode": {k: v for k, v in self.episode_data.items() if k in keys},
            }
            scheme = {k: self.scheme[k] for k in keys if k in self.scheme}
            return self._new(scheme, data, self.batch_size, self.max_seq_length)
        bs, ts = (item if isinstance(item, tuple) else (item, slice(None)))
        bs_idx = _as_slice(bs, self.batch_size)
        ts_idx = _as_slice(ts, self.max_seq_length)
        transition = {k: v[bs_idx][:, ts_idx] for k, v in self.transition_data.items()}
        episode = {k: v[bs_idx] for k, v in self.episode_data.items()}
        return self._new(
            self.scheme,
            {"transition": transition, "episode": episode},
            _axis_len(bs_idx, self.batch_size),
            _axis_len(ts_idx, self.max_seq_length),
        )

    def _new(self, scheme: dict, data: dict, batch_size: int, max_seq_length: int) -> "EpisodeBatch":
        return EpisodeBatch(
            scheme, self.groups, batch_size, max_seq_length, data=data, preprocess=self.preprocess, device=self.device
        )

    def max_t_filled(self) -> int:
        """One past the last filled step of any row, plus one (the slot of its final state).

        Measured from the last filled index, not the count of filled steps: a row of rollout
        segments has unfilled final-state slots between the episodes it holds.
        """
        filled = self.transition_data["filled"].squeeze(-1)
        steps = torch.arange(1, self.max_seq_length + 1, device=filled.device)
        last = int((filled * steps).max().item())  # 1 + the last filled index, 0 if none
        return min(last + 1, self.max_seq_length)

    def transitions(self, episodes: torch.Tensor, steps: torch.Tensor) -> "EpisodeBatch":
        """The transitions ``(episodes[i], steps[i])`` as a batch of one-step episodes ``[M, 2]``.

        Step 0 of row i holds transition i, step 1 is an empty final slot, so learners read it
        like any batch (``[:, :-1]`` are the transitions). For feed-forward networks whose inputs
        are one step's fields (no recurrence, no previous action): HARL-style mini-batches of
        shuffled time steps.
        """
        transition = _PickedOnRead(self.transition_data, episodes, steps)
        episode = {name: tensor[episodes] for name, tensor in self.episode_data.items()}
        return self._new(self.scheme, {"transition": transition, "episode": episode}, int(episodes.numel()), 2)

    def to(self, device: str | torch.device) -> "EpisodeBatch":
        """Move every field to ``device`` (in place) and return self."""
        self.device = torch.device(device)
        for store in (self.transition_data, self.episode_data):
            for name in store:
                store[name] = store[name].to(self.device)
        return self

    def __repr__(self) -> str:
        return (
            f"EpisodeBatch(batch_size={self.batch_size}, max_seq_length={self.max_seq_length}, "
            f"fields={sorted(self.scheme)})"
        )


class ReplayBuffer(EpisodeBatch):
    """A FIFO ring of ``buffer_size`` episodes; on-policy learners use it with buffer_size == batch_size."""

    def __init__(
        self,
        scheme: Mapping[str, Mapping[str, Any]],
        groups: Mapping[str, int],
        buffer_size: int,
        max_seq_length: int,
        preprocess: Mapping[str, tuple[str, list]] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(scheme, groups, buffer_size, max_seq_length, preprocess=preprocess, device=device)
        self.buffer_size = buffer_size
        self.buffer_index = 0
        self.episodes_in_buffer = 0

    def insert_episode_batch(self, batch: EpisodeBatch) -> None:
        """Copy the episodes of ``batch`` in, overwriting the oldest once full (wraps around)."""
        slots = (torch.arange(batch.batch_size) + self.buffer_index) % self.buffer_size
        t = batch.max_seq_length
        for name, tensor in batch.transition_data.items():
            self.transition_data[name][slots, :t] = tensor.to(self.device)
        for name, tensor in batch.episode_data.items():
            self.episode_data[name][slots] = tensor.to(self.device)
        self.buffer_index = int((self.buffer_index + batch.batch_size) % self.buffer_size)
        self.episodes_in_buffer = min(self.buffer_size, self.episodes_in_buffer + batch.batch_size)

    def can_sample(self, batch_size: int) -> bool:
        return self.episodes_in_buffer >= batch_size

    def sample(self, batch_size: int) -> EpisodeBatch:
        """``batch_size`` distinct episodes drawn uniformly (all of them, in order, when equal)."""
        if not self.can_sample(batch_size):
            raise ValueError(f"cannot sample {batch_size} episodes from {self.episodes_in_buffer} stored")
        if self.episodes_in_buffer == batch_size:
            return self[:batch_size]
        chosen = torch.randperm(self.episodes_in_buffer)[:batch_size]
        return self[chosen]

    def sample_latest(self, batch_size: int) -> EpisodeBatch:
        """The ``batch_size`` most recently inserted episodes."""
        if not self.can_sample(batch_size):
            raise ValueError(f"cannot sample {batch_size} episodes from {self.episodes_in_buffer} stored")
        latest = (torch.arange(-batch_size, 0) + self.buffer_index) % self.buffer_size
        return self[latest]

    def __repr__(self) -> str:
        return f"ReplayBuffer({self.episodes_in_buffer}/{self.buffer_size} episodes, fields={sorted(self.scheme)})"
