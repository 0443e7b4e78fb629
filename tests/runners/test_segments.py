"""Rollout segments (``rollout_length > 0``): envs keep running across ``runner.run`` calls.

Checked against a replay of the same actions in a fresh env of the same seed: every stored
reward, state and observation; the final state of an episode that ends inside a row, the next
episode's first state two slots later; an episode spanning two segments; the logged returns.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.env_info import EnvInfo
from components.scheme import build_scheme
from experiment.build import set_epymarl_sizes
from controllers import REGISTRY as mac_registry
from experiment.config_checks import check_config
from run import make_args
from runners import REGISTRY as runner_registry
from runners.rollout_runner import env_factories
from tests.factories import FakeLogger
from utils.config import ConfigError, load_config, recursive_update
from utils.returns import episode_ends

TIME_LIMIT, ROLLOUT, N_ENVS, SEGMENTS = 7, 5, 2, 3


def build_runner(kind: str = "episode", alg: str = "happo", env: str = "mamujoco", **overrides):
    """A runner of ``kind`` with a fresh controller, set up as ``run.py`` does."""
    config = load_config(alg, env)
    config["seed"] = 3
    recursive_update(config, {"batch_size_run": N_ENVS, "hidden_dim": 8, "env_workers": 2, **overrides})
    args = make_args(config)
    runner = runner_registry[kind](args=args, logger=FakeLogger())
    set_epymarl_sizes(args, EnvInfo.from_env(runner.get_env_info()))
    scheme, groups, preprocess = build_scheme(runner.get_env_info(), args)
    torch.manual_seed(0)
    mac = mac_registry[args.mac](EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme, groups, args)
    runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    return runner, args


def cheetah_segments(kind: str = "episode") -> tuple[list[EpisodeBatch], object, object]:
    runner, args = build_runner(kind, rollout_length=ROLLOUT, env_args={"time_limit": TIME_LIMIT})
    try:
        batches = [runner.run() for _ in range(SEGMENTS)]
    finally:
        runner.close_env()
    return batches, runner, args


def test_segments_match_a_replay_of_the_same_actions():
    batches, runner, args = cheetah_segments()
    replayed_returns = []
    assert runner.t_env == SEGMENTS * ROLLOUT * N_ENVS
    assert all(b.max_seq_length == 2 * ROLLOUT for b in batches)
    for row in range(N_ENVS):
        env = env_factories(args)[row]()
        env.reset()
        returns, episode_return, steps_in_episode = [], 0.0, 0
        for segment, batch in enumerate(batches):
            filled = batch["filled"][row, :, 0]
            assert int(filled.sum()) == ROLLOUT  # every env steps exactly rollout_length times
            np.testing.assert_allclose(batch["state"][row, 0].numpy(), env.get_state(), rtol=1e-5, atol=1e-5)
            slot = 0
            for _ in range(ROLLOUT):
                assert filled[slot] == 1
                _, reward, terminated, truncated, _ = env.step(batch["actions"][row, slot].numpy())
                steps_in_episode += 1
                episode_return += reward
                assert batch["reward"][row, slot, 0].item() == pytest.approx(reward, rel=1e-5)
                assert batch["terminated"][row, slot, 0].item() == int(terminated)  # a time limit is no termination
                final = batch["state"][row, slot + 1].numpy()
                np.testing.assert_allclose(final, env.get_state(), rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(batch["obs"][row, slot + 1].numpy(), np.asarray(env.get_obs()), atol=1e-5)
                if terminated or truncated:
                    assert steps_in_episode == TIME_LIMIT and truncated
                    returns.append(episode_return)
                    episode_return, steps_in_episode = 0.0, 0
                    env.reset()
                    assert filled[slot + 1] == 0  # the final-state slot is no transition
                    slot += 2
                    if slot < 2 * ROLLOUT:
                        np.testing.assert_allclose(batch["state"][row, slot].numpy(), env.get_state(), atol=1e-5)
                else:
                    slot += 1
            assert filled[slot:].sum() == 0
        env.close()
        assert len(returns) == 2  # steps 1-7 (spans segments 1 and 2) and 8-14
        replayed_returns.append(returns)
    first, second = np.asarray(replayed_returns).T
    # the first log (segment 2) holds both envs' first episodes; the second ones wait for the next log
    logged = [v for k, v, _ in runner.logger.calls if k == "return_mean"]
    assert logged == [pytest.approx(first.mean(), rel=1e-5)]
    np.testing.assert_allclose(np.asarray(runner.returns["train"]), second, rtol=1e-5)
    assert [v for k, v, _ in runner.logger.calls if k == "ep_length_mean"] == [TIME_LIMIT]


def test_episode_ends_inside_a_row_and_at_the_segment_end():
    """The mask semantics the advantage estimators rely on: an unfilled slot after a transition ends
    its episode (bootstrapped from that slot), a termination flag is set only on true terminations."""
    batches, _, _ = cheetah_segments()
    mask = batches[1]["filled"][:, :-1, 0].float()
    ends = episode_ends(mask)
    # segment 2 covers global steps 6-10; the episode ends at step 7 (slot 1) and the segment at slot 5
    expected = torch.zeros_like(mask)
    expected[:, 1] = 1
    expected[:, 5] = 1
    torch.testing.assert_close(ends, expected)
    assert batches[1]["terminated"].sum() == 0


def test_parallel_and_episode_runners_collect_identical_segments():
    in_process, _, _ = cheetah_segments("episode")
    parallel, _, _ = cheetah_segments("parallel")
    for a, b in zip(in_process, parallel):
        for key in ("state", "obs", "actions", "reward", "terminated", "filled"):
            torch.testing.assert_close(a[key], b[key])


def test_terminations_in_segments_on_the_toy_game():
    """One-step episodes that truly terminate: every transition ends its episode, no bootstrap."""
    runner, _ = build_runner(env="toy_game", rollout_length=3)
    try:
        batch = runner.run()
        tests_before = runner.t_env
        runner.run(test_mode=True)
        assert runner.t_env == tests_before  # test episodes (a separate pool) do not count
    finally:
        runner.close_env()
    assert batch.max_seq_length == 6
    torch.testing.assert_close(batch["filled"][:, :, 0], torch.tensor([[1, 0, 1, 0, 1, 0]] * N_ENVS))
    torch.testing.assert_close(batch["terminated"][:, :, 0], torch.tensor([[1, 0, 1, 0, 1, 0]] * N_ENVS).byte())
    assert len(runner.returns["train"]) == 0 and runner.logger.calls  # 6 returns, logged at once
    logged = {k: v for k, v, _ in runner.logger.calls}
    rewards = batch["reward"][:, ::2, 0]
    assert logged["return_mean"] == pytest.approx(rewards.mean().item(), rel=1e-5)


def test_segments_refuse_recurrent_agents():
    config = load_config("mappo", "gymma")
    config.update(seed=0, rollout_length=5)
    config["env_args"]["key"] = "lbforaging:Foraging-8x8-2p-3f-v3"
    with pytest.raises(ConfigError, match="bad value for 'rollout_length': 5"):
        check_config(config)
