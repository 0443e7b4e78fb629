"""``runner=parallel``: envs in worker subprocesses, stepped in lock-step (EPyMARL's parallel runner)."""

from runners.env_pool import SubprocessEnvs
from runners.rollout_runner import RolloutRunner


class ParallelRunner(RolloutRunner):
    """Steps ``batch_size_run`` envs spread over ``env_workers`` subprocesses (0: one per CPU core);
    a failing or dying worker raises ``EnvWorkerError`` instead of hanging."""

    def make_pool(self, factories):
        return SubprocessEnvs(factories, n_workers=self.args.env_workers)
