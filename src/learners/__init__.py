"""Learners: ``REGISTRY[args.learner](mac, scheme, logger, args)``."""

from learners.happo_learner import HAPPOLearner
from learners.lookahead_learner import LookaheadLearner
from learners.ppo_learner import PPOLearner

REGISTRY = {
    "ppo_learner": PPOLearner,
    "happo_learner": HAPPOLearner,
    "lookahead_learner": LookaheadLearner,
}
