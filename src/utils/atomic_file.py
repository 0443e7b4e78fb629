"""Files replaced atomically: a write that is interrupted (an error, Ctrl-C, SIGTERM, kill -9)
leaves the previous file whole instead of a truncated one.

The new content goes to a temporary file in the target's directory (same filesystem, so the
rename is atomic), is flushed to disk, and is then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Any, Callable

FILE_MODE = 0o644
"""Permissions of a replaced file (``mkstemp`` creates 0600; results are meant to be read by others)."""


def atomic_write(path: str, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    On any exception (or ``KeyboardInterrupt``) the temporary file is removed and ``path`` is left
    as it was; a process killed mid-write leaves at most a hidden ``.tmp-*`` file behind.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(handle, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
