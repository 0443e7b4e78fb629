"""Stop a run where a NaN or infinity is born: at the optimiser step, not episodes later in an env.

Learners call :func:`check_update` between gradient clipping and ``optimiser.step()``: a
non-finite loss or gradient norm never reaches the parameters, and parameters already non-finite
(e.g. copied or loaded) are caught before they are trained on. The run stops with one line naming
the learner, the quantity and ``t_env`` (added by the training loop, which knows it); no checkpoint
is written after the failure, so the last one saved stays the last good one. Large but finite
numbers are the user's business.

Within one update (one :class:`StepChecks`), a part's parameters are checked at its first step
only: an Adam step from finite parameters with a finite gradient norm leaves them finite (its
moments stay finite, or the squared one overflows to infinity and the step to zero), so what can
make them non-finite is a copy or a load between updates, which the next update's first step
catches. Checking every parameter at every step cost the dynamics model's training ~6% of its time
(208k weights scanned per step) to find nothing the first step could miss.

On an accelerator, reading a flag back each step would stall the device once per step, so
:class:`StepChecks` keeps each step's flags on the device and reads them once, when the update
ends (:meth:`StepChecks.finish`): there a non-finite step has been applied before the run stops,
with the same one-line error and no checkpoint after it. On the CPU every step is checked at once.
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


class StepChecks:
    """The finiteness checks of one update's gradient steps (see the module docstring): each step
    is checked at once on the CPU, and on another device when :meth:`finish` is called; a part's
    parameters at its first step."""

    checked_at_once_on = ("cpu",)
    """Device types whose steps are checked at once: reading a flag back costs nothing there."""

    def __init__(self, learner: Any) -> None:
        self.learner = learner
        self.pending: list[tuple[str, torch.Tensor, torch.Tensor, list[torch.Tensor]]] = []
        self.parts_seen: set[str] = set()

    def step(self, part: str, loss: torch.Tensor, grad_norm: torch.Tensor, params: Iterable[torch.Tensor]) -> None:
        """:func:`check_update` of one step, now (CPU) or at :meth:`finish` (the values are kept);
        ``params`` are looked at on ``part``'s first step in this update only."""
        if part in self.parts_seen:
            params = ()
        self.parts_seen.add(part)
        if loss.device.type in self.checked_at_once_on:
            check_update(self.learner, part, loss, grad_norm, params)
            return
        params = list(params)
        finite = torch.stack([torch.isfinite(loss).all(), torch.isfinite(grad_norm).all(),
                              *(torch.isfinite(p).all() for p in params)]).all()
        self.pending.append((part, finite, torch.stack([loss.detach(), grad_norm.detach()]), params))

    def finish(self) -> None:
        """Read the kept flags back (one transfer) and raise for the first step that was not finite."""
        if not self.pending:
            return
        flags = torch.stack([finite for _, finite, _, _ in self.pending]).cpu()
        pending, self.pending = self.pending, []
        for ok, (part, _, values, params) in zip(flags.tolist(), pending):
            if not ok:
                loss, grad_norm = values.cpu()
                check_update(self.learner, part, loss, grad_norm, [p.detach().cpu() for p in params])
