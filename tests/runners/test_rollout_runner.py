"""``runners.EpisodeRunner`` / ``ParallelRunner`` (``runners.rollout_runner.RolloutRunner``) on real envs.

Most tests drive ``tests/support/scripted_envs.py``'s Countdown env, whose observations, available
actions, rewards and episode ends are known functions of the step and the actions, so every field of
the collected batch, ``t_env`` and every logged statistic is recomputed here independently of the
runner. Real lbforaging envs check the time-limit / termination split on a real env.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.env_info import EnvInfo
from components.scheme import build_scheme
from experiment.build import set_epymarl_sizes
from controllers import REGISTRY as mac_registry
from run import make_args
from runners import REGISTRY as runner_registry
from tests.factories import FakeLogger
from tests.support.scripted_envs import countdown_avail, countdown_rewards
from utils.config import load_config

COUNTDOWN = "tests.support.scripted_envs:Countdown-v0"
RUNNERS = ["episode", "parallel"]


def make_runner(runner: str = "episode", batch_size_run: int = 3, env_args: dict | None = None, seed: int = 0,
                mac_seed: int = 0, logger: FakeLogger | None = None, **overrides):
    """A runner set up as ``run.run_sequential`` does (mappo.yaml, small actor), its logger and args."""
    config = load_config("mappo", "gymma")
    config.update(seed=seed, runner=runner, batch_size_run=batch_size_run, env_workers=2, hidden_dim=16,
                  env_args={"key": COUNTDOWN, "time_limit": 8, **(env_args or {})}, **overrides)
    args = make_args(config)
    logger = logger or FakeLogger()
    rollout = runner_registry[args.runner](args=args, logger=logger)
    set_epymarl_sizes(args, EnvInfo.from_env(rollout.get_env_info()))
    scheme, groups, preprocess = build_scheme(rollout.get_env_info(), args)
    buffer_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    torch.manual_seed(mac_seed)
    mac = mac_registry[args.mac](buffer_scheme, groups, args)
    rollout.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    return rollout, logger, args


@pytest.fixture
def closing():
    """Collects runners and closes their envs (subprocess workers) after the test."""
    runners = []
    yield runners.append
    for rollout in runners:
        rollout.close_env()


def lengths_of(batch: EpisodeBatch) -> list[int]:
    return batch["filled"][:, :, 0].sum(1).tolist()


def returns_by_hand(batch: EpisodeBatch) -> list[float]:
    """Each filled episode's return from its stored actions and the env's reward function."""
    returns = []
    for b, length in enumerate(lengths_of(batch)):
        if length:
            actions = batch["actions"][b, :length, :, 0].tolist()
            returns.append(sum(sum(countdown_rewards(t, a)) for t, a in enumerate(actions)))
    return returns


def logged(logger: FakeLogger, key: str) -> list[tuple[float, int]]:
    return [(value, t) for k, value, t in logger.calls if k == key]


# ------------------------------------------------------------------ one batch
@pytest.mark.parametrize("runner", RUNNERS)
def test_batch_holds_exactly_what_the_envs_gave(runner, closing):
    rollout, logger, args = make_runner(runner, env_args={"min_steps": 2, "max_steps": 6})
    closing(rollout)
    torch.manual_seed(1)
    batch = rollout.run()
    lengths = lengths_of(batch)
    end_at = batch["obs"][:, 0, 0, 2].long().tolist()  # each env's drawn episode length
    assert lengths == end_at and len(set(lengths)) > 1  # the envs (seeds 0, 1, 2) differ
    for b, length in enumerate(lengths):
        filled = batch["filled"][b, :, 0]
        assert filled[:length].eq(1).all() and filled[length:].eq(0).all()
        # obs [t, agent, end_at] for t = 0..L: the final observation is stored at step L
        expected_obs = torch.tensor([[[t, i, length] for i in range(2)] for t in range(length + 1)], dtype=torch.float32)
        assert torch.equal(batch["obs"][b, : length + 1], expected_obs)
        assert batch["obs"][b, length + 1 :].eq(0).all()
        expected_avail = torch.tensor([countdown_avail(t) for t in range(length + 1)], dtype=torch.int)
        assert torch.equal(batch["avail_actions"][b, : length + 1], expected_avail)
        actions = batch["actions"][b, :length, :, 0]
        assert all(expected_avail[t, i, a] == 1 for t in range(length) for i, a in enumerate(actions[t].tolist()))
        rewards = torch.tensor([sum(countdown_rewards(t, a)) for t, a in enumerate(actions.tolist())])
        assert torch.equal(batch["reward"][b, :length, 0], rewards)
        assert batch["reward"][b, length:].eq(0).all()
        terminated = torch.zeros(batch.max_seq_length, dtype=torch.uint8)
        terminated[length - 1] = 1  # a true termination, on the episode's last transition only
        assert torch.equal(batch["terminated"][b, :, 0], terminated)
        state = batch["state"][b, : length + 1]  # gymma's state: the concatenated observations
        assert torch.equal(state, expected_obs.reshape(length + 1, -1))

    assert rollout.t_env == sum(lengths)  # exactly the env steps played
    returns = returns_by_hand(batch)
    assert logged(logger, "return_mean") == [(pytest.approx(np.mean(returns)), sum(lengths))]
    assert logged(logger, "return_std") == [(pytest.approx(np.std(returns)), sum(lengths))]
    assert logged(logger, "ep_length_mean") == [(pytest.approx(np.mean(lengths)), sum(lengths))]
    # numeric entries of the final info are logged as <key>_mean (the env's own running score)
    assert logged(logger, "score_mean") == [(pytest.approx(np.mean(returns)), sum(lengths))]
    assert logged(logger, "steps_mean") == [(pytest.approx(np.mean(lengths)), sum(lengths))]
    assert not logged(logger, "episode_limit_mean")  # booleans are not statistics


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    "env_args, length, terminated_at_end",
    [
        pytest.param({"never_terminate": True}, 5, 0, id="time-limit-is-not-a-termination"),
        pytest.param({"min_steps": 3, "max_steps": 3}, 3, 1, id="termination-before-the-limit"),
        pytest.param({"min_steps": 5, "max_steps": 5}, 5, 1, id="termination-on-the-limit-step"),
    ],
)
def test_terminated_flag_is_only_a_true_termination(runner, env_args, length, terminated_at_end, closing):
    """time_limit=5: an episode cut by the time limit stores terminated=0 on its last step (the learner
    bootstraps from the stored final state); a true termination stores 1, also on the limit step."""
    rollout, _, _ = make_runner(runner, batch_size_run=2, env_args={"time_limit": 5, **env_args})
    closing(rollout)
    batch = rollout.run()
    assert lengths_of(batch) == [length, length]
    expected = torch.zeros(2, batch.max_seq_length, dtype=torch.uint8)
    expected[:, length - 1] = terminated_at_end
    assert torch.equal(batch["terminated"][:, :, 0], expected)
    assert batch["obs"][:, length, 0, 0].tolist() == [length, length]  # the final state is there to bootstrap from
    assert rollout.t_env == 2 * length


@pytest.mark.parametrize("runner", RUNNERS)
def test_real_env_time_limit_and_termination(runner, closing):
    """lbforaging 5x5 with one food: some episodes end by eating the food (a true termination), the
    others at time_limit=10 (truncation). Only the first kind may store terminated=1."""
    rollout, _, _ = make_runner(runner, batch_size_run=6, seed=3, env_args={
        "key": "lbforaging:Foraging-5x5-2p-1f-v3", "time_limit": 10, "max_food_level": 1})
    closing(rollout)
    torch.manual_seed(0)
    lengths, terminated = [], []
    for _ in range(3):
        batch = rollout.run()
        lengths += lengths_of(batch)
        terminated += [batch["terminated"][b, :, 0] for b in range(batch.batch_size)]
    assert 10 in lengths and min(lengths) < 10, lengths  # precondition: both kinds of end happen
    for length, flags in zip(lengths, terminated):
        assert flags[: length - 1].eq(0).all() and flags[length:].eq(0).all()
        if length < 10:
            assert flags[length - 1] == 1, (length, flags)
    truncated_only = [flags.sum().item() for length, flags in zip(lengths, terminated) if length == 10]
    assert truncated_only.count(0) >= len(truncated_only) - 1  # the food eaten exactly on step 10 is rare


@pytest.mark.parametrize("learner_steps_envs", [True, False])
def test_episode_and_parallel_runners_give_identical_batches(learner_steps_envs, closing):
    batches, t_envs, logs = [], [], []
    for runner in RUNNERS:
        rollout, logger, _ = make_runner(runner, batch_size_run=3, env_args={"min_steps": 2, "max_steps": 7},
                                         learner_steps_envs=learner_steps_envs)
        closing(rollout)
        torch.manual_seed(5)
        batches.append([rollout.run(), rollout.run()])
        t_envs.append(rollout.t_env)
        logs.append([call for call in logger.calls if call[0] != "time_real_rollout"])  # wall times differ
    for first, second in zip(*batches):
        assert set(first.transition_data) == set(second.transition_data)
        for key in first.transition_data:
            assert torch.equal(first[key], second[key]), key
    assert t_envs[0] == t_envs[1] and logs[0] == logs[1]
    # and the two calls of one runner are different episodes (envs continue their random streams)
    assert not torch.equal(batches[0][0]["obs"], batches[0][1]["obs"])
    parallel = rollout.envs  # env_workers=2: the first block here with learner_steps_envs, else both in subprocesses
    assert len(parallel.processes) == (1 if learner_steps_envs else 2)


def test_another_seed_gives_other_episodes(closing):
    obs = []
    for seed in (0, 1):
        rollout, _, _ = make_runner(batch_size_run=3, seed=seed, env_args={"min_steps": 2, "max_steps": 7})
        closing(rollout)
        obs.append(rollout.run()["obs"][:, 0, 0, 2].tolist())
    assert obs[0] != obs[1]


# ------------------------------------------------------------------ t_env and logging over several calls
@pytest.mark.parametrize("runner", RUNNERS)
def test_train_returns_are_logged_every_runner_log_interval(runner, closing):
    """Each return_mean log is the mean over every train episode since the previous log."""
    rollout, logger, _ = make_runner(runner, batch_size_run=2, runner_log_interval=15,
                                     env_args={"min_steps": 2, "max_steps": 6})
    closing(rollout)
    torch.manual_seed(2)
    pending: list[float] = []
    expected: list[tuple[float, int]] = []
    last_log, t_env = -10**6, 0
    for _ in range(8):
        batch = rollout.run()
        t_env += sum(lengths_of(batch))
        assert rollout.t_env == t_env
        pending += returns_by_hand(batch)
        if t_env - last_log >= 15:
            expected.append((pytest.approx(np.mean(pending)), t_env))
            pending, last_log = [], t_env
    assert len(expected) >= 3
    assert logged(logger, "return_mean") == expected


def test_real_rollout_wall_time_is_logged_with_the_train_returns(closing):
    """``time_real_rollout``: the mean wall time of the training runs since the previous log."""
    rollout, logger, _ = make_runner(batch_size_run=2, runner_log_interval=15, env_args={"min_steps": 2, "max_steps": 6})
    closing(rollout)
    seconds = []
    for _ in range(6):
        clock = time.perf_counter()
        rollout.run()
        seconds.append(time.perf_counter() - clock)
    rollout.run(test_mode=True)  # test episodes are not real rollouts
    times = logged(logger, "time_real_rollout")
    assert [t for _, t in times] == [t for _, t in logged(logger, "return_mean")] and len(times) >= 2
    assert all(0 < value <= max(seconds) for value, _ in times)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("test_nepisode", [5, 4, 1])
def test_run_tests_plays_exactly_test_nepisode_episodes(runner, test_nepisode, closing):
    rollout, logger, _ = make_runner(runner, batch_size_run=2, test_nepisode=test_nepisode,
                                     env_args={"min_steps": 2, "max_steps": 6})
    closing(rollout)
    rollout.run()  # some training first: t_env > 0
    t_env = rollout.t_env
    logger.calls.clear()
    played: list[EpisodeBatch] = []
    run = rollout.run

    def recording(test_mode=False, n_episodes=None):
        assert test_mode
        played.append(run(test_mode=test_mode, n_episodes=n_episodes))
        return played[-1]

    rollout.run = recording
    rollout.run_tests()
    returns = [r for batch in played for r in returns_by_hand(batch)]
    lengths = [length for batch in played for length in lengths_of(batch) if length]
    assert len(returns) == test_nepisode
    assert rollout.t_env == t_env  # test episodes are not training experience
    assert logged(logger, "test_return_mean") == [(pytest.approx(np.mean(returns)), t_env)]
    assert logged(logger, "test_ep_length_mean") == [(pytest.approx(np.mean(lengths)), t_env)]
    assert not logged(logger, "return_mean")
    # greedy test actions: argmax of the policy over the available actions
    batch = played[0]
    length = lengths_of(batch)[0]
    with torch.no_grad():
        probs = rollout.mac.unroll(batch[0:1], n_steps=length)[0]
    probs = probs.masked_fill(batch["avail_actions"][0, :length] == 0, -1)
    assert torch.equal(batch["actions"][0, :length, :, 0], probs.argmax(-1))


@pytest.mark.parametrize("runner", RUNNERS)
def test_per_agent_rewards_are_stored_and_logged_per_agent(runner, closing):
    rollout, logger, _ = make_runner(runner, batch_size_run=2, common_reward=False,
                                     env_args={"min_steps": 2, "max_steps": 6})
    closing(rollout)
    batch = rollout.run()
    per_agent = []
    for b, length in enumerate(lengths_of(batch)):
        actions = batch["actions"][b, :length, :, 0].tolist()
        rewards = torch.tensor([countdown_rewards(t, a) for t, a in enumerate(actions)])
        assert torch.equal(batch["reward"][b, :length], rewards)
        per_agent.append(rewards.sum(0))
    per_agent = torch.stack(per_agent)
    for agent in range(2):
        assert logged(logger, f"agent_{agent}_return_mean")[0][0] == pytest.approx(per_agent[:, agent].mean().item())
    assert logged(logger, "return_mean")[0][0] == pytest.approx(per_agent.sum(1).mean().item())


# ------------------------------------------------------------------ rollout segments (rollout_length > 0)
def pieces_of(batch: EpisodeBatch, row: int) -> list[tuple[int, int]]:
    """``(first slot, final-state slot)`` of each episode piece in ``row``: runs of filled slots."""
    filled = batch["filled"][row, :, 0].tolist() + [0]
    pieces, start = [], None
    for slot, flag in enumerate(filled):
        if flag and start is None:
            start = slot
        elif not flag and start is not None:
            pieces.append((start, slot))
            start = None
    return pieces


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    "env_args, terminates",
    [
        pytest.param({"never_terminate": True}, False, id="time-limit-ends"),
        pytest.param({"min_steps": 3, "max_steps": 3}, True, id="terminations"),
    ],
)
def test_segments_store_terminations_only_for_true_ends(runner, env_args, terminates, closing):
    """rollout_length=12, time_limit=5: each row holds exactly 12 transitions in pieces separated by an
    unfilled slot holding the piece's final state; terminated=1 only on a truly terminated piece's last
    transition. Episodes continue across calls; t_env grows by 12 per env per call."""
    rollout, logger, _ = make_runner(runner, batch_size_run=2, rollout_length=12, agent="mlp",
                                     env_args={"time_limit": 5, **env_args})
    closing(rollout)
    episode_length = 3 if terminates else 5
    step_in_episode = [0, 0]
    for call in range(3):
        batch = rollout.run()
        assert rollout.t_env == 24 * (call + 1)
        for row in range(2):
            transitions = 0
            for start, final in pieces_of(batch, row):
                steps = batch["obs"][row, start : final + 1, 0, 0].long().tolist()  # t within the episode
                assert steps == list(range(steps[0], steps[0] + final - start + 1))
                assert steps[0] == step_in_episode[row]  # starts where the env was (0 after an end)
                ended = steps[-1] == episode_length
                expected = torch.zeros(final - start, dtype=torch.uint8)
                expected[-1] = int(ended and terminates)
                assert torch.equal(batch["terminated"][row, start:final, 0], expected), (call, row, steps)
                rewards = [sum(countdown_rewards(t, a)) for t, a in
                           zip(steps, batch["actions"][row, start:final, :, 0].tolist())]
                assert batch["reward"][row, start:final, 0].tolist() == rewards
                step_in_episode[row] = 0 if ended else steps[-1]
                transitions += final - start
            assert transitions == 12
    assert logged(logger, "ep_length_mean")[0][0] == episode_length
