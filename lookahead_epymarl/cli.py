"""``install PATH`` / ``uninstall PATH``: the plugin's command line (``scripts/epymarl_plugin.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lookahead_epymarl.configs import ALGORITHMS
from lookahead_epymarl.errors import PluginError
from lookahead_epymarl.installer import install, uninstall
from lookahead_epymarl.manifest import STATE_DIR
from lookahead_epymarl.vendoring import PACKAGE


def main(argv: list[str] | None = None) -> int:
    """Run the command; a refusal is one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(
        prog="epymarl_plugin.py",
        description="Install Lookahead (and HAPPO) into an EPyMARL checkout, or take it out again.",
    )
    parser.add_argument("command", choices=("install", "uninstall"))
    parser.add_argument("path", type=Path, help="the root of the EPyMARL checkout (holding src/main.py)")
    options = parser.parse_args(argv)
    try:
        if options.command == "install":
            manifest = install(options.path)
            print(
                f"installed into {options.path}: src/{PACKAGE}/ ({len(manifest.added) - len(ALGORITHMS)} files), "
                f"configs {', '.join(ALGORITHMS)} in src/config/algs/, registry entries in "
                f"{', '.join(manifest.edited)} (backups in {STATE_DIR}/)"
            )
        elif uninstall(options.path) is None:
            print(f"nothing to uninstall: {options.path} has no {STATE_DIR}/manifest.json")
        else:
            print(f"uninstalled from {options.path}: edited files restored, added files removed")
    except PluginError as error:
        print(f"epymarl_plugin: {error}", file=sys.stderr)
        return 2
    return 0
