"""World models for Lookahead's imagined rollouts: ``REGISTRY[name]`` is a model class, built with
``DynamicsModel.from_env_info(env_info, reward_dim, **options)`` and trained by
``modules.world_models.model_trainer.ModelTrainer`` on real transitions."""

from modules.world_models.dynamics_model import DynamicsModel

REGISTRY = {
    "mlp": DynamicsModel,
}
