"""PPO for multiple agents: MAPPO (``critic_type=cv_critic``) and IPPO (``ac_critic``), on-policy
or on the data of another policy mu (Lookahead's real update).

One ``train`` call, on any EpisodeBatch of the scheme (discrete or continuous actions):

1. rewards (optionally standardised), per-agent masks, and the behaviour log-probs
   log mu(a_t | tau_t) of the stored actions (the policy that collected the batch);
2. ``ppo_updates_per_batch`` trust-region updates (1: PPO), each from the policy pi^k it starts
   from (log pi^k recomputed, detached):
   ``epochs`` times:
   a. ``(A_t, G_t) = ADVANTAGE_ESTIMATORS[advantage_estimator](...)`` from the current critic
      (bootstrapping from the target critic), optionally standardised; with V-trace, A_t is the
      advantage of pi^k from mu's data (``utils.returns.vtrace_policy_advantages``);
   b. for each of ``mini_batches`` random mini-batches (whole episodes, or shuffled time steps for
      feed-forward agents: ``mini_batch_unit``): one critic step towards G_t and one actor step on
      the clipped surrogate (Schulman et al. 2017), one ratio per agent,
         L = -E[w_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t) + c_ent H(pi(.|tau_t))],
      where ``lka_trust_region`` says around which policy the ratio is clipped:
         pi_k (default):  r_t = pi(a_t) / pi^k(a_t),  w_t = pi^k(a_t) / mu(a_t)  (detached)
         mu:              r_t = pi(a_t) / mu(a_t),    w_t = 1
      ``pi_k`` is the Lookahead paper's operator psi(mu, pi^k) (Sec. 3, footnote 2; Algorithm 1
      line 6): maximise J(pi, mu) (Eq. 5; from mu's samples, agent i's term weighs A_{pi^k} by
      pi_i / mu_i = w_t r_t) within the trust region of pi^k. ``mu`` clips around the behaviour
      policy, as the paper's authors' released code does (and as the ball around mu in the proof
      of Theorem 3 reads). When mu = pi^k both are PPO;
   then a soft/hard target-critic update (``target_update_interval_or_tau``).

With the defaults (one mini-batch, n-step returns, MSE value loss) this is EPyMARL's MAPPO step
for step, minus its masking and time-limit defects. The options HAPPO/MAPPO papers use (GAE,
value normalisation, Huber and clipped value loss, advantage normalisation, mini-batches,
separate learning rates, Adam eps) are config keys.
"""

from __future__ import annotations

import copy
import os
from types import SimpleNamespace
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import torch
from torch.nn import functional as F

from components.adam import Adam
from components.episode_buffer import EpisodeBatch
from components.interfaces import Controller, StatLogger
from components.running_mean_std import RunningMeanStd
from learners.minibatches import MiniBatch, minibatches
from learners.settings import PPOSettings
from modules.critics import REGISTRY as critic_registry
from utils.checkpoint import atomic_torch_save
from utils.finite_checks import StepChecks
from utils.logging import as_floats, log_if_due
from utils.masked import masked_mean, standardise
from utils.returns import ADVANTAGE_ESTIMATORS


class BatchTensors(NamedTuple):
    """What every update of one ``train`` call reads from its batch, ``[B, T, n_agents, ...]``:
    the actions, their behaviour log-probs log mu, the (standardised) rewards, the true
    terminations and the validity mask."""

    actions: torch.Tensor
    behaviour: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    mask: torch.Tensor


def transition_steps(batch: EpisodeBatch) -> slice:
    """The slots holding transitions, ``[:, :-1]``: a mini-batch of shuffled transitions is ``[M, 2]``,
    so networks run on its final slots would double the work."""
    return slice(0, batch.max_seq_length - 1)


def transition_tensors(batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transitions' rewards ``[B, T, reward_dim]``, true terminations and validity mask
    ``[B, T, 1]``, as stored."""
    return batch["reward"][:, :-1], batch["terminated"][:, :-1].float(), batch["filled"][:, :-1].float()


def per_agent(x: torch.Tensor, n_agents: int) -> torch.Tensor:
    """``x [B, T, 1]`` as ``[B, T, n_agents]`` (a team quantity seen by every agent); per-agent as is."""
    return x.expand(-1, -1, n_agents) if x.shape[-1] == 1 else x


def importance_weight(log_weight: torch.Tensor, clip: float | None) -> torch.Tensor:
    """w = pi^k / mu from ``log w``, truncated at ``clip`` (IMPALA's rho-bar) when it is set."""
    weight = torch.exp(log_weight.clamp(max=30.0))  # a huge log w only feeds the truncation or the loss
    return weight if clip is None else weight.clamp(max=clip)


def weight_stats(log_weight: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Per agent, the mean and max over valid samples of w = pi^k(a) / mu(a) (``[B, T, n_agents]``):
    1 where the batch was sampled by pi^k; large where mu (Lookahead's pi~, fitted on imagined
    states) gives the real actions less mass than pi^k."""
    weight, valid = importance_weight(log_weight, None), mask > 0
    counts = valid.sum(dim=(0, 1))
    means = (weight * valid).sum(dim=(0, 1)) / counts.clamp(min=1)
    maxima = weight.masked_fill(~valid, float("-inf")).amax(dim=(0, 1))
    stats = {}
    for agent in counts.nonzero().flatten().tolist():
        stats[f"is_weight_mean_agent{agent}"] = means[agent].item()
        stats[f"is_weight_max_agent{agent}"] = maxima[agent].item()
    return stats


class PPOLearner:
    """Clipped-surrogate actor + state-value critic, trained on-policy (see module docstring)."""

    def __init__(self, mac: Controller, scheme: Mapping[str, Any], logger: StatLogger, args: SimpleNamespace,
                 settings: PPOSettings | None = None) -> None:
        """EPyMARL's learner call; ``settings``: this learner's update settings where they differ from
        the config's (Lookahead's imagined update), else read from ``args`` once."""
        self.settings = PPOSettings.from_args(args) if settings is None else settings
        s = self.settings
        self.n_agents = args.n_agents
        self.logger = logger
        self.mac = mac
        self._make_actor_optimisers()

        self.critic = critic_registry[args.critic_type](scheme, args)
        self.target_critic = copy.deepcopy(self.critic)
        self.critic_params = list(self.critic.parameters())
        self.critic_optimiser = Adam(self.critic_params, lr=s.critic_lr, eps=s.adam_eps, fused=s.adam_fused)
        self.critic_training_steps = 0
        self.last_target_update_step = 0

        self.advantage_estimator = ADVANTAGE_ESTIMATORS[s.advantage_estimator]
        reward_shape = (1,) if s.common_reward else (self.n_agents,)
        self.reward_stats = RunningMeanStd(reward_shape, device=s.device) if s.standardise_rewards else None
        self.return_stats = RunningMeanStd((self.n_agents,), device=s.device) if s.standardise_returns else None
        self.log_stats_t = -s.learner_log_interval - 1
        self.checks = StepChecks(self)  # one update's finiteness checks (a fresh one per update)

    def _make_actor_optimisers(self) -> None:
        """One Adam over all actor parameters (HAPPO makes one per agent)."""
        self.agent_params = list(self.mac.parameters())
        s = self.settings
        self.agent_optimiser = Adam(self.agent_params, lr=s.actor_lr, eps=s.adam_eps, fused=s.adam_fused)

    # ------------------------------------------------------------------ one update
    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int, *, critic_discarded: bool = False
              ) -> dict[str, float]:
        """``ppo_updates_per_batch`` trust-region updates on ``batch`` (one: PPO's update); returns
        (and periodically logs) the last one's diagnostics.

        ``critic_discarded``: the caller throws this learner's critic away after the call (Lookahead's
        last imagined update: the next lookahead copy starts from the real learner's critic), so the
        last update skips the critic steps that nothing after them reads (see ``_update``); the actors'
        steps, and so the policies this returns with, are the same to the bit."""
        rewards, terminated, mask = transition_tensors(batch)
        if self.reward_stats is not None:  # the reward normaliser's one update for this batch
            self.reward_stats.update(rewards, mask)
            rewards = self.reward_stats.normalise(rewards) * mask
        rewards, terminated, mask = (per_agent(x, self.n_agents) for x in (rewards, terminated, mask))
        actions = batch["actions"][:, :-1]
        with torch.no_grad():
            behaviour = self.behaviour_log_probs(batch, actions)  # log mu: the sampler stays the sampler
        data = BatchTensors(actions, behaviour, rewards, terminated, mask)
        updates = self.settings.ppo_updates_per_batch
        for update in range(updates):
            self.checks = StepChecks(self)
            critic_read = not (critic_discarded and update == updates - 1)  # an earlier update's critic feeds the next
            stats = self._update(batch, data, first=update == 0, critic_read=critic_read)
            self.checks.finish()
        stats = as_floats(stats)  # the diagnostics stay on the device until the update is over
        self._log(stats, t_env)
        return stats

    def _update(self, batch: EpisodeBatch, data: BatchTensors, first: bool, critic_read: bool
                ) -> dict[str, float]:
        """One trust-region update from the current policy pi^k: ``epochs`` x ``mini_batches`` steps;
        the ``first`` of a batch folds its first epoch's returns into the return normaliser.
        ``critic_read`` False: nothing reads the critic after this update, so the last epoch's critic
        steps, whose critic no later advantage uses, are skipped (the mini-batches are drawn alike)."""
        actions, behaviour, rewards, terminated, mask = data
        values_read = critic_read or self.settings.epochs > 1
        start, old_values, log_rho = self._update_start(batch, actions, behaviour, values=values_read, first=first)
        critic_stats: dict[str, float] = {}
        for epoch in range(self.settings.epochs):
            advantages, returns = self._advantages(batch, rewards, terminated, mask, log_rho)
            if first and epoch == 0:
                self._fold_into_return_stats(returns, mask)
            targets = self._critic_targets(returns)
            train_critic = critic_read or epoch < self.settings.epochs - 1
            for mb in self._minibatches(batch, mask):
                if train_critic:
                    critic_stats = self._critic_step(mb.batch, mb.select(targets), mb.select(old_values), mb.select(mask))
                actor_stats = self._actor_step(
                    mb.batch, mb.select(actions), mb.select(advantages), mb.select(start), mb.select(behaviour),
                    mb.select(mask),
                )
        self._update_target_critic()
        return {**critic_stats, **actor_stats, "advantage_mean": masked_mean(advantages, mask),
                **self._weight_diagnostics(batch, start, behaviour, mask)}

    @torch.no_grad()
    def _update_start(
        self, batch: EpisodeBatch, actions: torch.Tensor, behaviour: torch.Tensor, values: bool, first: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """At the start of an update: log pi^k ``[B, T, n_agents]`` (the trust region's centre under
        ``pi_k``), the critic's values (the clipped value loss's centre; None without ``values``, for
        an update that takes no critic step), and V-trace's log ratios. The ``first`` update of a
        batch without stored log-probs starts from the policy ``behaviour`` was just computed from,
        so it reuses those log-probs instead of running the actors over the batch again."""
        pi_k_is_behaviour = first and "log_prob" not in batch.scheme
        start = behaviour if pi_k_is_behaviour else self.policy_log_probs(batch, actions)
        old_values = self.critic(batch, transition_steps(batch))[..., 0] if values else None
        return start, old_values, self._log_importance_ratios(start, behaviour)

    @staticmethod
    def _weight_diagnostics(
        batch: EpisodeBatch, start: torch.Tensor, behaviour: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, float]:
        """``weight_stats`` of w = pi^k / mu where the batch carries a sampler's stored log-probs."""
        return weight_stats(start - behaviour, mask) if "log_prob" in batch.scheme else {}

    def behaviour_log_probs(self, batch: EpisodeBatch, actions: torch.Tensor) -> torch.Tensor:
        """log mu(a_t) ``[B, T, n_agents]`` of the policy that sampled ``batch``: the log-probs the
        runner stored while sampling (``store_log_probs``), else the current policy's, which is the
        sampler when nothing else is (call it before any update). The importance weights (and
        HAPPO's M) are taken against this policy; Lookahead refuses batches without stored ones."""
        if "log_prob" in batch.scheme:
            return batch["log_prob"][:, : actions.shape[1], :, 0]
        return self.policy_log_probs(batch, actions)

    def policy_log_probs(
        self, batch: EpisodeBatch, actions: torch.Tensor, agents: Sequence[int] | None = None
    ) -> torch.Tensor:
        """log pi(a_t) ``[B, T, n_agents]`` of the current policy; with ``agents``, of those agents
        only (``actions`` theirs, ``[B, T, len(agents), ...]``)."""
        return self.mac.policy_distribution(self.mac.unroll(batch, agents=agents), agents).log_prob(actions)

    def _log_importance_ratios(self, start: torch.Tensor, behaviour: torch.Tensor) -> torch.Tensor | None:
        """For off-policy estimators (V-trace): log pi^k(a_t) - log mu(a_t) of the policy before this
        update against the behaviour policy, joint (summed over agents, ``[B, T, 1]``) or per agent
        (``vtrace_ratio``); None for on-policy estimators."""
        if self.settings.advantage_estimator != "vtrace":
            return None
        log_rho = start - behaviour
        return log_rho if self.settings.vtrace_ratio == "per_agent" else log_rho.sum(-1, keepdim=True)

    def _minibatches(self, batch: EpisodeBatch, mask: torch.Tensor) -> Iterator[MiniBatch]:
        """``mini_batches`` random disjoint mini-batches of ``batch`` (see ``learners.minibatches``)."""
        return minibatches(batch, mask[..., 0] > 0, self.settings.mini_batches, self.settings.transition_minibatches)

    # ------------------------------------------------------------------ critic
    @torch.no_grad()
    def _advantages(
        self,
        batch: EpisodeBatch,
        rewards: torch.Tensor,
        terminated: torch.Tensor,
        mask: torch.Tensor,
        log_rho: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, returns), both ``[B, T, n_agents]``, from the critic as it is (its values in
        the returns' scale: denormalised by the return normaliser, which this leaves unchanged);
        ``log_rho``: the off-policy estimator's log importance ratios."""
        values = self.critic(batch)[..., 0]  # [B, T + 1, n_agents]
        target_values = self.target_critic(batch)[..., 0]
        if self.return_stats is not None:
            values = self.return_stats.denormalise(values)
            target_values = self.return_stats.denormalise(target_values)
        advantages, returns = self.advantage_estimator(
            rewards,
            values,
            terminated,
            mask,
            self.settings.gamma,
            nsteps=self.settings.q_nstep,
            gae_lambda=self.settings.gae_lambda,
            target_values=target_values,
            **({} if log_rho is None else {"log_rho": log_rho}),
        )
        if self.settings.normalise_advantages:
            advantages = standardise(advantages, mask)
        return advantages, returns

    def _fold_into_return_stats(self, returns: torch.Tensor, mask: torch.Tensor) -> None:
        """The return normaliser's one update for a batch (value normalisation)."""
        if self.return_stats is not None:
            self.return_stats.update(returns, mask[..., :1])

    def _critic_targets(self, returns: torch.Tensor) -> torch.Tensor:
        """The critic's regression targets: ``returns`` in its output scale (normalised, with value
        normalisation)."""
        return returns if self.return_stats is None else self.return_stats.normalise(returns)

    def _value_error(self, values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
        if self.settings.value_loss == "huber":
            return F.huber_loss(values, returns, reduction="none", delta=self.settings.huber_delta)
        return (values - returns) ** 2

    def _critic_step(
        self, batch: EpisodeBatch, returns: torch.Tensor, old_values: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, float]:
        """One gradient step of the critic towards ``returns`` (optionally clipped around ``old_values``)."""
        values = self.critic(batch, transition_steps(batch))[..., 0]  # not the final slot's
        error = self._value_error(values, returns)
        if self.settings.value_clip > 0:  # the clipped value loss of MAPPO / HARL
            clip = self.settings.value_clip
            clipped = old_values + (values - old_values).clamp(-clip, clip)
            error = torch.max(error, self._value_error(clipped, returns))
        loss = masked_mean(error, mask)
        self.critic_optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.critic_params, self.settings.grad_norm_clip)
        self.checks.step("critic", loss, grad_norm, self.critic_params)
        self.critic_optimiser.step()
        self.critic_training_steps += 1

        values = values.detach()
        residual = returns - values
        return_var = masked_mean(returns**2, mask) - masked_mean(returns, mask) ** 2
        residual_var = masked_mean(residual**2, mask) - masked_mean(residual, mask) ** 2
        return {
            "critic_loss": loss.detach(),
            "critic_grad_norm": grad_norm,
            "td_error_abs": masked_mean(residual.abs(), mask),
            "q_taken_mean": masked_mean(values, mask),
            "target_mean": masked_mean(returns, mask),
            "explained_variance": 1 - residual_var / return_var.clamp(min=1e-8),
        }

    def _update_target_critic(self) -> None:
        tau_or_interval = self.settings.target_update_interval_or_tau
        if tau_or_interval <= 1.0:  # Polyak averaging with tau
            with torch.no_grad():
                for target, source in zip(self.target_critic.parameters(), self.critic.parameters()):
                    target.lerp_(source, tau_or_interval)
        elif self.critic_training_steps - self.last_target_update_step >= tau_or_interval:
            self.target_critic.load_state_dict(self.critic.state_dict())
            self.last_target_update_step = self.critic_training_steps

    # ------------------------------------------------------------------ actor
    def _surrogate(
        self,
        batch: EpisodeBatch,
        actions: torch.Tensor,
        advantages: torch.Tensor,
        start: torch.Tensor,
        behaviour: torch.Tensor,
        mask: torch.Tensor,
        agents: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Per-sample weighted clipped surrogate and entropy ``[B, T, n_agents]``, and the policy
        diagnostics against pi^k (``approx_kl``; ``clipfrac``, the share of samples where pi has left
        pi^k's trust region, the clip in use under ``pi_k``). ``start`` /
        ``behaviour``: log pi^k / log mu of ``actions``. ``agents``: run only those agents'
        networks; the tensors given (and returned) are theirs, ``[B, T, len(agents), ...]``."""
        policy = self.mac.policy_distribution(self.mac.unroll(batch, agents=agents), agents)
        log_pi = policy.log_prob(actions)
        eps = self.settings.eps_clip
        if self.settings.lka_trust_region == "pi_k":  # psi(mu, pi^k): J(pi, mu) within pi^k's trust region
            ratio = torch.exp(log_pi - start)  # r = pi / pi^k, clipped around pi^k
            weight = importance_weight(start - behaviour, self.settings.lka_weight_clip)  # w = pi^k / mu (detached)
        else:  # "mu", the authors' released code: r = pi / mu, clipped around mu
            ratio = torch.exp(log_pi - behaviour)
            weight = None
        surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - eps, 1 + eps) * advantages)
        if weight is not None:
            surrogate = weight * surrogate  # w r A = (pi / mu) A: the importance-weighted advantage of Eq. 5
        entropy = policy.entropy()
        with torch.no_grad():  # both measured from pi^k, in either trust region
            log_to_start = log_pi - start
            to_start = torch.exp(log_to_start)
            stats = {
                "entropy": masked_mean(entropy, mask),
                "approx_kl": masked_mean(to_start - 1 - log_to_start, mask),  # Schulman's k3 of KL(pi^k || pi)
                "clipfrac": masked_mean(((to_start - 1).abs() > eps).float(), mask),  # outside pi^k's region
            }
            if hasattr(policy, "probs"):
                stats["pi_max"] = masked_mean(policy.probs.max(dim=-1).values, mask)
            else:
                stats["action_std"] = policy.base_dist.stddev.mean()
        return surrogate, entropy, stats

    def _actor_step(
        self,
        batch: EpisodeBatch,
        actions: torch.Tensor,
        advantages: torch.Tensor,
        start: torch.Tensor,
        behaviour: torch.Tensor,
        mask: torch.Tensor,
    ) -> dict[str, float]:
        """One gradient step on the clipped surrogate with entropy bonus, all agents at once."""
        surrogate, entropy, stats = self._surrogate(batch, actions, advantages, start, behaviour, mask)
        loss = -masked_mean(surrogate + self.settings.entropy_coef * entropy, mask)
        self.agent_optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.agent_params, self.settings.grad_norm_clip)
        self.checks.step("actor", loss, grad_norm, self.agent_params)
        self.agent_optimiser.step()
        return {"pg_loss": loss.detach(), "agent_grad_norm": grad_norm, **stats}

    # ------------------------------------------------------------------ logging and persistence
    def _log(self, stats: dict[str, float], t_env: int) -> None:
        self.log_stats_t = log_if_due(self.logger, stats, t_env, self.log_stats_t, self.settings.learner_log_interval)

    def cuda(self) -> None:
        self.mac.cuda()
        self.critic.cuda()
        self.target_critic.cuda()

    def _optimiser_states(self) -> dict[str, Any]:
        return {"agent": self.agent_optimiser.state_dict(), "critic": self.critic_optimiser.state_dict()}

    def _load_optimiser_states(self, states: dict[str, Any]) -> None:
        self.agent_optimiser.load_state_dict(states["agent"])
        self.critic_optimiser.load_state_dict(states["critic"])

    def state_dict(self) -> dict[str, Any]:
        """Everything the update depends on besides the actors' weights (critics, optimisers,
        normalisers, counters), as tensors a copy can load: a lookahead copy of this learner is
        synchronised from it in memory, checkpoints are written from it."""
        normalisers = {
            name: stats.state_dict()
            for name, stats in (("reward", self.reward_stats), ("return", self.return_stats))
            if stats is not None
        }
        return {
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "optimisers": self._optimiser_states(),
            "normalisers": normalisers,
            "counters": {"critic_training_steps": self.critic_training_steps,
                         "last_target_update_step": self.last_target_update_step},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict` (pass a deep copy to keep two learners' states apart)."""
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        self._load_optimiser_states(state["optimisers"])
        for name, stats in (("reward", self.reward_stats), ("return", self.return_stats)):
            if stats is not None and name in state["normalisers"]:
                stats.load_state_dict(state["normalisers"][name])
        for name, value in state.get("counters", {}).items():
            setattr(self, name, value)

    def save_models(self, path: str) -> None:
        """The controller's files and one file per part of :meth:`state_dict` (EPyMARL's layout)."""
        self.mac.save_models(path)
        state = self.state_dict()
        for name in ("critic", "target_critic", "optimisers", "normalisers", "counters"):
            atomic_torch_save(state[name], os.path.join(path, f"{name}.th"))

    def load_models(self, path: str) -> None:
        load = lambda name: torch.load(os.path.join(path, f"{name}.th"), map_location="cpu")  # noqa: E731
        self.mac.load_models(path)
        state = {name: load(name) for name in ("critic", "target_critic", "optimisers", "normalisers")}
        if os.path.exists(os.path.join(path, "counters.th")):  # checkpoints written before the counters were saved lack it
            state["counters"] = load("counters")
        self.load_state_dict(state)
