"""Runners of a real env: ``REGISTRY[args.runner](args=args, logger=logger)``. Lookahead's
imagined runner (``runners.imagined_runner``) rolls out in a model; its learner names it
(``lka_runner``)."""

from runners.episode_runner import EpisodeRunner
from runners.parallel_runner import ParallelRunner

REGISTRY = {
    "episode": EpisodeRunner,
    "parallel": ParallelRunner,
}
