"""Mini-batches for the PPO-style learners: random groups of whole episodes, or of transitions.

Recurrent agents need whole sequences (their hidden state runs through the episode), so their
mini-batches are groups of episodes, as in EPyMARL. Feed-forward agents whose inputs are one
step's fields can train on shuffled time steps, as HARL does for MLP policies: every mini-batch
then mixes steps of all episodes, and its size does not depend on episode lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Iterator

import torch

from components.episode_buffer import EpisodeBatch

MINI_BATCH_UNITS = ("auto", "episodes", "transitions")


@dataclass
class MiniBatch:
    """One mini-batch: a batch to run the networks on, and the matching slice of per-step tensors.

    ``select(x)`` maps a tensor ``[B, T, ...]`` of the full batch (``T`` = its transitions) to the
    entries of this mini-batch, ``[b, t, ...]``, aligned with ``batch``'s transitions ``[:, :-1]``.
    """

    batch: EpisodeBatch
    select: Callable[[torch.Tensor], torch.Tensor]


def needs_whole_episodes(args: SimpleNamespace) -> bool:
    """True for agents or critics whose input at step t depends on earlier steps."""
    recurrent = args.agent.startswith("rnn") and args.use_rnn
    return recurrent or args.obs_last_action


def uses_transitions(args: SimpleNamespace) -> bool:
    """Whether ``args.mini_batch_unit`` asks for (or, ``auto``, allows) mini-batches of transitions.
    ``experiment.config_checks`` has refused ``transitions`` for agents that need whole episodes."""
    unit = args.mini_batch_unit
    return unit == "transitions" or (unit == "auto" and not needs_whole_episodes(args))


def minibatches(batch: EpisodeBatch, mask: torch.Tensor, n_groups: int, transitions: bool) -> Iterator[MiniBatch]:
    """``n_groups`` disjoint random mini-batches covering ``batch``; ``mask`` ``[B, T]`` marks its
    valid transitions. One group is the whole batch as it is (no shuffling, no copy). A batch with
    fewer episodes (or transitions) than ``n_groups`` gives one mini-batch per episode (transition)."""
    if n_groups == 1:
        yield MiniBatch(batch, lambda x: x)
        return
    if not transitions:
        order = torch.randperm(batch.batch_size, device=mask.device)
        for episodes in order.tensor_split(min(n_groups, batch.batch_size)):
            yield MiniBatch(batch[episodes], lambda x, episodes=episodes: x[episodes])
        return
    episodes, steps = mask.nonzero(as_tuple=True)
    order = torch.randperm(len(episodes), device=mask.device)
    for chunk in order.tensor_split(min(n_groups, max(len(episodes), 1))):  # none empty
        rows, ts = episodes[chunk], steps[chunk]
        yield MiniBatch(batch.transitions(rows, ts), lambda x, rows=rows, ts=ts: x[rows, ts].unsqueeze(1))
