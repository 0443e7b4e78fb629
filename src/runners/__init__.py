"""Runners: ``REGISTRY[args.runner](args=args, logger=logger)``."""

from runners.episode_runner import EpisodeRunner
from runners.imagined_runner import ImaginedRunner
from runners.parallel_runner import ParallelRunner

REGISTRY = {
    "episode": EpisodeRunner,
    "parallel": ParallelRunner,
    "imagined": ImaginedRunner,
}
