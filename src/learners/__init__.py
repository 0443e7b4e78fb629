"""Learners: ``REGISTRY[args.learner](mac, scheme, logger, args)``."""

from learners.happo_learner import HAPPOLearner
from learners.lookahead_learner import build_lookahead_learner
from learners.ppo_learner import PPOLearner

REGISTRY = {
    "ppo_learner": PPOLearner,
    "happo_learner": HAPPOLearner,
    "lookahead_learner": build_lookahead_learner,  # builds Lookahead's parts, then the learner
}
