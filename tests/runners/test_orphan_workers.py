"""``runners.env_pool.SubprocessEnvs``: env workers end by themselves when the learner is gone.

Two independent ways, each tested alone:

* the learner's pipe ends close (as when the learner dies): no worker holds a copy of any pool's
  learner-side ends, so its ``recv`` sees EOF at once, even a worker of an earlier pool when a later
  pool's workers were forked while that pool was open;
* the learner dies while something else keeps copies of its pipe ends open (here: a process it
  forked by hand): the worker notices it was re-parented.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from functools import partial

from envs import REGISTRY as env_registry
from runners.env_pool import SubprocessEnvs
from tests.support.process_tree import ProcessId, alive, identify, kill_survivors, requires_proc, wait_until_gone

COUNTDOWN = "tests.support.scripted_envs:Countdown-v0"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def factories(n_envs: int) -> list:
    return [partial(env_registry["gymma"], key=COUNTDOWN, time_limit=8, seed=i) for i in range(n_envs)]


def test_workers_exit_when_the_learner_side_of_their_pipes_closes():
    first = SubprocessEnvs(factories(2), n_workers=2)
    second = SubprocessEnvs(factories(2), n_workers=2)  # forked while the first pool's pipes were open
    try:
        first.reset()
        for remote in first.remotes:  # what the learner's death does to its ends: no "close" is sent
            remote.close()
        for process in first.processes:
            process.join(timeout=5)
        assert [p.exitcode for p in first.processes] == [0, 0], "workers of the first pool outlived their pipes"
        assert all(p.is_alive() for p in second.processes)
        second.reset()  # the second pool is unaffected
    finally:
        first.close()
        second.close()


LEARNER = textwrap.dedent(
    """
    import os, sys, time
    from functools import partial
    sys.path[:0] = [{src!r}, {repo!r}]
    from envs import REGISTRY as env_registry
    from runners.env_pool import SubprocessEnvs

    pool = SubprocessEnvs([partial(env_registry["gymma"], key={key!r}, time_limit=8, seed=i) for i in range(2)],
                          n_workers=2)
    pool.reset()
    holder = os.fork()
    if holder == 0:  # keeps copies of the learner's pipe ends open, so the workers see no EOF
        time.sleep(60)
        os._exit(0)
    print(" ".join(str(p.pid) for p in pool.processes), holder, flush=True)
    time.sleep(60)
    """
)


@requires_proc
def test_workers_exit_when_the_learner_dies_while_their_pipes_stay_open(launch):
    script = LEARNER.format(src=os.path.join(REPO, "src"), repo=REPO, key=COUNTDOWN)
    learner = launch([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers: dict[ProcessId, str] = {}
    holder: dict[ProcessId, str] = {}
    try:
        *worker_pids, holder_pid = (int(pid) for pid in learner.stdout.readline().split())
        workers = {identify(pid): "env worker" for pid in worker_pids}
        holder = {identify(holder_pid): "pipe holder"}
        assert len(workers) == 2 and alive(workers) == workers

        learner.send_signal(signal.SIGKILL)
        learner.wait(timeout=10)

        assert alive(holder), "the test needs the pipe ends kept open while the learner is gone"
        left = wait_until_gone(workers, 5.0)
        assert not left, f"workers still alive 5 s after their learner died: {left}"
    finally:
        learner.kill()
        kill_survivors({**holder, **workers})
        learner.stdout.close()
