"""Return and advantage estimators: pure functions over tensors, time on dimension 1.

Shapes: ``rewards``, ``terminated``, ``mask``: ``[B, T, ...]``; ``values``: ``[B, T + 1, ...]`` where
``values[:, t]`` is V(s_t) and ``values[:, T]`` the value of the state after the last transition.
``terminated[:, t] = 1`` when transition t ended the episode by a true termination (no bootstrap);
``mask[:, t] = 1`` for valid transitions. An episode *ends* at t when t is its last valid
transition: by termination (no bootstrap) or by truncation/time limit (bootstrap from
``values[:, t + 1]``, the stored final state).

``ADVANTAGE_ESTIMATORS[name](rewards, values, terminated, mask, gamma, **kw) -> (advantages, returns)``
is what learners call, so a new estimator is one function and one registry entry; an estimator
that needs more than these (V-trace: the log importance ratios) takes them as keyword arguments.
"""

from __future__ import annotations

from typing import Callable

import torch


def episode_ends(mask: torch.Tensor) -> torch.Tensor:
    """1 where transition t is the last valid one of its episode (the next is padding or T)."""
    next_mask = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    return mask * (1 - next_mask)


def _shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x[:, t + k]`` at position t, zero-padded past the end."""
    if k == 0:
        return x
    pad = torch.zeros_like(x[:, :k])
    return torch.cat([x[:, k:], pad], dim=1)[:, : x.shape[1]]


def nstep_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    nsteps: int,
) -> torch.Tensor:
    """n-step bootstrapped returns (EPyMARL's ``q_nstep`` critic target).

    G_t = sum_{k=0}^{m-1} gamma^k r_{t+k} + gamma^m (1 - term_{t+m-1}) V(s_{t+m}), where the window
    m = min(n, steps to the episode's end, steps to T). Vectorised over time: n shifted adds.
    """
    n_steps = rewards.shape[1]
    ends = torch.maximum(episode_ends(mask), terminated * mask)
    ends[:, -1] = 1  # the window never runs past the batch; bootstrap from values[:, T]
    # values[:, t + k + 1] for every window start t; past T only windows that already closed look
    padded_values = torch.cat([values, torch.zeros_like(values[:, :1]).repeat_interleave(nsteps, 1)], dim=1)
    returns = torch.zeros_like(rewards)
    open_window = torch.ones_like(rewards)
    for k in range(nsteps):
        returns = returns + open_window * gamma**k * _shift(rewards, k)
        closes = open_window if k == nsteps - 1 else open_window * _shift(ends, k)
        bootstrap = (1 - _shift(terminated, k)) * padded_values[:, k + 1 : k + 1 + n_steps]
        returns = returns + closes * gamma ** (k + 1) * bootstrap
        open_window = open_window - closes
    return returns


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> torch.Tensor:
    """Generalised advantage estimation (Schulman et al. 2016).

    delta_t = r_t + gamma (1 - term_t) V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma lambda (1 - end_t) A_{t+1}
    The recursion runs backwards over time only; batch and agents stay vectorised.
    """
    deltas = rewards + gamma * (1 - terminated) * values[:, 1:] - values[:, :-1]
    return _backward_sum(deltas, gamma * gae_lambda * _continues(terminated, mask)) * mask


def _continues(terminated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 where transition t's episode goes on at t + 1 (not its last valid step, not a termination)."""
    return 1 - torch.maximum(episode_ends(mask), terminated * mask)


def _backward_sum(deltas: torch.Tensor, decay: torch.Tensor) -> torch.Tensor:
    """``A_t = delta_t + decay_t * A_{t+1}`` (A_T = 0), backwards over time; batch and agents stay vectorised."""
    advantages = torch.zeros_like(deltas)
    running = torch.zeros_like(deltas[:, 0])
    for t in reversed(range(deltas.shape[1])):
        running = deltas[:, t] + decay[:, t] * running
        advantages[:, t] = running
    return advantages


def vtrace(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    log_rho: torch.Tensor,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> torch.Tensor:
    """V-trace advantages (Espeholt et al. 2018) of a target policy from a behaviour policy's data.

    ``log_rho[:, t] = log pi(a_t | s_t) - log mu(a_t | s_t)`` (summed over agents and action
    dimensions for the joint ratio), broadcastable to ``rewards``. With truncated weights
        rho_t = min(rho_bar, exp(log_rho_t)),   c_t = lambda * min(c_bar, exp(log_rho_t))
        delta_t = rho_t (r_t + gamma (1 - term_t) V(s_{t+1}) - V(s_t))
        A_t     = delta_t + gamma (1 - end_t) c_t A_{t+1}
    and the value target is v_t = V(s_t) + A_t. When mu == pi (log_rho = 0, rho_bar = c_bar = 1)
    every rho_t is 1 and c_t is lambda: this is GAE(lambda) exactly.
    """
    ratio = torch.exp(log_rho.clamp(max=30.0))  # exp of a large log ratio only feeds min(., bar)
    rho = ratio.clamp(max=rho_bar).expand_as(rewards)
    trace = gae_lambda * ratio.clamp(max=c_bar).expand_as(rewards)
    deltas = rho * (rewards + gamma * (1 - terminated) * values[:, 1:] - values[:, :-1])
    return _backward_sum(deltas, gamma * trace * _continues(terminated, mask)) * mask


def nstep_advantages(rewards, values, terminated, mask, gamma, nsteps, target_values=None, **_):
    """(G_t - V(s_t), G_t) with G_t the n-step return bootstrapped from ``target_values`` (or ``values``)."""
    bootstrap = values if target_values is None else target_values
    returns = nstep_returns(rewards, bootstrap, terminated, mask, gamma, nsteps)
    return (returns - values[:, :-1]) * mask, returns


def gae_advantages(rewards, values, terminated, mask, gamma, gae_lambda, target_values=None, **_):
    """(A^GAE_t, A^GAE_t + V(s_t)) computed with ``target_values`` when given (EPyMARL-style target critic)."""
    estimate = values if target_values is None else target_values
    advantages = gae(rewards, estimate, terminated, mask, gamma, gae_lambda)
    returns = advantages + estimate[:, :-1]
    return (returns - values[:, :-1]) * mask, returns


def vtrace_policy_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    bootstrap: torch.Tensor,
    targets: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> torch.Tensor:
    """The advantage of the target policy pi^k of the action taken, from V-trace's value targets.

        A_t = r_t + gamma (1 - term_t) Vhat(s_{t+1}) - V(s_t)
              + gamma lambda (1 - end_t) (v_{t+1} - Vhat(s_{t+1}))

    ``values`` V: what is subtracted (the current critic); ``bootstrap`` Vhat: what V-trace
    bootstraps with (the target critic), both ``[B, T + 1, ...]``; ``targets`` v: V-trace's value
    targets ``[B, T, ...]``. There is no rho_t at step t: the policy loss weights a_t by its own
    importance ratio already (the Lookahead paper's J(pi, mu), Eq. 5), and a second rho_t would
    shrink the advantage and pull each agent's action back towards pi^k. The later steps' rho and
    c enter through v_{t+1}. Where the episode ends at t (termination, truncation, the segment's
    last slot) the correction term is 0: v_{t+1} there would be Vhat of the stored final state.
    With every rho = 1 this is GAE(lambda) (``gae_advantages``), as in IMPALA's policy gradient
    (Espeholt et al. 2018, Sec. 4.2) with lambda-weighted corrections.
    """
    correction = _shift(targets - bootstrap[:, :-1], 1)  # v_{t+1} - Vhat(s_{t+1}); 0 past the last slot
    td = rewards + gamma * (1 - terminated) * bootstrap[:, 1:] - values[:, :-1]
    return (td + gamma * gae_lambda * _continues(terminated, mask) * correction) * mask


def vtrace_advantages(rewards, values, terminated, mask, gamma, gae_lambda, log_rho=None, target_values=None, **_):
    """(A_t, v_t): the policy advantage of pi^k (``vtrace_policy_advantages``) and the V-trace value
    target v_t = Vhat(s_t) + A^V-trace_t, bootstrapping from ``target_values`` when given;
    ``log_rho`` (the log importance ratios pi^k / mu, from the learner) absent means on-policy
    data, where both are GAE's."""
    estimate = values if target_values is None else target_values
    if log_rho is None:
        return gae_advantages(rewards, values, terminated, mask, gamma, gae_lambda, target_values)
    returns = vtrace(rewards, estimate, terminated, mask, gamma, gae_lambda, log_rho) + estimate[:, :-1]
    advantages = vtrace_policy_advantages(rewards, values, estimate, returns, terminated, mask, gamma, gae_lambda)
    return advantages, returns


AdvantageEstimator = Callable[..., tuple[torch.Tensor, torch.Tensor]]

ADVANTAGE_ESTIMATORS: dict[str, AdvantageEstimator] = {
    "nstep": nstep_advantages,
    "gae": gae_advantages,
    "vtrace": vtrace_advantages,
}
