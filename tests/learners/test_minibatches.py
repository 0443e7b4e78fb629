"""Mini-batches of whole episodes or of shuffled transitions (``learners.minibatches``)."""

from __future__ import annotations

import math

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_registry
from experiment.config_checks import check_config
from learners.happo_learner import HAPPOLearner
from learners.minibatches import minibatches, uses_transitions
from tests.factories import FakeLogger, make_test_args
from utils.config import ConfigError, load_config

N_AGENTS, OBS_DIM, ACTIONS = 2, 3, 4
INFO = {
    "n_agents": N_AGENTS, "n_actions": ACTIONS, "state_shape": 5, "obs_shape": OBS_DIM, "episode_limit": 6,
    "action_kind": "discrete",
}


def batch_with_gaps() -> tuple[EpisodeBatch, torch.Tensor]:
    """3 rows of 6 slots; each row's valid transitions are not a prefix (a rollout-segment layout)."""
    args = make_test_args(INFO, alg="happo")
    scheme, groups, preprocess = build_scheme(INFO, args)
    batch = EpisodeBatch(scheme, groups, 3, 6, preprocess=preprocess)
    filled = torch.tensor([[1, 1, 0, 1, 1, 0], [1, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]])
    batch.transition_data["filled"][..., 0] = filled
    batch.transition_data["obs"] = torch.arange(3 * 6 * N_AGENTS * OBS_DIM, dtype=torch.float32).reshape(
        3, 6, N_AGENTS, OBS_DIM
    )
    return batch, filled[:, :-1] > 0


def test_transition_minibatches_cover_every_valid_step_once():
    batch, mask = batch_with_gaps()
    torch.manual_seed(0)
    groups = list(minibatches(batch, mask, 4, transitions=True))
    assert len(groups) == 4
    steps = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(5), indexing="ij"), dim=-1)  # [B, T, 2]
    picked = torch.cat([mb.select(steps)[:, 0] for mb in groups]).tolist()
    expected = mask.nonzero().tolist()
    assert sorted(picked) == sorted(expected)  # disjoint, covering, no padding or final-state slot
    assert sorted(len(mb.select(steps)) for mb in groups) == [3, 3, 3, 4]  # 13 valid steps, balanced
    for mb in groups:  # the gathered batch is aligned with select: its step 0 is the chosen transition
        assert mb.batch.max_seq_length == 2 and mb.batch.batch_size == len(mb.select(steps))
        obs = batch["obs"][:, :-1]
        torch.testing.assert_close(mb.batch["obs"][:, 0], mb.select(obs)[:, 0])
        assert torch.all(mb.batch["filled"][:, 0] == 1) and torch.all(mb.batch["filled"][:, 1] == 0)
    orders = {tuple(map(tuple, torch.cat([mb.select(steps)[:, 0] for mb in minibatches(batch, mask, 4, True)]).tolist()))
              for _ in range(10)}
    assert len(orders) > 1  # reshuffled on every call


@pytest.mark.parametrize("transitions", [True, False], ids=["transitions", "episodes"])
def test_more_minibatches_than_data_gives_no_empty_one(transitions):
    """13 valid transitions in 3 episodes, 20 mini-batches asked: one per transition (episode)."""
    batch, mask = batch_with_gaps()
    groups = list(minibatches(batch, mask, 20, transitions=transitions))
    assert len(groups) == (13 if transitions else 3)
    assert all(mb.batch.batch_size >= 1 for mb in groups)


def test_one_minibatch_is_the_batch_itself():
    batch, mask = batch_with_gaps()
    (only,) = minibatches(batch, mask, 1, transitions=True)
    assert only.batch is batch
    x = torch.randn(3, 5)
    assert only.select(x) is x


@pytest.mark.parametrize(
    "agent, use_rnn, last_action, unit, expected",
    [
        ("mlp_ns", False, False, "auto", True),
        ("rnn_ns", True, False, "auto", False),
        ("rnn", False, False, "auto", True),  # rnn agent with use_rnn=False is feed-forward
        ("mlp", False, True, "auto", False),  # previous-action inputs need the episode
        ("mlp_ns", False, False, "episodes", False),
    ],
)
def test_unit_choice(agent, use_rnn, last_action, unit, expected):
    args = make_test_args(INFO, alg="happo", agent=agent, use_rnn=use_rnn, obs_last_action=last_action,
                          mini_batch_unit=unit)
    assert uses_transitions(args) is expected


def test_transitions_refused_for_recurrent_agents():
    config = load_config("happo", "mamujoco")
    config.update(seed=0, agent="rnn_ns", use_rnn=True, rollout_length=0, mini_batch_unit="transitions")
    with pytest.raises(ConfigError, match="bad value for 'mini_batch_unit': 'transitions'"):
        check_config(config)


def test_happo_trains_on_transition_minibatches_of_a_segment_batch():
    """A HAPPO update on a batch with final-state gaps, in 3 shuffled transition mini-batches."""
    args = make_test_args(INFO, alg="happo", hidden_dim=8, epochs=2, mini_batches=3)
    scheme, groups, preprocess = build_scheme(INFO, args)
    batch, _ = batch_with_gaps()
    batch.transition_data["actions"] = torch.randint(0, ACTIONS, (3, 6, N_AGENTS, 1))
    batch.transition_data["actions_onehot"] = torch.nn.functional.one_hot(batch["actions"][..., 0], ACTIONS).float()
    batch.transition_data["avail_actions"][:] = 1
    batch.transition_data["reward"] = torch.randn(3, 6, 1)
    batch.transition_data["obs"] /= batch["obs"].max()
    mac = mac_registry[args.mac](batch.scheme, groups, args)
    learner = HAPPOLearner(mac, batch.scheme, FakeLogger(), args)
    before = [p.clone() for p in mac.parameters()]
    stats = learner.train(batch, t_env=0, episode_num=0)
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert all(not torch.equal(a, b) for a, b in zip(before, mac.parameters()))
