"""Learners: ``REGISTRY[args.learner](mac, scheme, logger, args)``."""

from learners.ppo_learner import PPOLearner

REGISTRY = {
    "ppo_learner": PPOLearner,
}
