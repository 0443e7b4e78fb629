"""Lookahead (Efficient Multi-Agent Cooperation Learning through Teammate Lookahead, Algorithms 1-2)
over a base learner: HAPPO (``happo_learner``), MAPPO or IPPO (``ppo_learner``).

Policy-gradient agents improve against their teammates' *current* policies pi^k but are then
evaluated with the *updated* ones pi^{k+1}. Lookahead predicts pi^{k+1} by one update inside a
learned model, samples the real data with that prediction pi~^{k+1}, and updates the real policy on
those data with an off-policy (V-trace) advantage of pi^k.

The paper's iteration k, and where each step happens in EPyMARL's loop (``runner.run()`` then
``learner.train(batch)``, unchanged), one ``train`` call running them shifted by half an iteration:

    paper (Alg. 1)                                    here, in train(batch sampled by pi~^{k+1})
    4: model learning on the replay B                 (b) B += batch; ``mlearn_steps`` model steps
    5: imagine with pi^k, one update -> pi~^{k+1}     (c) pi~ <- pi^{k+1} (weights, optimiser,
                                                          normalisers);  (d) imagine with it and
                                                          update the copy once -> pi~^{k+2}
    6: sample real data with mu = pi~^{k+1};          runner.run() (the controller acts with pi~);
       maximise J(pi, mu) from pi^k -> pi^{k+1}       (a) the base learner's update with the V-trace
                                                          advantage of pi^k, ratio and HAPPO's M vs mu
    7: add the data to B                              (b)

Until the model has seen ``lka_warmup_steps`` real steps (and always with ``lookahead: False``) the
imagined update is skipped, pi~ = pi, and the run is the base learner's, number for number.
Test episodes and saved policies are pi's (``controllers.lookahead_controller``).

The real update (a) is the base learner's with mu = pi~^{k+1}: by default the paper's operator
psi(mu, pi^k), J(pi, mu) within pi^k's trust region (``lka_trust_region: pi_k``; ``mu`` is the
authors' released code), with V-trace's advantage of pi^k (``learners.ppo_learner``,
``utils.returns.vtrace_policy_advantages``). It needs mu's log-probs as the runner stored them:
a batch without them is refused, never silently replaced by pi^k's. ``lka_model: env`` imagines
with the env's own batched dynamics where the env publishes them (the toy game): Lookahead
without model error.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from types import SimpleNamespace
from typing import Any, Iterator, Mapping

import torch
from torch.distributions import kl_divergence

from components.episode_buffer import EpisodeBatch
from modules.world_models.dynamics_model import DynamicsModel
from modules.world_models.env_dynamics import EnvDynamics
from modules.world_models.model_trainer import ModelTrainer
from utils.checkpoint import atomic_torch_save
from utils.config import ConfigError
from utils.logging import PrefixedLogger, log_if_due


def lookahead_args(args: SimpleNamespace) -> SimpleNamespace:
    """The base learner's settings for the imagined update: its own epochs, mini-batches and
    entropy bonus; plain GAE and one trust-region update (imagined data are on-policy: the paper's
    one policy update inside the model)."""
    return SimpleNamespace(
        **{
            **vars(args),
            "epochs": args.lka_epochs,
            "mini_batches": args.lka_mini_batches,
            "entropy_coef": args.lka_entropy_coef,
            "advantage_estimator": "gae",
            "ppo_updates_per_batch": 1,
        }
    )


class LookaheadLearner:
    """A base learner plus a dynamics model and a lookahead copy of it (see the module docstring)."""

    def __init__(self, mac: Any, scheme: Mapping[str, Any], logger: Any, args: SimpleNamespace) -> None:
        from learners import REGISTRY as learner_registry  # the base learners are registered beside this one
        from run import build_scheme
        from runners import REGISTRY as runner_registry

        self.args = args
        self.mac = mac
        self.logger = logger
        self.real = learner_registry[args.lka_base_learner](mac.real, scheme, logger, args)
        self.enabled = args.lookahead
        self.real_steps = 0  # real transitions the model has seen
        self.log_stats_t = -args.learner_log_interval - 1
        if not self.enabled:
            return
        self._cuda_devices = list(range(torch.cuda.device_count())) if str(args.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=self._cuda_devices):
            torch.manual_seed(args.seed + 1)  # Lookahead's own stream, seeded apart from the run's
            self._rng_state = self._capture_rng_state()
        with self._own_random_stream():  # the extra parts draw no numbers from the run's stream
            imagined_args = lookahead_args(args)
            self.lookahead = learner_registry[args.lka_base_learner](
                mac.lookahead, scheme, PrefixedLogger(logger, "lka_"), imagined_args
            )
            reward_dim = 1 if args.common_reward else args.n_agents
            self.model_trainer: ModelTrainer | None = None
            if args.lka_model == "env":
                if "true_dynamics" not in args.env_info:
                    raise ConfigError(
                        f"bad value for 'lka_model': 'env'; allowed: learned (env_args.key="
                        f"{args.env_args.get('key')!r} publishes no batched dynamics; 'env' needs an env that "
                        "does, e.g. the toy game)")
                model: Any = EnvDynamics(args.env_info["true_dynamics"], reward_dim)
            else:
                model = DynamicsModel.from_env_info(
                    args.env_info, reward_dim, n_models=args.model_n_models, hidden_dim=args.model_hidden_dim,
                    hidden_layers=args.model_hidden_layers, symlog_rewards=args.model_symlog_rewards,
                ).to(args.device)
                self.model_trainer = ModelTrainer(
                    model, lr=args.model_lr, batch_size=args.model_batch_size, buffer_size=args.model_buffer_size,
                )
            self.imagined = runner_registry[args.lka_runner](args=imagined_args, logger=logger)
            scheme, groups, preprocess = build_scheme(args.env_info, args)
            self.imagined.setup(scheme, groups, preprocess, mac.lookahead, model)

    # ------------------------------------------------------------------ one iteration
    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> dict[str, float]:
        """(a) real update, (b) model learning, (c) sync pi~ <- pi, (d) imagined update of pi~;
        returns the base learner's diagnostics and Lookahead's."""
        if not self.enabled:
            stats = self.real.train(batch, t_env, episode_num)
            self.mac.sync_lookahead()  # pi~ = pi: training episodes act with the updated policy
            return stats
        if "log_prob" not in batch.scheme:
            raise ValueError("Lookahead's real update needs the behaviour log-probs of pi~ stored with the batch "
                             "(store_log_probs=True); without them mu would silently be pi^k")
        log_due = t_env - self.log_stats_t >= self.args.learner_log_interval  # the KL diagnostics cost 3 unrolls
        before = self._policies(batch) if log_due else None
        clock = time.perf_counter()
        real_stats = self.real.train(batch, t_env, episode_num)  # (a); the base learner logs these itself
        stats = {"time_real_update": time.perf_counter() - clock}
        if log_due:
            stats.update(self._kl_gap(batch, before))
        with self._own_random_stream():
            stats.update(self._learn_model_and_look_ahead(batch, t_env, episode_num))
        self._log(stats, t_env)
        return {**real_stats, **stats}

    def _learn_model_and_look_ahead(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> dict[str, float]:
        """(b) model learning, (c) sync, (d) imagined update; returns their diagnostics."""
        stats: dict[str, float] = {}
        clock = time.perf_counter()  # (b)
        if self.model_trainer is None:  # lka_model: env, nothing to learn
            self.real_steps += int(batch["filled"][:, :-1].sum().item())
        else:
            self.real_steps += self.model_trainer.add_episodes(batch)
            if len(self.model_trainer.train_buffer) > 0:  # a tiny first batch may all be held out for validation
                stats.update(self.model_trainer.train_steps(self.args.mlearn_steps))  # model_* training losses
            validation = self.model_trainer.validation_metrics()  # model_* on held-out real transitions
            stats.update({key.replace("model_", "model_val_", 1): value for key, value in validation.items()})
        stats["time_model"] = time.perf_counter() - clock

        self._sync_lookahead()  # (c)
        if self.real_steps >= self.args.lka_warmup_steps:  # (d)
            for _ in range(self.args.lka_steps):
                clock = time.perf_counter()
                imagined = self.imagined.run(*self._start_states(batch))
                stats["time_imagination"] = time.perf_counter() - clock
                stats["imagined_return"] = imagined_return(imagined)
                clock = time.perf_counter()
                self.lookahead.train(imagined, t_env, episode_num)
                stats["time_lookahead_update"] = time.perf_counter() - clock
        return stats

    @contextlib.contextmanager
    def _own_random_stream(self) -> Iterator[None]:
        """Run the block on Lookahead's own torch random stream and give the run's back untouched:
        the model's mini-batches, the start states, the imagined actions and the lookahead update's
        shuffles draw no number the runner or the real learner would have drawn, so until the first
        imagined update (and its effect on pi~) the run is the base learner's, number for number."""
        with torch.random.fork_rng(devices=self._cuda_devices):
            torch.random.set_rng_state(self._rng_state["cpu"])
            for device, state in zip(self._cuda_devices, self._rng_state["cuda"]):
                torch.cuda.set_rng_state(state, device)
            try:
                yield
            finally:
                self._rng_state = self._capture_rng_state()

    def _capture_rng_state(self) -> dict[str, Any]:
        """The current torch random states: the CPU's and each used CUDA device's."""
        return {"cpu": torch.random.get_rng_state(), "cuda": [torch.cuda.get_rng_state(d) for d in self._cuda_devices]}

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
        n = self.args.lka_rollouts
        pick = torch.randperm(len(rows))[:n] if len(rows) >= n else torch.randint(len(rows), (n,))
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
        wrong way shows a negative ``kl_gap_agent{i}`` that the mean over agents can hide."""
        real = self.mac.real
        updated = real.policy_distribution(real.unroll(batch))
        mask = batch["filled"][:, :-1].float()  # [B, T, 1]
        valid = mask.sum().clamp(min=1)
        per_agent = lambda x: (x * mask).sum(dim=(0, 1)) / valid  # noqa: E731  [B, T, n] -> [n]
        to_old = kl_divergence(updated, before["pi_k"])  # [B, T, n_agents]
        to_lookahead = kl_divergence(updated, before["mu"])
        actions = batch["actions"][:, :-1]
        log_rho = before["pi_k"].log_prob(actions) - before["mu"].log_prob(actions)  # [B, T, n_agents]
        joint_rho = log_rho.sum(-1, keepdim=True).clamp(max=30.0).exp()
        rho = log_rho.clamp(max=30.0).exp()
        gap = per_agent(to_old - to_lookahead)
        stats = {
            "kl_updated_to_old": per_agent(to_old).mean().item(),
            "kl_updated_to_lookahead": per_agent(to_lookahead).mean().item(),
            "kl_gap": gap.mean().item(),
            "rho_mean": per_agent(joint_rho.clamp(max=1.0)).item(),
            "rho_clipped_fraction": per_agent((joint_rho > 1.0).float()).item(),
        }
        rho_mean = per_agent(rho.clamp(max=1.0))
        for agent in range(gap.shape[0]):
            stats[f"kl_gap_agent{agent}"] = gap[agent].item()
            stats[f"rho_mean_agent{agent}"] = rho_mean[agent].item()
        return stats

    def _log(self, stats: dict[str, float], t_env: int) -> None:
        self.log_stats_t = log_if_due(self.logger, stats, t_env, self.log_stats_t, self.args.learner_log_interval)

    # ------------------------------------------------------------------ devices and checkpoints
    def cuda(self) -> None:
        self.real.cuda()
        if self.enabled:
            self.lookahead.cuda()
            if self.model_trainer is not None:
                self.model_trainer.to("cuda")

    def save_models(self, path: str) -> None:
        """The base learner's files (the real policy), plus ``lookahead.th``: the model with its
        normalisers and optimiser, the lookahead actors and their learner state."""
        self.real.save_models(path)
        if self.enabled:
            state = {
                "model_trainer": None if self.model_trainer is None else self.model_trainer.state_dict(),
                "lookahead_agent": self.mac.lookahead.agent.state_dict(),
                "lookahead_learner": self.lookahead.state_dict(),
                "real_steps": self.real_steps,
            }
            atomic_torch_save(state, os.path.join(path, "lookahead.th"))

    def load_models(self, path: str) -> None:
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


def imagined_return(batch: EpisodeBatch) -> float:
    """Mean over imagined rollouts of their summed (team) reward."""
    mask = batch["filled"][:, :-1].float()
    return (batch["reward"][:, :-1] * mask).sum(dim=(1, 2)).mean().item()
