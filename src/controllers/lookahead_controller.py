"""The Lookahead controller: the real policy pi and the lookahead policy pi~, one architecture.

In the Lookahead paper's iteration (Algorithm 1) the real data are sampled with the lookahead
policy pi~^{k+1}, predicted by one update inside a model, while the policy being learned is pi.
This controller holds both as two controllers of the base kind (``lka_base_mac``): training
episodes act with ``lookahead``, test episodes with ``real``. Learners train ``real`` and
``lookahead`` separately (``learners.lookahead_learner``); saved models and ``evaluate`` are the
real policy's. Until the first lookahead update the two hold the same weights (pi~ = pi).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any, Mapping

import torch

from components.episode_buffer import EpisodeBatch
from controllers.basic_controller import BasicMAC
from controllers.non_shared_controller import NonSharedMAC

BASE_MACS = {"basic_mac": BasicMAC, "non_shared_mac": NonSharedMAC}
"""The controller kinds of the real and the lookahead policies (``lka_base_mac``)."""


class LookaheadMAC:
    """Acts with ``lookahead`` in training and ``real`` in tests; see the module docstring."""

    def __init__(self, scheme: Mapping[str, Any], groups: Mapping[str, int], args: SimpleNamespace) -> None:
        self.args = args
        self.real = BASE_MACS[args.lka_base_mac](scheme, groups, args)
        self.lookahead = copy.deepcopy(self.real)
        self.action_selector = self.real.action_selector  # runners log its epsilon, if any

    def select_actions(
        self,
        ep_batch: EpisodeBatch,
        t_ep: int,
        t_env: int,
        bs: slice | list[int] = slice(None),
        test_mode: bool = False,
        return_log_probs: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """pi~'s actions in training (the behaviour policy mu = pi~), pi's in tests."""
        return self.acting(test_mode).select_actions(ep_batch, t_ep, t_env, bs, test_mode, return_log_probs)

    def acting(self, test_mode: bool) -> Any:
        """The controller that acts: the real policy in test episodes, the lookahead one in training."""
        return self.real if test_mode else self.lookahead

    def init_hidden(self, batch_size: int) -> None:
        self.real.init_hidden(batch_size)
        self.lookahead.init_hidden(batch_size)

    def sync_lookahead(self) -> None:
        """pi~ <- pi: the lookahead actors start from the real ones."""
        self.lookahead.load_state(self.real)

    def parameters(self):
        return self.real.parameters()

    def cuda(self) -> None:
        self.real.cuda()
        self.lookahead.cuda()

    def save_models(self, path: str) -> None:
        """The real policy's files, as the base controller writes them (``evaluate`` loads these)."""
        self.real.save_models(path)

    def load_models(self, path: str) -> None:
        self.real.load_models(path)
        self.sync_lookahead()
