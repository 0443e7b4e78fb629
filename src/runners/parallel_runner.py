"""``runner=parallel``: envs in worker subprocesses, stepped in lock-step (EPyMARL's parallel runner)."""

from runners.env_pool import SubprocessEnvs
from runners.rollout_runner import RolloutRunner


class ParallelRunner(RolloutRunner):
    """Steps ``batch_size_run`` envs spread over ``env_workers`` processes (0: one per CPU core):
    subprocesses, and with ``learner_steps_envs`` the learner's own process for the first block;
    a failing or dying worker raises ``EnvWorkerError`` instead of hanging."""

    def make_pool(self, factories):
        return SubprocessEnvs(factories, n_workers=self.args.env_workers, learner_block=self.args.learner_steps_envs)
