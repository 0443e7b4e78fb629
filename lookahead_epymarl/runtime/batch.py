"""EPyMARL's episode batches in the core's conventions.

EPyMARL's runners (episode and parallel, https://github.com/uoe-agents/epymarl, ``src/runners/``)
write an episode of length ``L`` as: steps ``0..L-1`` hold the transitions, step ``L`` the final
state and observations, and ``filled`` marks steps ``0..L`` (the final-observation slot too); the
last transition's ``terminated`` is 1 when the env reported ``terminated or truncated`` without
``info["episode_limit"]``, which gymma never sets, so a time-limit end is stored as a termination.
The core marks only the transitions as filled (the final slot holds the state to bootstrap from)
and never stores a time-limit end as a termination. So, per episode:

* ``filled[t] = filled_epymarl[t + 1]``: the transitions ``0..L-1``;
* ``terminated[L - 1] = 0`` when ``L == episode_limit`` (``env_args.time_limit``): the episode hit the
  time limit, a truncation. A true termination on exactly that step is then read as a truncation,
  and an env's own step limit shorter than ``time_limit`` stays a termination (EPyMARL stores both
  alike, so nothing in the batch tells them apart);
* ``log_prob`` (when the scheme stores it): EPyMARL's runners do not store the behaviour policy's
  log-probabilities, so they are recomputed (:func:`store_behaviour_log_probs`) from the controller
  that acted, which no update changes between the rollout and the train call.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from components.episode_buffer import EpisodeBatch

COPIED_FIELDS = ("state", "obs", "actions", "avail_actions", "reward")
"""Fields whose values mean the same in both conventions (``actions_onehot`` is derived again)."""


def core_batch(
    epymarl_batch: Any,
    scheme: Mapping[str, Any],
    groups: Mapping[str, int],
    preprocess: Mapping[str, Any],
    episode_limit: int | None,
) -> EpisodeBatch:
    """The core's :class:`EpisodeBatch` ``[B, T]`` of an EPyMARL batch ``[B, T]`` (see the module docstring).

    ``scheme``/``groups``/``preprocess``: the core's (``run.build_scheme``); ``episode_limit``: the
    time limit, or None to keep EPyMARL's terminations as they are.
    """
    filled = epymarl_batch["filled"][..., 0]  # [B, T], steps 0..L of each episode
    batch_size, steps = filled.shape
    batch = EpisodeBatch(scheme, groups, batch_size, steps, preprocess=preprocess, device=filled.device)
    batch.update({name: epymarl_batch[name] for name in COPIED_FIELDS}, mark_filled=False)

    transitions = torch.zeros_like(filled)
    transitions[:, :-1] = filled[:, 1:]  # [B, T], steps 0..L-1
    terminated = epymarl_batch["terminated"][..., 0].long() * transitions
    if episode_limit is not None and episode_limit < steps:
        timed_out = transitions.sum(dim=1) == episode_limit
        terminated[timed_out, episode_limit - 1] = 0
    batch.update({"terminated": terminated, "filled": transitions}, mark_filled=False)
    return batch


@torch.no_grad()
def store_behaviour_log_probs(batch: EpisodeBatch, controller: Any) -> None:
    """Write ``log mu(a_t)`` of every agent's stored action into ``batch["log_prob"]`` ``[B, T, n_agents, 1]``.

    ``controller``: the core controller that sampled the batch; its ``unroll`` from a fresh hidden
    state gives the values its step-by-step ``select_actions`` gave during the rollout.
    """
    steps = batch.max_seq_length - 1
    policy = controller.policy_distribution(controller.unroll(batch, n_steps=steps))
    log_probs = policy.log_prob(batch["actions"][:, :steps])  # [B, T - 1, n_agents]
    batch.update({"log_prob": log_probs}, ts=slice(0, steps), mark_filled=False)
