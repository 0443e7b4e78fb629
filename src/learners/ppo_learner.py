"""PPO for multiple agents: MAPPO (``critic_type=cv_critic``) and IPPO (``ac_critic``).

One ``train`` call, on any EpisodeBatch of the scheme:

1. rewards (optionally standardised), per-agent masks, and the behaviour log-probs
   log pi_old(a_t | tau_t) of the stored actions (the policy that collected the batch);
2. ``epochs`` times:
   a. critic step: V(s_t) now, bootstrap values from the target critic, then
      ``(A_t, G_t) = ADVANTAGE_ESTIMATORS[advantage_estimator](...)`` and a masked MSE step on G_t;
   b. actor step on the clipped surrogate (Schulman et al. 2017)
      L = -E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t) + c_ent H(pi(.|tau_t))],
      r_t = pi(a_t | tau_t) / pi_old(a_t | tau_t), one ratio per agent;
3. soft/hard target-critic update (``target_update_interval_or_tau``).

This follows EPyMARL's MAPPO step for step (so its defaults reproduce EPyMARL's numbers) while
fixing its masking (padded steps never enter statistics) and its time-limit bootstrapping.
"""

from __future__ import annotations

import copy
import os
from types import SimpleNamespace
from typing import Any, Mapping

import torch
from torch.optim import Adam

from components.episode_buffer import EpisodeBatch
from components.running_mean_std import RunningMeanStd
from modules.critics import REGISTRY as critic_registry
from utils.checkpoint import atomic_torch_save
from utils.returns import ADVANTAGE_ESTIMATORS


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


class PPOLearner:
    """Clipped-surrogate actor + state-value critic, trained on-policy (see module docstring)."""

    def __init__(self, mac: Any, scheme: Mapping[str, Any], logger: Any, args: SimpleNamespace) -> None:
        self.args = args
        self.n_agents = args.n_agents
        self.logger = logger
        self.mac = mac
        self.agent_params = list(mac.parameters())
        self.agent_optimiser = Adam(self.agent_params, lr=args.lr)

        self.critic = critic_registry[args.critic_type](scheme, args)
        self.target_critic = copy.deepcopy(self.critic)
        self.critic_params = list(self.critic.parameters())
        self.critic_optimiser = Adam(self.critic_params, lr=args.lr)
        self.critic_training_steps = 0
        self.last_target_update_step = 0

        self.advantage_estimator = ADVANTAGE_ESTIMATORS[args.advantage_estimator]
        device = args.device
        reward_shape = (1,) if args.common_reward else (self.n_agents,)
        self.reward_stats = RunningMeanStd(reward_shape, device=device) if args.standardise_rewards else None
        self.return_stats = RunningMeanStd((self.n_agents,), device=device) if args.standardise_returns else None
        self.log_stats_t = -args.learner_log_interval - 1

    # ------------------------------------------------------------------ one update
    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> dict[str, float]:
        """One PPO update on ``batch``; returns (and periodically logs) the diagnostics."""
        rewards, terminated, mask = self._transition_tensors(batch)
        actions = batch["actions"][:, :-1]
        with torch.no_grad():
            old_log_probs = self.behaviour_log_probs(batch, actions)

        for _ in range(self.args.epochs):
            advantages, critic_stats = self._critic_step(batch, rewards, terminated, mask)
            actor_stats = self._actor_step(batch, actions, advantages, old_log_probs, mask)
        self._update_target_critic()

        stats = {**critic_stats, **actor_stats, "advantage_mean": masked_mean(advantages, mask).item()}
        if t_env - self.log_stats_t >= self.args.learner_log_interval:
            for key, value in stats.items():
                self.logger.log_stat(key, value, t_env)
            self.log_stats_t = t_env
        return stats

    def behaviour_log_probs(self, batch: EpisodeBatch, actions: torch.Tensor) -> torch.Tensor:
        """log pi_old(a_t) ``[B, T, n_agents]`` of the policy that sampled ``batch`` (the current one)."""
        return self.mac.policy_distribution(self.mac.unroll(batch)).log_prob(actions)

    def _transition_tensors(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rewards, true terminations and validity masks, each ``[B, T, n_agents]``."""
        mask = batch["filled"][:, :-1].float()
        terminated = batch["terminated"][:, :-1].float()
        rewards = batch["reward"][:, :-1]
        if self.reward_stats is not None:
            self.reward_stats.update(rewards, mask)
            rewards = self.reward_stats.normalise(rewards) * mask
        expand = lambda x: x.expand(-1, -1, self.n_agents)  # noqa: E731
        return expand(rewards) if rewards.shape[-1] == 1 else rewards, expand(terminated), expand(mask)

    # ------------------------------------------------------------------ critic
    def _critic_step(
        self, batch: EpisodeBatch, rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Advantages from the current critic (then one critic gradient step towards the returns)."""
        values = self.critic(batch)[..., 0]  # [B, T + 1, n_agents], normalised if standardise_returns
        with torch.no_grad():
            target_values = self.target_critic(batch)[..., 0]
            values_real = values.detach()
            if self.return_stats is not None:
                values_real = self.return_stats.denormalise(values_real)
                target_values = self.return_stats.denormalise(target_values)
            advantages, returns = self.advantage_estimator(
                rewards,
                values_real,
                terminated,
                mask,
                self.args.gamma,
                nsteps=self.args.q_nstep,
                gae_lambda=self.args.gae_lambda,
                target_values=target_values,
            )
            if self.return_stats is not None:
                self.return_stats.update(returns, mask[..., :1])
                returns = self.return_stats.normalise(returns)

        td_error = (returns - values[:, :-1]) * mask
        loss = (td_error**2).sum() / mask.sum()
        self.critic_optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.critic_params, self.args.grad_norm_clip)
        self.critic_optimiser.step()
        self.critic_training_steps += 1

        value_pred = values[:, :-1].detach()
        residual_var = masked_mean((returns - value_pred) ** 2, mask) - masked_mean(returns - value_pred, mask) ** 2
        return_var = masked_mean(returns**2, mask) - masked_mean(returns, mask) ** 2
        stats = {
            "critic_loss": loss.item(),
            "critic_grad_norm": grad_norm.item(),
            "td_error_abs": (td_error.abs().sum() / mask.sum()).item(),
            "q_taken_mean": masked_mean(value_pred, mask).item(),
            "target_mean": masked_mean(returns, mask).item(),
            "explained_variance": (1 - residual_var / return_var.clamp(min=1e-8)).item(),
        }
        return advantages, stats

    def _update_target_critic(self) -> None:
        tau_or_interval = self.args.target_update_interval_or_tau
        if tau_or_interval <= 1.0:  # Polyak averaging with tau
            with torch.no_grad():
                for target, source in zip(self.target_critic.parameters(), self.critic.parameters()):
                    target.lerp_(source, tau_or_interval)
        elif self.critic_training_steps - self.last_target_update_step >= tau_or_interval:
            self.target_critic.load_state_dict(self.critic.state_dict())
            self.last_target_update_step = self.critic_training_steps

    # ------------------------------------------------------------------ actor
    def _actor_step(
        self,
        batch: EpisodeBatch,
        actions: torch.Tensor,
        advantages: torch.Tensor,
        old_log_probs: torch.Tensor,
        mask: torch.Tensor,
    ) -> dict[str, float]:
        """One gradient step on the clipped surrogate with entropy bonus, all agents at once."""
        policy = self.mac.policy_distribution(self.mac.unroll(batch))
        log_probs = policy.log_prob(actions)
        log_ratio = log_probs - old_log_probs
        ratio = torch.exp(log_ratio)
        eps = self.args.eps_clip
        surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - eps, 1 + eps) * advantages)
        entropy = policy.entropy()
        loss = -masked_mean(surrogate + self.args.entropy_coef * entropy, mask)

        self.agent_optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.agent_params, self.args.grad_norm_clip)
        self.agent_optimiser.step()
        with torch.no_grad():
            return {
                "pg_loss": loss.item(),
                "agent_grad_norm": grad_norm.item(),
                "entropy": masked_mean(entropy, mask).item(),
                "approx_kl": masked_mean(ratio - 1 - log_ratio, mask).item(),  # Schulman's k3 estimator
                "clipfrac": masked_mean(((ratio - 1).abs() > eps).float(), mask).item(),
                "pi_max": masked_mean(policy.probs.max(dim=-1).values, mask).item(),
            }

    # ------------------------------------------------------------------ persistence
    def cuda(self) -> None:
        self.mac.cuda()
        self.critic.cuda()
        self.target_critic.cuda()

    def save_models(self, path: str) -> None:
        self.mac.save_models(path)
        atomic_torch_save(self.critic.state_dict(), os.path.join(path, "critic.th"))
        atomic_torch_save(self.target_critic.state_dict(), os.path.join(path, "target_critic.th"))
        atomic_torch_save(self.agent_optimiser.state_dict(), os.path.join(path, "agent_opt.th"))
        atomic_torch_save(self.critic_optimiser.state_dict(), os.path.join(path, "critic_opt.th"))
        normalisers = {
            name: stats.state_dict()
            for name, stats in (("reward", self.reward_stats), ("return", self.return_stats))
            if stats is not None
        }
        atomic_torch_save(normalisers, os.path.join(path, "normalisers.th"))

    def load_models(self, path: str) -> None:
        load = lambda name: torch.load(os.path.join(path, name), map_location="cpu")  # noqa: E731
        self.mac.load_models(path)
        self.critic.load_state_dict(load("critic.th"))
        self.target_critic.load_state_dict(load("target_critic.th"))
        self.agent_optimiser.load_state_dict(load("agent_opt.th"))
        self.critic_optimiser.load_state_dict(load("critic_opt.th"))
        normalisers = load("normalisers.th")
        for name, stats in (("reward", self.reward_stats), ("return", self.return_stats)):
            if stats is not None and name in normalisers:
                stats.load_state_dict(normalisers[name])
