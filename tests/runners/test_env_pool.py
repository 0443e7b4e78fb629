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


def test_subprocess_pool_matches_in_process_pool_on_subsets_and_restarts():
    remote, local = SubprocessEnvs(factories(), n_workers=2), InProcessEnvs(factories())
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


@pytest.mark.parametrize("pool", [InProcessEnvs, partial(SubprocessEnvs, n_workers=2)])
def test_env_ids_must_ascend(pool):
    envs = pool(factories())
    try:
        envs.reset()
        with pytest.raises(ValueError, match=r"ascending, got \[2, 0\]"):
            envs.step(np.zeros((2, 2), dtype=np.int64), [2, 0])
    finally:
        envs.close()
