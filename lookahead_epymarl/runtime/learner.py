"""EPyMARL's learner interface over one of the core's learners (Lookahead, HAPPO).

EPyMARL's ``run.py`` builds ``REGISTRY[args.learner](mac, scheme, logger, args)`` and calls
``train(batch, t_env, episode_num)`` on a batch sampled from its buffer (cut to its filled steps),
``cuda()``, ``save_models(path)`` and ``load_models(path)``. Each ``train`` converts the batch to the
core's conventions (``batch.core_batch``), recomputes the behaviour log-probabilities when the
learner takes ratios against stored ones (``store_log_probs``), and hands it to the core learner.
The core learner logs its diagnostics (``kl_gap``, ``model_*``, ``lka_*``, ``time_*``, ...) through
EPyMARL's logger (``log_stat(key, value, t)``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

from experiment.build import build_learner
from lookahead_epymarl.runtime.batch import core_batch, store_behaviour_log_probs
from lookahead_epymarl.runtime.controller import PluginMAC, core_scheme
from lookahead_epymarl.runtime.names import CORE_MACS
from utils.config import bad_value


class PluginLearner:
    """The core learner ``core_learner`` trained on EPyMARL's batches (see the module docstring)."""

    def __init__(self, core_learner: str, mac: Any, scheme: Mapping[str, Any], logger: Any, args: SimpleNamespace) -> None:
        if not isinstance(mac, PluginMAC):
            raise bad_value("mac", args.mac, f"one of {', '.join(CORE_MACS)} (the plugin's) with learner={args.learner}")
        self.mac = mac
        self.args = SimpleNamespace(**{**vars(mac.args), "learner": core_learner})  # the controller's, naming the core's learner
        self.scheme, self.groups, self.preprocess, derived = core_scheme(mac.env_info, self.args)
        self.learner = build_learner(mac.core, derived, logger, self.args, mac.env_info)

    def train(self, batch: Any, t_env: int, episode_num: int) -> dict[str, float]:
        converted = core_batch(batch, self.scheme, self.groups, self.preprocess, self.mac.env_info.episode_limit)
        if "log_prob" in converted.scheme:
            store_behaviour_log_probs(converted, self.mac.behaviour)
        return self.learner.train(converted, t_env, episode_num)

    def cuda(self) -> None:
        self.learner.cuda()

    def save_models(self, path: str) -> None:
        self.learner.save_models(path)

    def load_models(self, path: str) -> None:
        self.learner.load_models(path)
