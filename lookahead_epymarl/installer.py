"""Install the plugin into an EPyMARL checkout, or take it out again.

``install`` checks everything first (an EPyMARL checkout, registry files of the expected shape that
do not already use the plugin's names, no file in the way), then writes the manifest and backups,
then the files. Installing again first uninstalls (so twice == once, and a re-install refreshes the
copy of the core). ``uninstall`` refuses, changing nothing, if a file the install wrote was edited
since or an unknown file sits in a folder it created; otherwise it restores every edited file byte
for byte and removes every added file and folder (with Python's ``__pycache__`` folders in them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lookahead_epymarl.checkout import REGISTRY_FILES, check_checkout, check_registry_file
from lookahead_epymarl.configs import ALGORITHMS, installed_config
from lookahead_epymarl.errors import PluginError
from lookahead_epymarl.manifest import STATE_DIR, Manifest, sha256
from lookahead_epymarl.registry_blocks import BEGIN_MARKER, with_block
from lookahead_epymarl.vendoring import CORE_SRC, PACKAGE, REPO_ROOT, plugin_files


def planned_changes(root: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(edited files, added files) of an install into the clean checkout ``root``: path -> new contents."""
    edited: dict[str, bytes] = {}
    for relative in REGISTRY_FILES:
        source = (root / relative).read_bytes()
        text = source.decode("utf-8")
        if BEGIN_MARKER in text:
            raise PluginError(
                f"{relative} already holds a '{BEGIN_MARKER}' block but {STATE_DIR}/ has no manifest; remove the "
                "block by hand (or restore the file from git) and install again"
            )
        check_registry_file(text, relative)
        edited[relative] = with_block(source, relative)

    added = {f"src/{relative}": data for relative, data in plugin_files().items()}
    core_defaults = (CORE_SRC / "config" / "default.yaml").read_text(encoding="utf-8")
    epymarl_defaults = (root / "src/config/default.yaml").read_text(encoding="utf-8")
    for algorithm in ALGORITHMS:
        added[f"src/config/algs/{algorithm}.yaml"] = installed_config(algorithm, core_defaults, epymarl_defaults).encode()

    if (root / "src" / PACKAGE).exists():
        raise PluginError(f"src/{PACKAGE} exists but was not installed by the plugin (no {STATE_DIR}/ manifest); move it away first")
    in_the_way = sorted(relative for relative in added if (root / relative).exists())
    if in_the_way:
        raise PluginError(f"{in_the_way[0]} exists already and was not installed by the plugin; not overwriting it")
    return edited, added


def install(root: Path) -> Manifest:
    """Install the plugin into the EPyMARL checkout at ``root`` (see the module docstring)."""
    root = root.resolve()
    check_checkout(root)
    if Manifest.load(root) is not None:
        uninstall(root)
    edited, added = planned_changes(root)

    manifest = Manifest(installed_from=str(REPO_ROOT))
    for relative in sorted(added):
        for parent in reversed(Path(relative).parents[:-1]):
            if not (root / parent).exists() and parent.as_posix() not in manifest.created_dirs:
                manifest.created_dirs.append(parent.as_posix())
    for relative, data in edited.items():
        original = (root / relative).read_bytes()
        backup = Manifest.backup_path(root, relative)
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_bytes(original)
        manifest.edited[relative] = {"before": sha256(original), "after": sha256(data)}
    manifest.added = {relative: sha256(data) for relative, data in added.items()}
    manifest.save(root)  # before any file changes: an interrupted install can still be uninstalled

    for relative, data in {**edited, **added}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # in place: an edited file keeps its mode
            f.write(data)
    return manifest


def _check_untouched(root: Path, manifest: Manifest) -> None:
    """Raise :class:`PluginError` if uninstalling would lose anything not written by the install."""
    for relative, digests in manifest.edited.items():
        current = sha256((root / relative).read_bytes()) if (root / relative).is_file() else None
        if current not in (digests["after"], digests["before"]):
            raise PluginError(
                f"{relative} changed since the install; nothing was uninstalled. Restore it from "
                f"{STATE_DIR}/backup/{relative} (or remove the '{BEGIN_MARKER}' block) yourself"
            )
        if not Manifest.backup_path(root, relative).is_file():
            raise PluginError(f"the backup of {relative} is missing from {STATE_DIR}/backup/; nothing was uninstalled")
    for relative, digest in manifest.added.items():
        path = root / relative
        if path.is_file() and sha256(path.read_bytes()) != digest:
            raise PluginError(f"{relative} was edited since the install; nothing was uninstalled. Move it away first")
    for folder in manifest.created_dirs:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and relative not in manifest.added and "__pycache__" not in path.parts:
                raise PluginError(f"{relative} was not installed by the plugin; nothing was uninstalled. Move it away first")


def uninstall(root: Path) -> Manifest | None:
    """Take the plugin out of the checkout at ``root``; None if it was not installed there."""
    root = root.resolve()
    manifest = Manifest.load(root)
    if manifest is None:
        return None
    _check_untouched(root, manifest)
    for relative in manifest.edited:
        with open(root / relative, "wb") as f:  # in place: the file keeps its mode
            f.write(Manifest.backup_path(root, relative).read_bytes())
    for relative in manifest.added:
        (root / relative).unlink(missing_ok=True)
    for folder in reversed(manifest.created_dirs):  # children before parents
        path = root / folder
        for cache in sorted(path.rglob("__pycache__"), reverse=True) if path.is_dir() else []:
            shutil.rmtree(cache)
        if path.is_dir():
            path.rmdir()
    shutil.rmtree(root / STATE_DIR)
    return manifest
