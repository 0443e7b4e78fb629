"""Args for component tests, built the way ``run.py`` builds them for a real env."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from components.env_info import EnvInfo
from experiment.build import set_epymarl_sizes
from run import make_args
from utils.config import load_config


def make_test_args(env_info: dict, alg: str = "mappo", env: str = "gymma", **overrides) -> SimpleNamespace:
    """``algs/ALG.yaml`` over ``envs/ENV.yaml`` with ``seed=0`` and ``overrides``, sized by ``env_info``."""
    config = load_config(alg, env)
    config["seed"] = 0
    config.update(overrides)
    args = make_args(config)
    info = EnvInfo.from_env(env_info)
    set_epymarl_sizes(args, info)
    args.test_action_kind = info.action_kind  # the tests' own label of the env they size args for; no component reads it
    return args


class FakeLogger:
    """Records every ``log_stat`` call as ``(key, value, t)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, int]] = []

    def log_stat(self, key: str, value: float, t: int) -> None:
        self.calls.append((key, value, t))


def store_sampler_log_probs(learner, batch, lowered_by: float | torch.Tensor = 0.0) -> None:
    """Write into ``batch["log_prob"]`` (a batch of ``store_log_probs=True`` args) what a runner
    would have stored had it sampled the batch's actions from a policy mu with log mu = the learner's
    current log pi minus ``lowered_by`` (a number, or one per agent): pi / mu = e^lowered_by."""
    with torch.no_grad():
        log_probs = learner.mac.policy_distribution(learner.mac.unroll(batch)).log_prob(batch["actions"][:, :-1])
    log_probs = (log_probs - torch.as_tensor(lowered_by)) * batch["filled"][:, :-1]
    batch.update({"log_prob": log_probs.unsqueeze(-1)}, ts=slice(0, batch.max_seq_length - 1), mark_filled=False)
