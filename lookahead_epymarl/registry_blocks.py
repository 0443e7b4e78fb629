"""The marked block appended to each of EPyMARL's registry files.

EPyMARL's ``learners/__init__.py`` and ``controllers/__init__.py`` end with module-level
``REGISTRY`` dicts. The block adds the plugin's entries from ``lookahead_plugin.epymarl.registry``,
whose entries import the plugin only when a run names them: EPyMARL's own algorithms load none of
its code. The file is otherwise untouched; uninstall restores it from its backup.
"""

from __future__ import annotations

BEGIN_MARKER = "# >>> lookahead plugin >>>"
END_MARKER = "# <<< lookahead plugin <<<"

REGISTRY_OF_FILE = {
    "src/learners/__init__.py": "LEARNERS",
    "src/controllers/__init__.py": "MACS",
}
"""EPyMARL registry file -> the dict of ``lookahead_plugin.epymarl.registry`` merged into it."""


def with_block(source: bytes, relative_path: str) -> bytes:
    """``source`` with the plugin's block appended (after a newline if the file lacks a final one)."""
    entries = REGISTRY_OF_FILE[relative_path]
    block = "\n".join(
        (
            BEGIN_MARKER,
            "# Added by the Lookahead project's `python scripts/epymarl_plugin.py install PATH`;",
            "# `... uninstall PATH` restores this file byte for byte.",
            f"from lookahead_plugin.epymarl.registry import {entries} as _LOOKAHEAD_PLUGIN_{entries}  # noqa: E402",
            "",
            f"REGISTRY.update(_LOOKAHEAD_PLUGIN_{entries})",
            END_MARKER,
            "",
        )
    )
    separator = b"" if source.endswith(b"\n") or not source else b"\n"
    return source + separator + b"\n" + block.encode("utf-8")
