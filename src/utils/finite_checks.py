"""Stop a run where a NaN or infinity is born: at the optimiser step, not episodes later in an env.

Learners call :func:`check_update` between gradient clipping and ``optimiser.step()``: a
non-finite loss or gradient norm never reaches the parameters, and parameters already non-finite
(e.g. copied or loaded) are caught before they are trained on. The run stops with one line naming
the learner, the quantity and ``t_env`` (added by the training loop, which knows it); no checkpoint
is written after the failure, so the last one saved stays the last good one. Large but finite
numbers are the user's business.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch


class NonFiniteError(RuntimeError):
    """A learner met a non-finite ``quantity`` (e.g. "critic loss") in one update."""

    def __init__(self, learner: str, quantity: str, value: str, t_env: int | None = None) -> None:
        self.learner, self.quantity, self.value, self.t_env = learner, quantity, value, t_env
        where = f" at t_env={t_env}" if t_env is not None else ""
        super().__init__(f"non-finite {quantity} ({value}) in {learner}{where}; the run stops at this update")

    def at(self, t_env: int) -> "NonFiniteError":
        """The same error, stating the ``t_env`` of the update it happened in."""
        return NonFiniteError(self.learner, self.quantity, self.value, t_env)


def learner_name(learner: Any) -> str:
    """The learner's class, and the prefix its stats are logged under when it has one (Lookahead's
    imagined update runs a second base learner logging as ``lka_*``)."""
    prefix = getattr(getattr(learner, "logger", None), "prefix", "")
    name = type(learner).__name__
    return f"{name} (logging as {prefix}*)" if prefix else name


def check_update(
    learner: Any, part: str, loss: torch.Tensor, grad_norm: torch.Tensor, params: Iterable[torch.Tensor]
) -> None:
    """Raise :class:`NonFiniteError` if ``loss`` (scalar), ``grad_norm`` (scalar, as returned by
    ``clip_grad_norm_``) or any of ``params`` (the tensors this step updates) is NaN or infinite.

    ``part`` names what the step trains, e.g. "critic", "actor", "actor of agent 2".
    """
    for quantity, value in (("loss", loss), ("gradient norm", grad_norm)):
        if not torch.isfinite(value).all():
            raise NonFiniteError(learner_name(learner), f"{part} {quantity}", str(value.item()))
    params = list(params)
    finite = torch.stack([torch.isfinite(p).all() for p in params]).all() if params else torch.tensor(True)
    if not finite:
        bad = sum(int((~torch.isfinite(p)).sum()) for p in params)
        raise NonFiniteError(learner_name(learner), f"{part} parameters", f"{bad} non-finite values")
