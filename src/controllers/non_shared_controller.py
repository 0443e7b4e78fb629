"""Controller for agents with independent parameters (EPyMARL's ``non_shared_mac``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

from controllers.basic_controller import BasicMAC


class NonSharedMAC(BasicMAC):
    """Same data path as :class:`BasicMAC`; requires an agent with per-agent weights (``*_ns``).

    The ``_ns`` agents evaluate every agent's own network in one batched op, so nothing else
    differs from the shared controller.
    """

    def __init__(self, scheme: Mapping[str, Any], groups: Mapping[str, int], args: SimpleNamespace) -> None:
        if not args.agent.endswith("_ns"):
            raise ValueError(
                f"mac=non_shared_mac needs a non-shared agent (agent=rnn_ns), got agent={args.agent!r}"
            )
        super().__init__(scheme, groups, args)
