"""Building Lookahead's learner: the base learner of the real policy and, with ``lookahead: True``,
Lookahead's parts (the lookahead copy's learner, the model or the env's dynamics, the imagined
runner), all from the config and the env's info, handed to ``learners.lookahead_learner``.

The parts are built on Lookahead's own random stream (seeded ``seed + 1``), so building them draws
no number the run would have drawn: with ``lookahead: False`` or before ``lka_warmup_steps`` a run
is its base learner's, number for number.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch

from components.env_info import EnvInfo
from components.interfaces import StatLogger
from components.scheme import build_scheme
from controllers.lookahead_controller import LookaheadMAC
from learners.happo_learner import HAPPOLearner
from learners.lookahead_learner import LookaheadLearner, LookaheadParts
from learners.ppo_learner import PPOLearner
from learners.settings import LookaheadSettings, PPOSettings, imagined_update_settings
from modules.world_models.background_training import BackgroundTraining
from modules.world_models.dynamics_model import DynamicsModel
from modules.world_models.env_dynamics import EnvDynamics
from modules.world_models.model_trainer import ModelTrainer
from runners.imagined_runner import ImaginedRunner
from utils.config import ConfigError
from utils.logging import PrefixedLogger
from utils.random_stream import RandomStream

BASE_LEARNERS = {"happo_learner": HAPPOLearner, "ppo_learner": PPOLearner}
"""The learners Lookahead wraps (``lka_base_learner``)."""
IMAGINED_RUNNERS = {"imagined": ImaginedRunner}
"""What rolls the lookahead policy out in the model (``lka_runner``); no runner of a real env."""


def build_lookahead_learner(mac: LookaheadMAC, scheme: Mapping[str, Any], logger: StatLogger,
                            args: SimpleNamespace, env_info: EnvInfo) -> LookaheadLearner:
    """``learner: lookahead_learner``: the base learner of pi (``lka_base_learner``) and, with
    ``lookahead: True``, Lookahead's parts."""
    base = BASE_LEARNERS[args.lka_base_learner]
    real = base(mac.real, scheme, logger, args)
    settings = LookaheadSettings.from_args(args)
    if not args.lookahead:
        return LookaheadLearner(mac, real, None, logger, settings)
    cuda_devices = list(range(torch.cuda.device_count())) if str(args.device).startswith("cuda") else []
    random_stream = RandomStream(args.seed + 1, cuda_devices)  # Lookahead's own, apart from the run's
    with random_stream.active():
        imagined_settings = imagined_update_settings(PPOSettings.from_args(args), args)
        lookahead = base(mac.lookahead, scheme, PrefixedLogger(logger, "lka_"), args, settings=imagined_settings)
        model, model_trainer = imagination_model(args, env_info)
        background = None  # the model trained beside the rollouts, on a stream of its own
        if args.model_train_during_rollout and model_trainer is not None:
            background = BackgroundTraining(model_trainer, seed=args.seed + 2)
        imagined = IMAGINED_RUNNERS[args.lka_runner](args=args, logger=logger)
        imagined.setup(*build_scheme(env_info, args), mac.lookahead, model)
    return LookaheadLearner(mac, real, LookaheadParts(lookahead, model_trainer, imagined, random_stream, background),
                            logger, settings)


def imagination_model(args: SimpleNamespace, env_info: EnvInfo) -> tuple[Any, ModelTrainer | None]:
    """What the imagined rollouts step through, and its trainer: the learned dynamics model, or with
    ``lka_model: env`` the env's published dynamics (nothing to train)."""
    reward_dim = env_info.reward_dim(args.common_reward)
    if args.lka_model == "env":
        if "true_dynamics" not in env_info:
            raise ConfigError(
                f"bad value for 'lka_model': 'env'; allowed: learned (env_args.key="
                f"{args.env_args.get('key')!r} publishes no batched dynamics; 'env' needs an env that "
                "does, e.g. the toy game)")
        return EnvDynamics(env_info["true_dynamics"], reward_dim), None
    model = DynamicsModel.from_env_info(
        env_info, reward_dim, n_models=args.model_n_models, hidden_dim=args.model_hidden_dim,
        hidden_layers=args.model_hidden_layers, symlog_rewards=args.model_symlog_rewards,
    ).to(args.device)
    return model, ModelTrainer(
        model, lr=args.model_lr, batch_size=args.model_batch_size, buffer_size=args.model_buffer_size,
        buffer_device=args.device,  # the FIFOs beside the model: no mini-batch crosses devices
        early_stop=args.model_early_stop, early_stop_interval=args.model_early_stop_interval,
        early_stop_patience=args.model_early_stop_patience, early_stop_tolerance=args.model_early_stop_tolerance,
        compile_loss=args.model_compile, fused_adam=args.adam_fused,
    )
