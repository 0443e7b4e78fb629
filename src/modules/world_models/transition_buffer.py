"""A FIFO ring of single real transitions, the training data of Lookahead's dynamics model.

Lookahead ("Efficient Multi-Agent Cooperation Learning through Teammate Lookahead") fits its
model of the environment to the real transitions collected so far, like MBPO (Janner et al.
2019, "When to Trust Your Model") fits its ensemble to the env replay. The model needs single
steps, not episodes, so :func:`transitions_from_episodes` flattens an :class:`EpisodeBatch`
into its valid transitions and :class:`TransitionBuffer` keeps the newest ``capacity`` of them.

A transition is a dict of flat tensors with one leading axis ``[N, ...]``:

* ``state`` ``[N, state_dim]`` and ``next_state`` ``[N, state_dim]``;
* ``actions``: ``[N, n_agents]`` long (discrete action indices) or ``[N, n_agents, action_dim]``
  float (continuous actions as the policy sampled them, before any clipping);
* ``reward`` ``[N, reward_dim]`` (1 for a team reward, ``n_agents`` for per-agent rewards);
* ``terminated`` ``[N]`` float: 1 where the env reported a true termination (a time-limit
  truncation is 0), the only termination target the model learns;
* ``episode_end`` ``[N]`` bool: the last transition stored for its episode in its row (a
  termination, a truncation, or the end of a rollout segment), e.g. to skip imagined rollouts
  that would start from an episode's final state;
* ``next_obs`` ``[N, n_agents, obs_dim]`` (only when asked for): the agents' observations of the
  next state, a target of the model when the env publishes no state-to-observation map.
"""

from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch

Transitions = dict[str, torch.Tensor]
"""Field name -> tensor ``[N, ...]`` (see the module docstring)."""


def transitions_from_episodes(batch: EpisodeBatch, with_next_obs: bool = False) -> Transitions:
    """Every valid transition of ``batch`` as flat tensors, in row-major ``(episode, step)`` order.

    Step ``t`` of row ``b`` is a transition where ``filled[b, t]``; its next state is
    ``state[b, t + 1]``. This holds in rows holding several episodes too (rollout segments):
    after an episode's last transition comes the slot of its final state, which is not filled,
    so it is never taken as a transition and always serves as the next state. The last slot of
    a row has no next state and is never a transition (``max_seq_length = episode_limit + 1``).

    Args:
        batch: episodes with fields ``state`` ``[B, T, state_dim]``, ``actions`` (``[B, T, n, 1]``
            long or ``[B, T, n, action_dim]`` float), ``reward`` ``[B, T, reward_dim]``,
            ``terminated`` ``[B, T, 1]``, ``filled`` ``[B, T, 1]`` and, for ``with_next_obs``,
            ``obs`` ``[B, T, n, obs_dim]``.
        with_next_obs: also return ``next_obs = obs[b, t + 1]``.

    Returns:
        The transitions (module docstring); ``N`` is the number of filled steps.
    """
    filled = batch["filled"][:, :-1, 0] > 0  # [B, T - 1]: steps that have a next slot
    rows, steps = filled.nonzero(as_tuple=True)  # [N] each
    next_steps = steps + 1
    actions = batch["actions"][rows, steps]
    if not actions.is_floating_point():
        actions = actions.squeeze(-1)  # [N, n_agents, 1] indices -> [N, n_agents]
    transitions = {
        "state": batch["state"][rows, steps].float(),
        "actions": actions,
        "reward": batch["reward"][rows, steps].float(),
        "next_state": batch["state"][rows, next_steps].float(),
        "terminated": batch["terminated"][rows, steps, 0].float(),
        "episode_end": batch["filled"][rows, next_steps, 0] == 0,
    }
    if with_next_obs:
        transitions["next_obs"] = batch["obs"][rows, next_steps].float()
    return transitions


class TransitionBuffer:
    """The newest ``capacity`` transitions added, in a ring overwritten oldest-first.

    Storage is allocated on the first ``add`` from the fields, shapes and dtypes it brings;
    every later ``add`` must bring the same fields. Writes are one indexed assignment per field.
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu") -> None:
        if capacity < 1:
            raise ValueError(f"TransitionBuffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.device = torch.device(device)
        self.storage: Transitions = {}
        self.next_index = 0  # where the next transition goes
        self.size = 0  # how many slots hold a transition

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: Transitions) -> None:
        """Append ``transitions`` (field -> ``[N, ...]``), overwriting the oldest once full.

        When ``N > capacity`` only the last ``capacity`` of them are kept.
        """
        count = next(iter(transitions.values())).shape[0]
        if count == 0:
            return
        if not self.storage:
            self.storage = {
                name: torch.zeros(self.capacity, *value.shape[1:], dtype=value.dtype, device=self.device)
                for name, value in transitions.items()
            }
        elif set(transitions) != set(self.storage):
            raise KeyError(f"transition fields {sorted(transitions)} differ from the stored {sorted(self.storage)}")
        kept = min(count, self.capacity)
        slots = (self.next_index + torch.arange(kept, device=self.device)) % self.capacity
        for name, value in transitions.items():
            self.storage[name][slots] = value[count - kept :].to(self.device)
        self.next_index = (self.next_index + kept) % self.capacity
        self.size = min(self.capacity, self.size + kept)

    def sample(self, shape: tuple[int, ...], device: str | torch.device | None = None,
               generator: torch.Generator | None = None) -> Transitions:
        """Transitions drawn uniformly with replacement, each field ``[*shape, ...]`` (e.g. one
        independent batch per ensemble member: ``shape = (n_models, batch_size)``); from
        ``generator`` where given (a thread of its own), else torch's global stream."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty TransitionBuffer")
        index = torch.randint(self.size, shape, device=self.device, generator=generator)
        return {name: value[index].to(device or self.device) for name, value in self.storage.items()}

    def all(self, device: str | torch.device | None = None) -> Transitions:
        """Every stored transition (``[len(self), ...]`` per field, slot order, not insertion order)."""
        return {name: value[: self.size].to(device or self.device) for name, value in self.storage.items()}
