"""Adam (Kingma & Ba, 2015) for the learners and the dynamics model, without ``torch.optim.Optimizer``.

The arithmetic is torch's own: :meth:`Adam.step` hands each parameter group to
``torch.optim.adam.adam``, the functional form that ``torch.optim.Adam.step`` calls, with the same
arguments and the same per-parameter state (a CPU ``step`` counter, ``exp_avg``, ``exp_avg_sq``), so a
seed gives the same numbers to the bit as ``torch.optim.Adam`` (a test checks it). With weight decay
``lambda`` the gradient becomes ``g + lambda * theta`` before the moments (L2, not AdamW)::

    m_t = b1 m_{t-1} + (1 - b1) g_t        v_t = b2 v_{t-1} + (1 - b2) g_t^2
    theta_t = theta_{t-1} - lr * (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)

Why not ``torch.optim.Adam`` itself: every method of its base class is wrapped so that its first
call imports torch's compiler stack (``torch._dynamo``), about 1.3 s on this project's 2-core
machine, a tenth of a 20k-step MAPPO run; a run that compiles a loss (``model_compile``) still
imports it, when it compiles. :meth:`state_dict` has ``torch.optim.Adam``'s layout (``state`` keyed by
parameter index, ``param_groups`` with ``params`` as indices), so checkpoints written before load.

``fused=True`` (config ``adam_fused``) takes torch's fused kernel, one pass over each parameter's
memory instead of a chain of element-wise ops: the same update in exact arithmetic, rounded
differently, so a seed gives other numbers after the first step (within float tolerance per step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.adam import adam as adam_update


class Adam:
    """Adam over ``params``: tensors, or groups (dicts with ``params`` and any of ``lr``, ``eps``,
    ``betas``, ``weight_decay`` overriding the defaults given here); ``fused``: torch's fused kernel
    (see the module docstring)."""

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float, eps: float = 1e-8,
                 betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0, fused: bool = False) -> None:
        self.fused = fused
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        given = list(params)
        groups = given if given and isinstance(given[0], dict) else [{"params": given}]
        self.param_groups: list[dict[str, Any]] = [defaults | group | {"params": list(group["params"])}
                                                   for group in groups]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``None``, as ``torch.optim`` does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on every parameter that has a gradient; moments start at zero."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            states = [self._state_of(p) for p in params]
            beta1, beta2 = group["betas"]
            adam_update(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                        [s["exp_avg_sq"] for s in states], [], [s["step"] for s in states],
                        has_complex=any(torch.is_complex(p) for p in params), amsgrad=False,
                        beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                        eps=group["eps"], maximize=False, fused=self.fused or None)

    def _state_of(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        if p not in self.state:
            self.state[p] = {"step": self._step_counter(torch.tensor(0.0), p),
                             "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                             "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
        return self.state[p]

    def _step_counter(self, step: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Where torch.optim keeps a parameter's step count: beside the parameter in float32 for the
        fused kernel, else on the CPU in the scalar dtype (float64 under a float64 default)."""
        if self.fused:
            return step.to(device=p.device, dtype=torch.float32)
        return step.to(device="cpu", dtype=torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32)

    def _indexed(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: moments}, "param_groups": [settings with "params": indices]}``; the
        tensors are this optimiser's own (copy them to keep a snapshot)."""
        index = {p: i for i, p in enumerate(self._indexed())}
        groups = [{k: v for k, v in group.items() if k != "params"} | {"params": [index[p] for p in group["params"]]}
                  for group in self.param_groups]
        return {"state": {index[p]: dict(s) for p, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the settings and moments of ``state_dict`` (ours or ``torch.optim.Adam``'s, fused or
        not), matched by index; moments move to their parameter's device and dtype, ``step`` to where
        this optimiser keeps it."""
        saved_groups = state_dict["param_groups"]
        if [len(g["params"]) for g in saved_groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(f"optimiser state has groups of {[len(g['params']) for g in saved_groups]} parameters, "
                             f"this optimiser {[len(g['params']) for g in self.param_groups]}")
        params = self._indexed()
        for group, saved in zip(self.param_groups, saved_groups):
            for key in ("lr", "betas", "eps", "weight_decay"):
                group[key] = tuple(saved[key]) if key == "betas" else saved[key]
        self.state = {}
        for i, saved in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {name: self._step_counter(value, p) if name == "step"
                             else value.to(device=p.device, dtype=p.dtype) for name, value in saved.items()}
