"""Sacred's file observer with every JSON file replaced atomically.

sacred's ``FileStorageObserver`` rewrites ``run.json`` (every heartbeat) and ``metrics.json``
(every metrics flush) in place: the file is truncated, then written. A run killed during that
write (kill -9, an out-of-memory kill, a lost machine) would leave a truncated file, losing every
metric the run had logged, or the status that ``search.py`` resumes from. Here each JSON file is
written beside its target and renamed over it (``utils.atomic_file``), so it is always either the
previous version or the new one. The directory layout and the files' contents are sacred's.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sacred.observers import FileStorageObserver
from sacred.serializer import flatten

from utils.atomic_file import atomic_write


class AtomicFileStorageObserver(FileStorageObserver):
    """``FileStorageObserver`` whose ``run.json``, ``config.json`` and ``metrics.json`` writes
    are atomic (same arguments and layout as sacred's)."""

    def save_json(self, obj: Any, filename: str) -> None:
        """Write ``obj`` as sacred does (flattened, sorted keys, indent 2), atomically."""
        atomic_write(os.path.join(self.dir, filename), lambda f: json.dump(flatten(obj), f, sort_keys=True, indent=2))
