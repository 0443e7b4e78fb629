"""HAPPO: Heterogeneous-Agent PPO (Kuba et al. 2022), as in ALGORITHM.md §3 and HARL.

Agents are updated one after another, in a fresh random order each ``train`` call. The agent
i_m updated m-th maximises the clipped surrogate weighted by the compounding factor of the agents
already updated in this call:

    M^{i_{1:m-1}}(s, a) = prod_{j < m} pi_new^{i_j}(a^{i_j} | tau^{i_j}) / pi_old^{i_j}(a^{i_j} | tau^{i_j})

    L^{i_m} = -E[ M^{i_{1:m-1}} * w * min(r A, clip(r, 1 - eps, 1 + eps) A) ] - c_ent H(pi^{i_m}),
    r = pi^{i_m}(a^{i_m} | tau) / pi^{k, i_m}(a^{i_m} | tau),  w = pi^{k, i_m} / mu^{i_m}
    (product over action dims)

where pi_old = mu is the policy that sampled the batch and pi^k the one the update starts from
(the two are one policy on-policy; under Lookahead mu = pi~^{k+1}). ``lka_trust_region: mu``
clips r = pi / mu instead, with w = 1 (the Lookahead authors' code; see ``ppo_learner``).
M is a detached per-sample weight, 1 for the first agent and multiplied by the agent's full-batch
ratio pi_new / mu after its ``epochs x mini_batches`` steps, so M * w * r is the importance ratio
of the joint action of the agents updated so far. ``ppo_updates_per_batch`` > 1 repeats the whole
update (a new random order, M restarted) from the policy the previous one reached. Advantages
(GAE by default) come once per update
from the centralised V critic, which is trained after all actors. Each agent has its own Adam
(and gradient clipping) over its own parameters: agents must not share parameters (``*_ns``).
An agent's steps, and its factor update, run only its own network (``mac.unroll(batch,
agents=[i])``): the same values as its column of a full unroll, at about 1/n_agents of the cost.
"""

from __future__ import annotations

from typing import Any

import torch

from components.adam import Adam
from components.episode_buffer import EpisodeBatch
from learners.ppo_learner import BatchTensors, PPOLearner
from utils.masked import masked_mean


class HAPPOLearner(PPOLearner):
    """Sequential per-agent PPO updates with the compounding factor M (see module docstring)."""

    def _make_actor_optimisers(self) -> None:
        """One Adam per agent, over that agent's own parameters only."""
        self.agent_optimisers = [
            Adam(self.mac.agent_parameters(agent), lr=self.settings.actor_lr, eps=self.settings.adam_eps,
                 fused=self.settings.adam_fused)
            for agent in range(self.n_agents)
        ]

    def _update(self, batch: EpisodeBatch, data: BatchTensors, first: bool, critic_read: bool
                ) -> dict[str, float]:
        """One HAPPO update from the current policy pi^k: every agent in a fresh random order with
        M restarted at 1, then the critic; the ``first`` of a batch folds its returns into the
        return normaliser. ``critic_read`` False: nothing reads the critic after this update, and its
        steps come after every actor's, so they are skipped (they would change no policy)."""
        actions, behaviour, rewards, terminated, mask = data
        # log pi^k, V (where the critic trains), log rho
        start, old_values, log_rho = self._update_start(batch, actions, behaviour, values=critic_read, first=first)
        advantages, returns = self._advantages(batch, rewards, terminated, mask, log_rho)
        if first:
            self._fold_into_return_stats(returns, mask)
        targets = self._critic_targets(returns)

        factor = torch.ones_like(behaviour[..., 0])  # M, per sample [B, T]
        order = self.agent_order()
        actor_stats: dict[str, list[float]] = {}
        for agent in order:
            for _ in range(self.settings.epochs):
                for mb in self._minibatches(batch, mask):
                    step_stats = self._agent_step(
                        agent, mb.batch, mb.select(actions), mb.select(advantages), mb.select(start),
                        mb.select(behaviour), mb.select(mask), mb.select(factor),
                    )
            for key, value in step_stats.items():
                actor_stats.setdefault(key, []).append(value)
            with torch.no_grad():  # M <- M * pi_new^{i_m} / mu^{i_m} on the whole batch
                new_log_probs = self.policy_log_probs(batch, actions[:, :, [agent]], agents=[agent])[..., 0]
                factor = factor * torch.exp(new_log_probs - behaviour[..., agent]) * mask[..., agent]

        critic_stats: dict[str, float] = {}
        if critic_read:
            for _ in range(self.settings.epochs):
                for mb in self._minibatches(batch, mask):
                    critic_stats = self._critic_step(
                        mb.batch, mb.select(targets), mb.select(old_values), mb.select(mask))
        self._update_target_critic()

        stats = {key: sum(values) / len(values) for key, values in actor_stats.items()}
        stats.update(critic_stats)
        stats["advantage_mean"] = masked_mean(advantages, mask)
        stats["factor_mean"] = masked_mean(factor, mask[..., 0])  # M after the last agent
        stats["first_agent"] = float(order[0])
        stats.update(self._weight_diagnostics(batch, start, behaviour, mask))
        return stats

    def agent_order(self) -> list[int]:
        """The order agents are updated in this call: a fresh random permutation (HAPPO's default;
        a subclass may fix or choose it)."""
        return torch.randperm(self.n_agents).tolist()

    def _agent_step(
        self,
        agent: int,
        batch: EpisodeBatch,
        actions: torch.Tensor,
        advantages: torch.Tensor,
        start: torch.Tensor,
        behaviour: torch.Tensor,
        mask: torch.Tensor,
        factor: torch.Tensor,
    ) -> dict[str, float]:
        """One gradient step of agent ``agent``'s actor on its M-weighted clipped surrogate.

        The per-agent tensors hold every agent (``[b, t, n_agents, ...]``; ``start`` / ``behaviour``:
        log pi^k / log mu); only agent ``agent``'s network is run, so the forward and backward cost
        one agent's (the diagnostics are of its policy alone).
        """
        only = [agent]
        surrogate, entropy, stats = self._surrogate(
            batch, actions[:, :, only], advantages[..., only], start[..., only], behaviour[..., only],
            mask[..., only], agents=only,
        )
        objective = factor * surrogate[..., 0] + self.settings.entropy_coef * entropy[..., 0]
        loss = -masked_mean(objective, mask[..., agent])
        params = self.mac.agent_parameters(agent)
        optimiser = self.agent_optimisers[agent]
        optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.settings.grad_norm_clip)
        self.checks.step(f"actor of agent {agent}", loss, grad_norm, params)
        optimiser.step()
        return {"pg_loss": loss.detach(), "agent_grad_norm": grad_norm, **stats}

    def _optimiser_states(self) -> dict[str, Any]:
        return {
            "agents": [optimiser.state_dict() for optimiser in self.agent_optimisers],
            "critic": self.critic_optimiser.state_dict(),
        }

    def _load_optimiser_states(self, states: dict[str, Any]) -> None:
        for optimiser, state in zip(self.agent_optimisers, states["agents"]):
            optimiser.load_state_dict(state)
        self.critic_optimiser.load_state_dict(states["critic"])
