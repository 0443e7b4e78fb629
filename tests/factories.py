"""Args for component tests, built the way ``run.py`` builds them for a real env."""

from __future__ import annotations

from types import SimpleNamespace

from components.scheme import apply_env_info
from run import make_args
from utils.config import load_config


def make_test_args(env_info: dict, alg: str = "mappo", env: str = "gymma", **overrides) -> SimpleNamespace:
    """``algs/ALG.yaml`` over ``envs/ENV.yaml`` with ``seed=0`` and ``overrides``, sized by ``env_info``."""
    config = load_config(alg, env)
    config["seed"] = 0
    config.update(overrides)
    args = make_args(config)
    apply_env_info(args, env_info)
    return args


class FakeLogger:
    """Records every ``log_stat`` call as ``(key, value, t)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, int]] = []

    def log_stat(self, key: str, value: float, t: int) -> None:
        self.calls.append((key, value, t))
