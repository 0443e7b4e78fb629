"""The plugin's entries in EPyMARL's registries: ``LEARNERS`` and ``MACS``.

The blocks the installer appends to EPyMARL's ``learners/__init__.py`` and ``controllers/__init__.py``
merge these dicts into EPyMARL's ``REGISTRY``. Each entry is called like a class
(``REGISTRY[args.learner](mac, scheme, logger, args)``, ``REGISTRY[args.mac](scheme, groups, args)``)
and imports the plugin only then: this module imports nothing but the name tables, so EPyMARL's
own algorithms never load, or depend on, the plugin's code.
"""

from __future__ import annotations

from typing import Any, Callable

from lookahead_epymarl.runtime.names import CORE_LEARNERS, CORE_MACS


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


LEARNERS = {name: _learner(core) for name, core in CORE_LEARNERS.items()}
MACS = {name: _mac(core) for name, core in CORE_MACS.items()}
