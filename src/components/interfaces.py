"""The interfaces the run loop and the learners rely on, as EPyMARL defines them by use: what a
controller, a learner and a runner must offer. Structural (``typing.Protocol``): the registries'
classes, and an EPyMARL checkout's through the plugin, satisfy them without inheriting."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import torch

from components.episode_buffer import EpisodeBatch


class Controller(Protocol):
    """A multi-agent controller ("mac"): ``REGISTRY[args.mac](scheme, groups, args)``."""

    def select_actions(self, ep_batch: EpisodeBatch, t_ep: int, t_env: int, bs: slice | list[int] = ...,
                       test_mode: bool = ..., return_log_probs: bool = ...) -> Any: ...

    def init_hidden(self, batch_size: int) -> None: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def cuda(self) -> None: ...

    def save_models(self, path: str) -> None: ...

    def load_models(self, path: str) -> None: ...


class Learner(Protocol):
    """A learner: ``REGISTRY[args.learner](mac, scheme, logger, args)``; ``train`` returns its
    diagnostics of the update."""

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> dict[str, float]: ...

    def cuda(self) -> None: ...

    def save_models(self, path: str) -> None: ...

    def load_models(self, path: str) -> None: ...


class Runner(Protocol):
    """A runner of a real env: ``REGISTRY[args.runner](args=args, logger=logger)``."""

    t_env: int
    log_train_stats_t: int  # t_env of the last training-return log (a resumed run restores it)
    batch_size: int
    max_seq_length: int

    def get_env_info(self) -> dict[str, Any]: ...

    def setup(self, scheme: Mapping, groups: Mapping, preprocess: Mapping, mac: Controller) -> None: ...

    def run(self, test_mode: bool = ...) -> EpisodeBatch: ...

    def run_tests(self) -> None: ...

    def close_env(self) -> None: ...

    def save_replay(self) -> None: ...


class StatLogger(Protocol):
    """Where learners and runners log: ``log_stat(key, value, t_env)``."""

    def log_stat(self, key: str, value: float, t: int) -> None: ...
