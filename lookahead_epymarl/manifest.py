"""What an install changed in a checkout, kept in ``PATH/.lookahead_plugin/`` so uninstall can undo it.

``manifest.json`` lists each edited file with the SHA-256 of its contents before and after the
edit (the original bytes are kept under ``backup/``), each added file with the SHA-256 it was
written with, and the folders the install created. Uninstall trusts none of it blindly: a file
whose contents no longer match is reported, not overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = ".lookahead_plugin"
MANIFEST = "manifest.json"
BACKUP_DIR = "backup"
FORMAT = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    """The install's record (paths relative to the checkout root, ``/``-separated)."""

    installed_from: str
    edited: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> {"before": sha, "after": sha}
    added: dict[str, str] = field(default_factory=dict)  # path -> sha of the written contents
    created_dirs: list[str] = field(default_factory=list)  # folders that did not exist before, parents first
    format: int = FORMAT

    @staticmethod
    def path(root: Path) -> Path:
        return root / STATE_DIR / MANIFEST

    @staticmethod
    def backup_path(root: Path, relative: str) -> Path:
        return root / STATE_DIR / BACKUP_DIR / relative

    @classmethod
    def load(cls, root: Path) -> "Manifest | None":
        """The checkout's manifest, or None when the plugin is not installed there."""
        path = cls.path(root)
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, root: Path) -> None:
        path = self.path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n", encoding="utf-8")
