"""``runner=episode``: the envs live in the learner's process (EPyMARL's single-env runner)."""

from runners.env_pool import InProcessEnvs
from runners.rollout_runner import RolloutRunner


class EpisodeRunner(RolloutRunner):
    """Steps ``batch_size_run`` envs (usually 1) in this process: no IPC, simplest to debug."""

    def make_pool(self, factories):
        return InProcessEnvs(factories)
