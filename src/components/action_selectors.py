"""Turn agent outputs into actions. ``REGISTRY[args.action_selector](args)``.

Every selector maps ``agent_outputs [batch, n_agents, n_actions]`` and ``avail_actions`` (same
shape, 0/1) to actions ``[batch, n_agents]``. In test mode with ``test_greedy=True`` all of them act
greedily (EPyMARL's ``soft_policies`` kept sampling in test episodes; we do not).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from components.epsilon_schedules import LinearDecaySchedule


def _greedy(values: torch.Tensor, avail_actions: torch.Tensor) -> torch.Tensor:
    return values.masked_fill(avail_actions == 0, -float("inf")).argmax(dim=-1)


def _sample(probs: torch.Tensor) -> torch.Tensor:
    """One index per row of ``probs [..., n]`` (unnormalised weights are fine)."""
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).view(probs.shape[:-1])


class SoftPoliciesSelector:
    """Sample from the policy's probabilities ``agent_outputs``; argmax when testing greedily."""

    def __init__(self, args: SimpleNamespace) -> None:
        self.test_greedy = args.test_greedy

    def select_action(
        self, agent_outputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False
    ) -> torch.Tensor:
        probs = agent_outputs.masked_fill(avail_actions == 0, 0.0)
        if test_mode and self.test_greedy:
            return _greedy(probs, avail_actions)
        return _sample(probs)

    def select_continuous(self, policy: torch.distributions.Distribution, test_mode: bool = False) -> torch.Tensor:
        """A sample of a continuous policy, or its mode (the Gaussian mean) when testing greedily."""
        return policy.mode if (test_mode and self.test_greedy) else policy.sample()


class MultinomialSelector(SoftPoliciesSelector):
    """Soft-policy sampling mixed with epsilon-uniform exploration over available actions."""

    def __init__(self, args: SimpleNamespace) -> None:
        super().__init__(args)
        self.schedule = LinearDecaySchedule(args.epsilon_start, args.epsilon_finish, args.epsilon_anneal_time)
        self.epsilon = self.schedule.eval(0)

    def select_action(
        self, agent_outputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False
    ) -> torch.Tensor:
        if test_mode and self.test_greedy:
            return _greedy(agent_outputs, avail_actions)
        self.epsilon = 0.0 if test_mode else self.schedule.eval(t_env)
        uniform = avail_actions.float() / avail_actions.float().sum(-1, keepdim=True)
        probs = (1 - self.epsilon) * agent_outputs.masked_fill(avail_actions == 0, 0.0) + self.epsilon * uniform
        return _sample(probs)


class EpsilonGreedySelector:
    """Greedy on action values with probability 1 - epsilon, else a uniformly random available action."""

    def __init__(self, args: SimpleNamespace) -> None:
        self.schedule = LinearDecaySchedule(args.epsilon_start, args.epsilon_finish, args.epsilon_anneal_time)
        self.epsilon = self.schedule.eval(0)
        self.test_greedy = args.test_greedy

    def select_action(
        self, agent_outputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False
    ) -> torch.Tensor:
        self.epsilon = 0.0 if (test_mode and self.test_greedy) else self.schedule.eval(t_env)
        greedy = _greedy(agent_outputs, avail_actions)
        random = _sample(avail_actions.float())
        explore = torch.rand(greedy.shape, device=greedy.device) < self.epsilon
        return torch.where(explore, random, greedy)


REGISTRY = {
    "soft_policies": SoftPoliciesSelector,
    "multinomial": MultinomialSelector,
    "epsilon_greedy": EpsilonGreedySelector,
}
