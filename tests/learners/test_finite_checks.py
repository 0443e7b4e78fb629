"""``utils.finite_checks`` in the learners: a NaN or infinity stops the update where it is born.

Real learners (MAPPO, HAPPO, Lookahead-MAPPO's imagined learner) on small hand-built batches:
a NaN reward, a learning rate that blows the actors up, a NaN parameter. Each stops with a
:class:`NonFiniteError` naming the learner and the quantity, before the optimiser step, so no
NaN reaches the parameters.
"""

from __future__ import annotations

import pytest
import torch

from components.env_info import EnvInfo
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment.build import build_learner
from tests.factories import FakeLogger, make_test_args
from utils.finite_checks import NonFiniteError, StepChecks, check_update

N_AGENTS, N_ACTIONS, EPISODE_LIMIT = 2, 3, 5
ENV_INFO = {"n_agents": N_AGENTS, "obs_shape": 4, "state_shape": 6, "n_actions": N_ACTIONS,
            "episode_limit": EPISODE_LIMIT, "action_kind": "discrete"}
LENGTHS = (5, 3, 4, 2)
SMALL = {"hidden_dim": 16, "epochs": 2, "mini_batches": 1, "lka_epochs": 1, "lka_mini_batches": 1, "lka_rollouts": 8,
         "lka_horizon": 3, "mlearn_steps": 5, "model_hidden_dim": 16, "model_hidden_layers": 1, "model_batch_size": 16,
         "lka_warmup_steps": 0}


def build(alg: str, **overrides):
    """The learner of ``algs/<alg>.yaml`` (+ small sizes, ``overrides``) and its args, as ``run.py`` builds them."""
    args = make_test_args(ENV_INFO, alg=alg, **{**SMALL, **overrides})
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(0)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    return build_learner(mac, buffer_scheme, FakeLogger(), args, EnvInfo.from_env(ENV_INFO)), args


def make_batch(args, nan_reward_at: int | None = None, seed: int = 0) -> EpisodeBatch:
    """Episodes of ``LENGTHS`` (the short ones terminate), random data; reward NaN at step
    ``nan_reward_at`` of the first episode if given."""
    scheme, groups, preprocess = build_scheme(ENV_INFO, args)
    batch = EpisodeBatch(scheme, groups, len(LENGTHS), EPISODE_LIMIT + 1, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    for b, length in enumerate(LENGTHS):
        batch.update(
            {
                "obs": torch.randn(length + 1, N_AGENTS, ENV_INFO["obs_shape"], generator=g),
                "state": torch.randn(length + 1, ENV_INFO["state_shape"], generator=g),
                "avail_actions": torch.ones(length + 1, N_AGENTS, N_ACTIONS, dtype=torch.int),
            },
            bs=b, ts=slice(0, length + 1), mark_filled=False,
        )
        rewards = torch.randn(length, 1, generator=g)
        if b == 0 and nan_reward_at is not None:
            rewards[nan_reward_at] = float("nan")
        terminated = torch.zeros(length, 1)
        terminated[-1] = float(length < EPISODE_LIMIT)
        actions = torch.randint(N_ACTIONS, (length, N_AGENTS, 1), generator=g)
        batch.update({"actions": actions, "reward": rewards, "terminated": terminated}, bs=b, ts=slice(0, length))
    return batch


def parameters(learner) -> list[torch.Tensor]:
    return [*learner.mac.parameters(), *learner.critic.parameters()]


def test_mappo_stops_at_a_nan_reward_before_any_parameter_changes():
    learner, args = build("mappo")
    before = [p.detach().clone() for p in parameters(learner)]

    with pytest.raises(NonFiniteError) as caught:
        learner.train(make_batch(args, nan_reward_at=1), t_env=120, episode_num=4)

    error = caught.value
    assert (error.learner, error.quantity) == ("PPOLearner", "critic loss")
    assert str(error.at(120)) == "non-finite critic loss (nan) in PPOLearner at t_env=120; the run stops at this update"
    assert "\n" not in str(error)
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(learner)))  # the NaN never reached them


def test_happo_stops_when_a_huge_learning_rate_makes_the_actors_produce_nan():
    learner, args = build("happo", actor_lr=1e20, critic_lr=1e-3)
    batch = make_batch(args)

    with pytest.raises(NonFiniteError) as caught:
        for _ in range(5):
            learner.train(batch, t_env=0, episode_num=0)

    assert caught.value.learner == "HAPPOLearner"
    assert caught.value.quantity.startswith("actor of agent "), caught.value.quantity
    assert all(torch.isfinite(p).all() for p in parameters(learner))  # huge, but never NaN


def test_lookahead_names_its_imagined_learner():
    learner, args = build("lookahead_mappo")

    learner.train(make_batch(args), t_env=0, episode_num=0)  # finite data: both updates run
    with pytest.raises(NonFiniteError) as caught:
        learner.lookahead.train(make_batch(args, nan_reward_at=0), t_env=200, episode_num=8)

    assert caught.value.learner == "PPOLearner (logging as lka_*)"


def test_parameters_and_gradient_norms_are_checked_and_large_finite_values_pass():
    learner, _ = build("mappo")
    params = list(learner.critic.parameters())
    finite = torch.tensor(1e30)
    check_update(learner, "critic", finite, finite, params)  # diverging but finite: the user's business

    with pytest.raises(NonFiniteError, match=r"non-finite critic gradient norm \(inf\) in PPOLearner"):
        check_update(learner, "critic", finite, torch.tensor(float("inf")), params)
    with torch.no_grad():
        params[-1][0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"non-finite critic parameters \(1 non-finite values\)"):
        check_update(learner, "critic", finite, finite, params)


def test_a_parts_parameters_are_checked_at_its_first_step_in_an_update():
    """An Adam step from finite parameters with a finite gradient keeps them finite: what makes them
    non-finite is a copy or a load between updates, which the next update's first step sees."""
    learner, _ = build("mappo")
    params = list(learner.critic.parameters())
    one = torch.tensor(1.0)
    checks = StepChecks(learner)
    checks.step("critic", one, one, params)
    with torch.no_grad():
        params[-1][0] = float("nan")
    checks.step("critic", one, one, params)  # not scanned again within this update
    with pytest.raises(NonFiniteError, match="non-finite actor parameters"):
        checks.step("actor", one, one, params)  # another part's first step scans
    with pytest.raises(NonFiniteError, match="non-finite critic parameters"):
        StepChecks(learner).step("critic", one, one, params)  # the next update's first step


def test_deferred_checks_stop_the_update_with_the_same_line(monkeypatch):
    """Where flags are read back once per update (any device but the CPU; forced here), a NaN still
    stops the run with the step's one line, when the update ends."""
    monkeypatch.setattr(StepChecks, "checked_at_once_on", ())
    learner, args = build("mappo")
    with pytest.raises(NonFiniteError) as caught:
        learner.train(make_batch(args, nan_reward_at=1), t_env=120, episode_num=4)
    assert (caught.value.learner, caught.value.quantity) == ("PPOLearner", "critic loss")
    checks = StepChecks(learner)
    checks.step("actor", torch.tensor(1.0), torch.tensor(float("inf")), [torch.zeros(2)])
    assert checks.pending  # kept, not read
    with pytest.raises(NonFiniteError, match="non-finite actor gradient norm"):
        checks.finish()
