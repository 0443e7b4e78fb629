"""Environments: the ``MultiAgentEnv`` interface and the env registry.

``REGISTRY[args.env](**env_args, common_reward=..., reward_scalarisation=...)`` builds
an env, as in EPyMARL. Importing this package is cheap: it imports no env package
(and not even gymnasium); each factory imports what it needs when called, so a
missing optional package only breaks the envs that use it.
"""

from __future__ import annotations

from typing import Any, Callable

from envs.errors import EnvArgsError, EnvKeyError
from envs.multiagentenv import MultiAgentEnv


def gymma_fn(**kwargs: Any) -> MultiAgentEnv:
    """Build a ``GymmaWrapper`` (gymnasium ``Tuple``-space or PettingZoo parallel env)."""
    from envs.gymma import GymmaWrapper

    return GymmaWrapper(**kwargs)


REGISTRY: dict[str, Callable[..., MultiAgentEnv]] = {"gymma": gymma_fn}
"""Env name (``args.env``) → factory taking ``env_args`` plus reward settings."""

__all__ = ["REGISTRY", "MultiAgentEnv", "EnvArgsError", "EnvKeyError", "gymma_fn"]
