"""The learners' settings as typed, frozen values, read from the run's config once.

EPyMARL's learners read ``self.args.<key>`` from a namespace that anything holding it may change.
Here a learner reads its update's settings from one frozen :class:`PPOSettings` built when it is
constructed (``PPOSettings.from_args``); a variant with other values is a new value
(``dataclasses.replace``), as Lookahead's imagined update is: the base learner's settings with
its own epochs, mini-batches, entropy bonus and advantage. The yaml keys and their names are
EPyMARL's (and the core's ``default.yaml``); nothing about the command line changes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import SimpleNamespace
from typing import Any, TypeVar

from learners.minibatches import uses_transitions

T = TypeVar("T")


@dataclass(frozen=True)
class PPOSettings:
    """What one PPO / HAPPO update does (each field is the config key of the same name, except
    ``actor_lr`` / ``critic_lr``, resolved to ``lr`` where the config leaves them null, and
    ``transition_minibatches``, what ``mini_batch_unit`` means for this run's agents)."""

    gamma: float
    actor_lr: float
    critic_lr: float
    adam_eps: float
    adam_fused: bool
    grad_norm_clip: float
    epochs: int
    mini_batches: int
    transition_minibatches: bool
    ppo_updates_per_batch: int
    eps_clip: float
    entropy_coef: float
    advantage_estimator: str
    vtrace_ratio: str
    q_nstep: int
    gae_lambda: float
    normalise_advantages: bool
    standardise_rewards: bool
    standardise_returns: bool
    value_loss: str
    huber_delta: float
    value_clip: float
    target_update_interval_or_tau: float
    lka_trust_region: str
    lka_weight_clip: float | None
    common_reward: bool
    learner_log_interval: int
    device: str

    @classmethod
    def from_args(cls, args: SimpleNamespace) -> PPOSettings:
        return _from_config(
            cls, args,
            actor_lr=args.lr if args.actor_lr is None else args.actor_lr,
            critic_lr=args.lr if args.critic_lr is None else args.critic_lr,
            transition_minibatches=uses_transitions(args),
            device=str(args.device),
        )


@dataclass(frozen=True)
class LookaheadSettings:
    """What Lookahead does around its base learner's update (the config keys of the same names):
    how many imagined updates per iteration (``lka_steps``), from how many imagined rollouts, after
    how many real steps, and how many model steps per iteration."""

    lka_steps: int
    lka_rollouts: int
    lka_warmup_steps: int
    mlearn_steps: int
    learner_log_interval: int

    @classmethod
    def from_args(cls, args: SimpleNamespace) -> LookaheadSettings:
        return _from_config(cls, args)


def imagined_update_settings(base: PPOSettings, args: SimpleNamespace) -> PPOSettings:
    """The base learner's settings for Lookahead's imagined update: its own epochs, mini-batches and
    entropy bonus (``lka_*``), plain GAE and one trust-region update (imagined data are on-policy:
    the paper's one policy update inside the model, Algorithm 1 line 5)."""
    return replace(base, epochs=args.lka_epochs, mini_batches=args.lka_mini_batches,
                   entropy_coef=args.lka_entropy_coef, advantage_estimator="gae", ppo_updates_per_batch=1)



def _from_config(cls: type[T], args: SimpleNamespace, **derived: Any) -> T:
    """An instance of the settings class ``cls`` whose fields are the config keys of the same names,
    but for the ``derived`` ones."""
    return cls(**{f.name: derived[f.name] if f.name in derived else getattr(args, f.name) for f in fields(cls)})
