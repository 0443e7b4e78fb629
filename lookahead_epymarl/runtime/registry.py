"""The plugin's entries in EPyMARL's registries: ``LEARNERS`` and ``MACS``.

The blocks the installer appends to EPyMARL's ``learners/__init__.py`` and ``controllers/__init__.py``
merge these dicts into EPyMARL's ``REGISTRY``. Each entry is called like a class
(``REGISTRY[args.learner](mac, scheme, logger, args)``, ``REGISTRY[args.mac](scheme, groups, args)``)
and imports the plugin only then: this module imports nothing, so EPyMARL's own algorithms never
load, or depend on, the plugin's code.
"""

from __future__ import annotations

from typing import Any, Callable


def _learner(core_learner: str) -> Callable[..., Any]:
    def build(mac: Any, scheme: Any, logger: Any, args: Any) -> Any:
        from lookahead_epymarl.runtime.learner import PluginLearner

        return PluginLearner(core_learner, mac, scheme, logger, args)

    build.__qualname__ = build.__name__ = f"PluginLearner[{core_learner}]"
    return build


def _mac(core_mac: str) -> Callable[..., Any]:
    def build(scheme: Any, groups: Any, args: Any) -> Any:
        from lookahead_epymarl.runtime.controller import PluginMAC

        return PluginMAC(core_mac, scheme, groups, args)

    build.__qualname__ = build.__name__ = f"PluginMAC[{core_mac}]"
    return build


CORE_LEARNERS = {"lookahead_learner": "lookahead_learner", "happo_learner": "happo_learner"}
"""EPyMARL learner name -> the core learner behind it."""
CORE_MACS = {"lookahead_mac": "lookahead_mac", "happo_mac": "non_shared_mac"}
"""EPyMARL controller name -> the core controller behind it (HAPPO needs per-agent parameters)."""

LEARNERS = {name: _learner(core) for name, core in CORE_LEARNERS.items()}
MACS = {name: _mac(core) for name, core in CORE_MACS.items()}
