"""Is a directory an EPyMARL checkout the plugin can be installed into?

EPyMARL (https://github.com/uoe-agents/epymarl) runs as ``python src/main.py`` from its checkout;
``src/run.py`` builds its components from module-level dicts named ``REGISTRY`` that the package
``__init__`` files of ``learners`` and ``controllers`` fill. The plugin needs those files, the
config folders, and registries that do not already use the names it adds.
"""

from __future__ import annotations

import ast
from pathlib import Path

from lookahead_epymarl.errors import PluginError
from lookahead_epymarl.runtime.names import CORE_LEARNERS, CORE_MACS

REQUIRED_FILES = (
    "src/main.py",
    "src/run.py",
    "src/components/episode_buffer.py",
    "src/learners/__init__.py",
    "src/controllers/__init__.py",
    "src/config/default.yaml",
)
REQUIRED_DIRS = ("src/config/algs",)

REGISTRY_FILES = {
    "src/learners/__init__.py": tuple(CORE_LEARNERS),
    "src/controllers/__init__.py": tuple(CORE_MACS),
}
"""EPyMARL registry file -> the names the plugin registers there (``runtime/registry.py``)."""


def check_checkout(root: Path) -> None:
    """Raise :class:`PluginError` unless ``root`` holds EPyMARL's files and folders."""
    if not root.is_dir():
        raise PluginError(f"{root} is not a directory (expected the root of an EPyMARL checkout)")
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    missing += [name + "/" for name in REQUIRED_DIRS if not (root / name).is_dir()]
    if missing:
        raise PluginError(
            f"{root} is not an EPyMARL checkout: {', '.join(missing)} missing "
            f"(expected {', '.join(REQUIRED_FILES + tuple(d + '/' for d in REQUIRED_DIRS))})"
        )


def registered_names(source: str, relative_path: str) -> set[str]:
    """The string keys a registry file puts into its module-level ``REGISTRY`` dict.

    The file must assign ``REGISTRY`` at module level (EPyMARL's shape, ``REGISTRY = {}`` then
    ``REGISTRY["name"] = Class``, or a dict literal); anything else is an unexpected shape, and the
    plugin refuses to append its block to it.
    """
    try:
        tree = ast.parse(source, filename=relative_path)
    except SyntaxError as error:
        raise PluginError(f"{relative_path} does not parse ({error.msg}, line {error.lineno}); not editing it") from None
    assigned = False
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "REGISTRY":
                assigned = True
                if isinstance(node.value, ast.Dict):
                    names |= {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == "REGISTRY"
                and isinstance(target.slice, ast.Constant)
            ):
                names.add(target.slice.value)
    if not assigned:
        raise PluginError(
            f"{relative_path} has an unexpected shape: no module-level 'REGISTRY = ...' to register the plugin in"
        )
    return names


def check_registry_file(source: str, relative_path: str) -> None:
    """Raise :class:`PluginError` if the file's shape is unexpected or it already uses a plugin name."""
    taken = sorted(registered_names(source, relative_path) & set(REGISTRY_FILES[relative_path]))
    if taken:
        raise PluginError(
            f"{relative_path} already registers {', '.join(repr(n) for n in taken)}; the plugin would shadow "
            "it, so nothing was installed"
        )
