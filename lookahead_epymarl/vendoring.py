"""The files the plugin copies into an EPyMARL checkout, with their imports renamed.

Our core imports its modules by top-level names (``from components.episode_buffer import ...``,
``from learners import REGISTRY``), as EPyMARL does; EPyMARL has packages of the same names. So the
core is copied into one subpackage, ``src/lookahead_plugin/``, and every import of a core name is
rewritten to the subpackage's: ``from components.x import y`` -> ``from lookahead_plugin.components.x
import y``. The adapter (``lookahead_epymarl.runtime``) becomes ``lookahead_plugin.epymarl``.

Imports are found with ``ast`` (never by searching the text), so docstrings and strings stay as
they are. A plain ``import components.x`` (binding the top-level name) cannot be renamed without
changing the names the module uses, and stops the install with its file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Mapping

from lookahead_epymarl.errors import PluginError

PACKAGE = "lookahead_plugin"
"""The subpackage of EPyMARL's ``src/`` that holds the plugin."""
RUNTIME_MODULE = "lookahead_epymarl.runtime"
"""Where the adapter lives in this repository; installed as ``lookahead_plugin.epymarl``."""
SKIPPED_CORE_FILES = ("main.py", "search.py", "plot_results.py")
"""Core files not copied: EPyMARL's own ``main.py`` runs everything, and the tools (sweeps, plots)
are this project's, not the library's."""

REPO_ROOT = Path(__file__).resolve().parents[1]
CORE_SRC = REPO_ROOT / "src"
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"


def core_top_level_names(core_src: Path) -> list[str]:
    """The names the core imports its own code by: its packages and top-level modules."""
    names = [p.name for p in core_src.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    names += [p.stem for p in core_src.glob("*.py") if p.name not in SKIPPED_CORE_FILES]
    return sorted(names)


def import_renames(core_src: Path) -> dict[str, str]:
    """Module prefix -> its name inside EPyMARL's ``src/``."""
    renames = {name: f"{PACKAGE}.{name}" for name in core_top_level_names(core_src)}
    renames[RUNTIME_MODULE] = f"{PACKAGE}.epymarl"
    return renames


def _renamed(module: str, renames: Mapping[str, str]) -> str | None:
    for prefix in sorted(renames, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return renames[prefix] + module[len(prefix) :]
    return None


def rewrite_imports(source: str, renames: Mapping[str, str], filename: str) -> str:
    """``source`` with every absolute import of a renamed module pointing at its new name."""
    data = source.encode("utf-8")
    line_starts = [0]
    for line in data.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement) in bytes; ast offsets are UTF-8 bytes
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            new = _renamed(node.module, renames)
            if new is None:
                continue
            start = line_starts[node.lineno - 1] + node.col_offset
            match = re.compile(rb"from\s+" + re.escape(node.module.encode())).match(data, start)
            if match is None:
                raise PluginError(f"{filename}:{node.lineno}: cannot locate the module name of this import to rename it")
            edits.append((match.end() - len(node.module.encode()), match.end(), new.encode()))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                new = _renamed(alias.name, renames)
                if new is None:
                    continue
                if alias.asname is None:
                    raise PluginError(
                        f"{filename}:{node.lineno}: 'import {alias.name}' binds a top-level name that the plugin renames; "
                        f"write 'from ... import ...' or 'import {alias.name} as name'"
                    )
                start = line_starts[node.lineno - 1] + node.col_offset
                end = line_starts[node.end_lineno - 1] + node.end_col_offset
                pattern = re.compile(rb"(?<![\w.])" + re.escape(alias.name.encode()) + rb"(?=\s+as\s)")
                match = pattern.search(data, start, end)
                if match is None:
                    raise PluginError(f"{filename}:{node.lineno}: cannot locate '{alias.name}' in this import to rename it")
                edits.append((match.start(), match.end(), new.encode()))
    for start, end, replacement in sorted(edits, reverse=True):
        data = data[:start] + replacement + data[end:]
    return data.decode("utf-8")


def plugin_files(core_src: Path = CORE_SRC, runtime_dir: Path = RUNTIME_DIR) -> dict[str, bytes]:
    """Every file the plugin adds under EPyMARL's ``src/``: relative path -> contents.

    The core's Python files (all but ``main.py`` and the tools) and its ``config/default.yaml`` (the defaults the
    adapter completes EPyMARL's args with) under ``lookahead_plugin/``, the adapter under
    ``lookahead_plugin/epymarl/``, and the package's ``__init__.py``.
    """
    renames = import_renames(core_src)
    files: dict[str, bytes] = {
        f"{PACKAGE}/__init__.py": (
            '"""Lookahead for EPyMARL, installed by the Lookahead project\'s scripts/epymarl_plugin.py: the\n'
            "project's core (its imports renamed under this package) and the adapter to EPyMARL\n"
            '(``lookahead_plugin.epymarl``). Generated; ``uninstall`` removes it."""\n'
        ).encode(),
    }
    sources = [(p, p.relative_to(core_src)) for p in sorted(core_src.rglob("*.py"))]
    sources += [(p, Path("epymarl") / p.relative_to(runtime_dir)) for p in sorted(runtime_dir.rglob("*.py"))]
    for path, relative in sources:
        if "__pycache__" in path.parts or (len(relative.parts) == 1 and relative.name in SKIPPED_CORE_FILES):
            continue
        text = rewrite_imports(path.read_text(encoding="utf-8"), renames, str(path))
        files[f"{PACKAGE}/{relative.as_posix()}"] = text.encode("utf-8")
    files[f"{PACKAGE}/config/default.yaml"] = (core_src / "config" / "default.yaml").read_bytes()
    return files
