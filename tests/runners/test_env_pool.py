"""``runners.env_pool``: subprocess workers return what the same envs stepped in-process return.

The Countdown env (``tests/support/scripted_envs.py``) ends its episodes after a seeded number of
steps, so stepping a few of five envs (spread 3 + 2 over two workers) with ``reset_ended`` covers
subsets, ended episodes and restarted ones; every array of the subprocess pool's reply is checked
against an in-process pool of the same seeds given the same actions.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from envs import REGISTRY as env_registry
from runners.env_pool import InProcessEnvs, Observations, Steps, SubprocessEnvs

COUNTDOWN = "tests.support.scripted_envs:Countdown-v0"
N_ENVS = 5


def factories() -> list:
    return [
        partial(env_registry["gymma"], key=COUNTDOWN, time_limit=8, seed=10 + i, common_reward=False)
        for i in range(N_ENVS)
    ]


def assert_same_observations(a: Observations, b: Observations) -> None:
    for field in ("state", "avail_actions", "obs"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def assert_same_steps(a: Steps, b: Steps) -> None:
    for field in ("reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert_same_observations(a.next, b.next)
    assert a.final_infos == b.final_infos
    assert (a.restarted is None) == (b.restarted is None)
    if a.restarted is not None:
        assert_same_observations(a.restarted, b.restarted)


@pytest.mark.parametrize(
    "pool",
    [
        partial(SubprocessEnvs, n_workers=2),  # 3 + 2 envs in two subprocesses
        partial(SubprocessEnvs, n_workers=3, learner_block=True),  # 2 here, 2 + 1 in two subprocesses
        partial(SubprocessEnvs, n_workers=1, learner_block=True),  # all 5 here, no subprocess
    ],
    ids=["workers", "learner-block", "learner-only"],
)
def test_subprocess_pool_matches_in_process_pool_on_subsets_and_restarts(pool):
    remote, local = pool(factories()), InProcessEnvs(factories())
    try:
        assert_same_observations(remote.reset(), local.reset())
        rng = np.random.default_rng(0)
        subsets = [list(range(N_ENVS)), [0, 2, 4], list(range(N_ENVS)), [1, 3], [3], [0, 1, 2]]
        ended = 0
        for step in range(30):
            env_ids = subsets[step % len(subsets)]
            actions = rng.integers(0, 2, size=(len(env_ids), 2))  # action 2 is sometimes unavailable
            remote_steps = remote.step(actions, env_ids, reset_ended=True)
            local_steps = local.step(actions, env_ids, reset_ended=True)
            assert remote_steps.next.obs.shape == (len(env_ids), 2, 3)
            assert_same_steps(remote_steps, local_steps)
            ended += int(remote_steps.ended.sum())
            # each final info belongs to its env: its step count is that env's final observed t
            final_t = remote_steps.next.obs[remote_steps.ended, 0, 0]
            assert [info["steps"] for info in remote_steps.final_infos] == final_t.tolist()
            if remote_steps.restarted is not None:
                assert len(remote_steps.restarted.state) == int(remote_steps.ended.sum())
                assert np.all(remote_steps.restarted.obs[:, :, 0] == 0)  # a new episode starts at t = 0
        assert ended > 0  # episodes of 2-6 steps: some ended and were restarted
    finally:
        remote.close()
        local.close()


@pytest.mark.parametrize(
    "pool", [InProcessEnvs, partial(SubprocessEnvs, n_workers=2), partial(SubprocessEnvs, n_workers=2, learner_block=True)]
)
def test_env_ids_must_ascend(pool):
    envs = pool(factories())
    try:
        envs.reset()
        with pytest.raises(ValueError, match=r"ascending, got \[2, 0\]"):
            envs.step(np.zeros((2, 2), dtype=np.int64), [2, 0])
    finally:
        envs.close()


def test_learner_block_steps_the_first_block_here_and_the_rest_in_workers():
    pool = SubprocessEnvs(factories(), n_workers=2, learner_block=True)
    try:
        assert len(pool.processes) == 1 and all(process.is_alive() for process in pool.processes)
        assert len(pool.local.envs) == 3  # envs 0-2 here, 3-4 in the worker
        pool.reset()
        pool.step(np.zeros((N_ENVS, 2), dtype=np.int64), list(range(N_ENVS)))
        assert [env.get_obs()[0][0] for env in pool.local.envs] == [1.0, 1.0, 1.0]  # stepped in this process
        only_worker = pool.step(np.zeros((1, 2), dtype=np.int64), [4])
        assert only_worker.next.obs[0, 0, 0] == 2.0  # env 4, in the worker, stepped twice
        assert [env.get_obs()[0][0] for env in pool.local.envs] == [1.0, 1.0, 1.0]  # not stepped this time
    finally:
        pool.close()
    assert pool.processes == [] and pool.local is None


def test_an_error_in_the_learners_block_closes_the_workers_and_goes_on_up():
    pool = SubprocessEnvs(factories(), n_workers=2, learner_block=True)
    worker = pool.processes[0]
    pool.reset()
    pool.step(np.zeros((N_ENVS, 2), dtype=np.int64), list(range(N_ENVS)))  # now at t = 1: action 2 unavailable to agent 1
    with pytest.raises(ValueError, match="agent 1 took unavailable action 2 at step 1"):
        pool.step(np.full((N_ENVS, 2), 2, dtype=np.int64), list(range(N_ENVS)))
    worker.join(timeout=10)
    assert not worker.is_alive() and pool.processes == [] and pool.local is None
