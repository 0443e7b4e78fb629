"""Policy distributions over the actions stored in an :class:`EpisodeBatch`.

Learners only call ``log_prob(batch_actions)`` and ``entropy()``, both returning one value per
agent and time step, so the same learner code serves discrete actions (stored as ``[..., 1]``
indices) and, later, continuous ones (stored as ``[..., action_dim]`` floats).
"""

from __future__ import annotations

import torch
from torch.distributions import Categorical, Independent, Normal


class CategoricalActions(Categorical):
    """Categorical over ``probs [..., n_actions]`` whose ``log_prob`` takes stored actions ``[..., 1]``.

    Argument validation is off: probabilities come from a softmax, and the check costs more than
    the rest of the call.
    """

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__(probs=probs, validate_args=False)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return super().log_prob(actions.squeeze(-1).long())


class DiagGaussianActions(Independent):
    """Independent Normal per action dimension; ``log_prob``/``entropy`` sum over ``[..., action_dim]``.

    ``mode`` is the mean: the greedy (test) action.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__(Normal(mean, std.expand_as(mean), validate_args=False), 1, validate_args=False)
