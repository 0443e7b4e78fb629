"""Learners: ``REGISTRY[args.learner](mac, scheme, logger, args)``, EPyMARL's call. Lookahead's
learner (``learner: lookahead_learner``) needs the env's info for its model and is built by
``experiment.lookahead.build_lookahead_learner``."""

from learners.happo_learner import HAPPOLearner
from learners.ppo_learner import PPOLearner

REGISTRY = {
    "ppo_learner": PPOLearner,
    "happo_learner": HAPPOLearner,
}
