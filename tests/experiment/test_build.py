"""``experiment.build``: one place builds a run's buffer, controller and learner from a real env;
the env's info travels as an ``EnvInfo`` value and the learners' settings are frozen values."""

from __future__ import annotations

import dataclasses

import pytest

from components.env_info import EnvInfo
from experiment.build import build_run
from learners.lookahead_learner import LookaheadLearner
from learners.ppo_learner import PPOLearner
from learners.settings import LookaheadSettings, PPOSettings
from main import build_config
from run import make_args
from runners import REGISTRY as runner_registry
from tests.factories import FakeLogger

IMAGINED_UPDATE = {"epochs": "lka_epochs", "mini_batches": "lka_mini_batches", "entropy_coef": "lka_entropy_coef"}


def built(alg: str, env: str = "toy_game", tokens: tuple[str, ...] = (), **overrides):
    """``main.py --config=ALG --env-config=ENV with TOKENS`` and ``overrides``, built as ``run.py`` builds it."""
    config = build_config([f"--config={alg}", f"--env-config={env}", "with", *tokens])
    config.update(seed=1, batch_size_run=2, batch_size=2, buffer_size=2, hidden_dim=8, **overrides)
    args = make_args(config)
    runner = runner_registry[args.runner](args=args, logger=FakeLogger())
    try:
        return args, runner.get_env_info(), build_run(args, runner, FakeLogger())
    finally:
        runner.close_env()


def test_the_env_reaches_args_only_as_epymarls_three_sizes():
    args, raw, components = built("lookahead_mappo_toy", lka_epochs=3, lka_mini_batches=2, lka_entropy_coef=0.5)
    assert components.env_info == EnvInfo.from_env(raw)
    assert (args.n_agents, args.n_actions, args.state_shape) == (raw["n_agents"], raw["n_actions"], raw["state_shape"])
    for key in ("obs_shape", "episode_limit", "action_kind", "env_info"):
        assert not hasattr(args, key), key
    assert components.mac.real.continuous  # from the scheme's float actions, not from args
    assert components.buffer.scheme["actions"]["vshape"] == (raw["n_actions"],)


def test_lookaheads_parts_are_built_with_frozen_settings():
    args, _, components = built("lookahead_mappo_toy", lka_epochs=3, lka_mini_batches=2, lka_entropy_coef=0.5,
                                lookahead=True)
    learner = components.learner
    assert isinstance(learner, LookaheadLearner) and learner.enabled
    real, lookahead = learner.real.settings, learner.lookahead.settings
    assert real == PPOSettings.from_args(args) and learner.settings == LookaheadSettings.from_args(args)
    assert lookahead == dataclasses.replace(real, epochs=3, mini_batches=2, entropy_coef=0.5, advantage_estimator="gae",
                                            ppo_updates_per_batch=1)
    assert real.advantage_estimator == "vtrace"
    with pytest.raises(dataclasses.FrozenInstanceError):
        real.epochs = 7
    args.epochs = 99  # the config namespace changing later changes no learner
    assert learner.real.settings.epochs == real.epochs != 99


def test_a_registry_learner_is_built_with_epymarls_call():
    _, _, components = built("mappo", env="gymma", tokens=("env_args.key=toy", "env_args.time_limit=1"),
                             runner="episode", agent="mlp", obs_last_action=False)
    assert type(components.learner) is PPOLearner and components.learner.mac is components.mac
