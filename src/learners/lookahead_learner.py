"""Lookahead (Efficient Multi-Agent Cooperation Learning through Teammate Lookahead, Algorithms 1-2)
over a base learner: HAPPO (``happo_learner``), MAPPO or IPPO (``ppo_learner``).

Policy-gradient agents improve against their teammates' *current* policies pi^k but are then
evaluated with the *updated* ones pi^{k+1}. Lookahead predicts pi^{k+1} by one update inside a
learned model, samples the real data with that prediction pi~^{k+1}, and updates the real policy on
those data with an off-policy (V-trace) advantage of pi^k.

The paper's iteration k, and where each step happens in EPyMARL's loop (``runner.run()`` then
``learner.train(batch)``, unchanged): ``train`` runs them in this order, the paper's iteration
shifted by half a step, each step one labelled call:

    paper (Algorithm 1)                                here
    6: sample the real env with mu = pi~^{k+1},        runner.run() (the controller acts with pi~);
       pi^{k+1} = psi(pi~^{k+1}, pi^k)                 train: the base learner's real update
    7: add the data to the replay B                    train: ``_learn_model`` adds the batch to B
    4: model learning on B                             ... and trains ``mlearn_steps`` model steps
    5: imagine with the policy, one update -> pi~      train: pi~ <- pi^{k+1}, then ``_look_ahead``:
                                                       rollouts in the model, one update -> pi~^{k+2}

With ``model_train_during_rollout`` (an option that trades fidelity for time, off by default),
line 4 runs on a thread after line 5, beside the next ``runner.run()``, and the next line 5
imagines with that model: one iteration stale (``modules.world_models.background_training``).

Until the model has seen ``lka_warmup_steps`` real steps (and always with ``lookahead: False``) the
imagined update is skipped, pi~ = pi, and the run is the base learner's, number for number.
Test episodes and saved policies are pi's (``controllers.lookahead_controller``).

The real update is the base learner's with mu = pi~^{k+1}: by default the paper's operator
psi(mu, pi^k), J(pi, mu) within pi^k's trust region (``lka_trust_region: pi_k``; ``mu`` is the
authors' released code), with V-trace's advantage of pi^k (``learners.ppo_learner``,
``utils.returns.vtrace_policy_advantages``). It needs mu's log-probs as the runner stored them:
a batch without them is refused, never silently replaced by pi^k's. ``lka_model: env`` imagines
with the env's own batched dynamics where the env publishes them (the toy game): Lookahead
without model error.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import kl_divergence

from components.episode_buffer import EpisodeBatch
from components.interfaces import StatLogger
from controllers.lookahead_controller import LookaheadMAC
from learners.ppo_learner import PPOLearner, importance_weight
from learners.settings import LookaheadSettings
from modules.world_models.background_training import BackgroundTraining
from modules.world_models.model_trainer import ModelTrainer
from runners.imagined_runner import ImaginedRunner
from utils.checkpoint import atomic_torch_save
from utils.logging import log_if_due
from utils.random_stream import RandomStream
from utils.timehelper import timed


@dataclass
class LookaheadParts:
    """What Lookahead adds to its base learner: the lookahead copy's learner (pi~'s), the model's
    trainer (None with ``lka_model: env``), the imagined runner, the random stream they draw from,
    and (``model_train_during_rollout``) the thread that trains the model beside the rollouts."""

    lookahead: PPOLearner
    model_trainer: ModelTrainer | None
    imagined: ImaginedRunner
    random_stream: RandomStream
    background: BackgroundTraining | None = None


class LookaheadLearner:
    """A base learner plus Lookahead's parts (see the module docstring), all passed in (the
    experiment wiring builds them, ``experiment.lookahead``). ``parts`` None: ``lookahead: False``,
    the base learner alone."""

    def __init__(self, mac: LookaheadMAC, real: PPOLearner, parts: LookaheadParts | None, logger: StatLogger,
                 settings: LookaheadSettings) -> None:
        self.settings = settings
        self.mac = mac
        self.logger = logger
        self.real = real
        self.enabled = parts is not None
        self.real_steps = 0  # real transitions the model has seen
        self.log_stats_t = -settings.learner_log_interval - 1
        if parts is not None:
            self.lookahead, self.model_trainer = parts.lookahead, parts.model_trainer
            self.imagined, self.random_stream = parts.imagined, parts.random_stream
            self.background = parts.background

    # ------------------------------------------------------------------ one iteration
    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> dict[str, float]:
        """One iteration of the paper's Algorithm 1 (Algorithm 2 over HAPPO) on ``batch``, sampled
        in the real env by mu = pi~^{k+1}. EPyMARL's loop samples before it trains, so the
        iteration is shifted by half a step: line 6's update comes first, then lines 7, 4 and 5
        prepare pi~ for the next rollout. Returns the base learner's diagnostics and Lookahead's."""
        if not self.enabled:
            stats = self.real.train(batch, t_env, episode_num)
            self.mac.sync_lookahead()  # pi~ = pi: training episodes act with the updated policy
            return stats
        require_behaviour_log_probs(batch)
        stats: dict[str, float] = {}
        before = self._policies(batch) if self._diagnostics_due(t_env) else None
        with timed(stats, "time_real_update"):  # line 6: pi^{k+1} = psi(pi~^{k+1}, pi^k)
            real_stats = self.real.train(batch, t_env, episode_num)
        if before is not None:
            stats.update(self._kl_gap(batch, before))
        with self.random_stream.active():
            with timed(stats, "time_model"):  # lines 7 and 4: the data join B, the model learns on B
                stats.update(self._learn_model(batch))
            self._sync_lookahead()  # line 5 starts from the real policy: pi~ <- pi^{k+1}
            if self.real_steps >= self.settings.lka_warmup_steps:
                for step in range(self.settings.lka_steps):  # line 5: imagine with it, update once -> pi~^{k+2}
                    stats.update(self._look_ahead(batch, t_env, episode_num, last=step == self.settings.lka_steps - 1))
            if self.background is not None and len(self.model_trainer.train_buffer) > 0:
                self.background.start(self.settings.mlearn_steps)  # line 4 on B, beside the next rollout
        self._log(stats, t_env)
        return {**real_stats, **stats}

    def _diagnostics_due(self, t_env: int) -> bool:
        """Whether this call logs: the KL and rho diagnostics cost three extra passes over the batch."""
        return t_env - self.log_stats_t >= self.settings.learner_log_interval

    def _learn_model(self, batch: EpisodeBatch) -> dict[str, float]:
        """Add the batch's real transitions to the model's buffer and train ``mlearn_steps`` steps on
        it; the model's training losses and held-out ``model_val_*`` metrics. With
        ``model_train_during_rollout`` the steps ran beside the rollout that collected ``batch``, on
        the data before it: wait for them here (``train`` starts the next after the imagined update)."""
        if self.model_trainer is None:  # lka_model: env, nothing to learn
            self.real_steps += int(batch["filled"][:, :-1].sum().item())
            return {}
        stats = dict(self.background.wait()) if self.background is not None else {}
        self.real_steps += self.model_trainer.add_episodes(batch)
        if self.background is None and len(self.model_trainer.train_buffer) > 0:  # a tiny first batch: all held out?
            stats.update(self.model_trainer.train_steps(self.settings.mlearn_steps))
        validation = self.model_trainer.validation_metrics()
        stats.update({key.replace("model_", "model_val_", 1): value for key, value in validation.items()})
        return stats

    def _look_ahead(self, batch: EpisodeBatch, t_env: int, episode_num: int, last: bool) -> dict[str, float]:
        """Roll pi~ out in the model from recent real states and update it once on those rollouts.
        Only pi~ is kept from the ``last`` of an iteration's lookahead steps (the next ``_sync_lookahead``
        replaces the lookahead copy's critic), so that update skips the critic steps nothing reads;
        an earlier step's critic gives the next step its advantages."""
        stats: dict[str, float] = {}
        with timed(stats, "time_imagination"):
            imagined = self.imagined.run(*self._start_states(batch))
        stats["imagined_return"] = imagined_return(imagined)
        with timed(stats, "time_lookahead_update"):
            self.lookahead.train(imagined, t_env, episode_num, critic_discarded=last)
        return stats

    def _sync_lookahead(self) -> None:
        """pi~ <- pi: actor weights, and deep copies of the critics, optimisers and normalisers."""
        self.mac.sync_lookahead()
        self.lookahead.load_state_dict(copy.deepcopy(self.real.state_dict()))

    def _start_states(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``lka_rollouts`` states and observations of the newest real data, drawn without
        replacement (with, when there are fewer): states the agents acted in (filled steps), the
        last one of an episode included (a one-step episode has no other); never a final state,
        whose slot is unfilled."""
        rows, steps = (batch["filled"][:, :-1, 0] > 0).nonzero(as_tuple=True)
        n = self.settings.lka_rollouts
        device = rows.device
        if len(rows) >= n:
            pick = torch.randperm(len(rows), device=device)[:n]
        else:
            pick = torch.randint(len(rows), (n,), device=device)
        rows, steps = rows[pick], steps[pick]
        return batch["state"][rows, steps], batch["obs"][rows, steps]

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def _policies(self, batch: EpisodeBatch) -> dict[str, Any]:
        """pi^k (the real policy before the update) and mu = pi~^{k+1} (the sampler) on ``batch``."""
        real, lookahead = self.mac.real, self.mac.lookahead
        return {
            "pi_k": real.policy_distribution(real.unroll(batch)),
            "mu": lookahead.policy_distribution(lookahead.unroll(batch)),
        }

    @torch.no_grad()
    def _kl_gap(self, batch: EpisodeBatch, before: dict[str, Any]) -> dict[str, float]:
        """The paper's Fig. 4 diagnostic on the real states, over agents and per agent:
        ``kl_gap = KL(pi^{k+1} || pi^k) - KL(pi^{k+1} || pi~^{k+1})``, positive where the lookahead
        policy predicted the update (pi^{k+1} ended nearer pi~ than where it started); and the
        importance weights rho = pi^k(a) / mu(a) of the actions taken, joint (product over agents)
        and per agent: mean of min(1, rho), fraction above 1. An agent whose prediction points the
        wrong way shows a negative ``kl_gap_agent{i}`` that the mean over agents can hide.
        The paper writes ``D_KL(pi^{k+1}, pi^k)`` without saying which argument the expectation is
        under; the authors' released code takes it under the earlier policies, so
        ``kl_gap_reverse = KL(pi^k || pi^{k+1}) - KL(pi~^{k+1} || pi^{k+1})`` is logged beside it (the
        two agree to second order in the step; they part where the steps are large)."""
        real = self.mac.real
        updated = real.policy_distribution(real.unroll(batch))
        mask = batch["filled"][:, :-1].float()  # [B, T, 1]
        valid = mask.sum().clamp(min=1)
        per_agent = lambda x: (x * mask).sum(dim=(0, 1)) / valid  # noqa: E731  [B, T, n] -> [n]
        to_old = kl_divergence(updated, before["pi_k"])  # [B, T, n_agents]
        to_lookahead = kl_divergence(updated, before["mu"])
        from_old = kl_divergence(before["pi_k"], updated)
        from_lookahead = kl_divergence(before["mu"], updated)
        actions = batch["actions"][:, :-1]
        log_rho = before["pi_k"].log_prob(actions) - before["mu"].log_prob(actions)  # [B, T, n_agents]
        joint_rho = importance_weight(log_rho.sum(-1, keepdim=True), None)
        rho = importance_weight(log_rho, None)
        gap = per_agent(to_old - to_lookahead)
        stats = {
            "kl_updated_to_old": per_agent(to_old).mean().item(),
            "kl_updated_to_lookahead": per_agent(to_lookahead).mean().item(),
            "kl_gap": gap.mean().item(),
            "kl_old_to_updated": per_agent(from_old).mean().item(),
            "kl_lookahead_to_updated": per_agent(from_lookahead).mean().item(),
            "kl_gap_reverse": per_agent(from_old - from_lookahead).mean().item(),
            "rho_mean": per_agent(joint_rho.clamp(max=1.0)).item(),
            "rho_clipped_fraction": per_agent((joint_rho > 1.0).float()).item(),
        }
        rho_mean = per_agent(rho.clamp(max=1.0))
        for agent in range(gap.shape[0]):
            stats[f"kl_gap_agent{agent}"] = gap[agent].item()
            stats[f"rho_mean_agent{agent}"] = rho_mean[agent].item()
        return stats

    def _log(self, stats: dict[str, float], t_env: int) -> None:
        self.log_stats_t = log_if_due(self.logger, stats, t_env, self.log_stats_t, self.settings.learner_log_interval)

    # ------------------------------------------------------------------ devices and checkpoints
    def _model_at_rest(self) -> None:
        """Wait for the model's background training, if any, before the model is read or moved."""
        if self.enabled and self.background is not None:
            self.background.wait()

    def cuda(self) -> None:
        self._model_at_rest()
        self.real.cuda()
        if self.enabled:
            self.lookahead.cuda()
            if self.model_trainer is not None:
                self.model_trainer.to("cuda")

    def save_models(self, path: str) -> None:
        """The base learner's files (the real policy), plus ``lookahead.th``: the model with its
        normalisers and optimiser, the lookahead actors and their learner state (the model's background
        training, if running, is waited for first)."""
        self._model_at_rest()
        self.real.save_models(path)
        if self.enabled:
            state = {
                "model_trainer": None if self.model_trainer is None else self.model_trainer.state_dict(),
                "lookahead_agent": self.mac.lookahead.agent.state_dict(),
                "lookahead_learner": self.lookahead.state_dict(),
                "real_steps": self.real_steps,
                "background": None if self.background is None else self.background.state_dict(),
            }
            atomic_torch_save(state, os.path.join(path, "lookahead.th"))

    def load_models(self, path: str) -> None:
        self._model_at_rest()
        self.real.load_models(path)
        self.mac.sync_lookahead()
        lookahead_file = os.path.join(path, "lookahead.th")
        if self.enabled and os.path.exists(lookahead_file):
            state = torch.load(lookahead_file, map_location="cpu")
            if self.model_trainer is not None:
                self.model_trainer.load_state_dict(state["model_trainer"])
            self.mac.lookahead.agent.load_state_dict(state["lookahead_agent"])
            self.lookahead.load_state_dict(state["lookahead_learner"])
            self.real_steps = state["real_steps"]
            if self.background is not None and state.get("background") is not None:
                self.background.load_state_dict(state["background"])


def require_behaviour_log_probs(batch: EpisodeBatch) -> None:
    """Refuse a batch without the sampler's stored log-probs: mu would otherwise silently be pi^k."""
    if "log_prob" not in batch.scheme:
        raise ValueError("Lookahead's real update needs the behaviour log-probs of pi~ stored with the batch "
                         "(store_log_probs=True); without them mu would silently be pi^k")


def imagined_return(batch: EpisodeBatch) -> float:
    """Mean over imagined rollouts of their summed (team) reward."""
    mask = batch["filled"][:, :-1].float()
    return (batch["reward"][:, :-1] * mask).sum(dim=(1, 2)).mean().item()
