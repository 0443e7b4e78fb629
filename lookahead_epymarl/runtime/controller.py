"""EPyMARL's controller interface over one of the core's controllers.

EPyMARL's ``run.py`` builds ``REGISTRY[args.mac](scheme, groups, args)`` and its runners call
``init_hidden(batch_size)``, ``select_actions(batch, t_ep, t_env, bs, test_mode)`` on its own
``EpisodeBatch`` and read ``action_selector``. The core's controllers read from a batch only
``batch[field]``, ``scheme``, ``batch_size``, ``max_seq_length`` and ``device``, which EPyMARL's
batch has with the same meaning, so they act on it directly. Actions are chosen without autograd
(EPyMARL's runners would otherwise build a graph at every step).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

import torch

from components.env_info import EnvInfo
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as core_mac_registry
from controllers.lookahead_controller import LookaheadMAC
from lookahead_epymarl.runtime.settings import core_args, env_info_from_epymarl


def core_scheme(env_info: EnvInfo, args: SimpleNamespace) -> tuple[dict, dict, dict, dict]:
    """(scheme, groups, preprocess, scheme with the derived fields) of the core for this run."""
    scheme, groups, preprocess = build_scheme(env_info, args)
    derived = EpisodeBatch(scheme, groups, 1, 1, preprocess=preprocess).scheme  # + actions_onehot, filled
    return scheme, groups, preprocess, derived


class PluginMAC:
    """A core controller (``core_mac``) behind EPyMARL's controller interface; ``args`` (the core's,
    completed from EPyMARL's) and ``env_info`` (the core's view of EPyMARL's env) are shared with the
    plugin's learner."""

    def __init__(self, core_mac: str, scheme: Mapping[str, Any], groups: Mapping[str, int], args: SimpleNamespace) -> None:
        self.args = core_args(args, core_mac)
        self.env_info = env_info_from_epymarl(args, scheme)
        self.core = core_mac_registry[core_mac](core_scheme(self.env_info, self.args)[3], groups, self.args)
        self.action_selector = self.core.action_selector  # EPyMARL's runners log its epsilon, if any

    @property
    def behaviour(self) -> Any:
        """The core controller that acts in training episodes (Lookahead's pi~, else the only one)."""
        return self._acting(test_mode=False)

    def _acting(self, test_mode: bool) -> Any:
        """Lookahead's rule (``LookaheadMAC.acting``) where the core has two policies."""
        return self.core.acting(test_mode) if isinstance(self.core, LookaheadMAC) else self.core

    @torch.no_grad()
    def select_actions(
        self, ep_batch: Any, t_ep: int, t_env: int, bs: slice | list[int] = slice(None), test_mode: bool = False
    ) -> torch.Tensor:
        """Actions ``[len(bs), n_agents]`` (long) at step ``t_ep`` of EPyMARL's batch."""
        return self.core.select_actions(ep_batch, t_ep, t_env, bs, test_mode)

    @torch.no_grad()
    def forward(self, ep_batch: Any, t: int, test_mode: bool = False) -> torch.Tensor:
        """Action probabilities ``[B, n_agents, n_actions]`` of the controller acting in this mode."""
        return self._acting(test_mode).forward(ep_batch, t, test_mode)

    def init_hidden(self, batch_size: int) -> None:
        self.core.init_hidden(batch_size)

    def parameters(self):
        return self.core.parameters()

    def cuda(self) -> None:
        self.core.cuda()

    def save_models(self, path: str) -> None:
        self.core.save_models(path)

    def load_models(self, path: str) -> None:
        self.core.load_models(path)
