"""Checkpoint files written atomically, so an interrupted save never leaves a corrupt file."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same directory, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".th")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def list_checkpoint_steps(checkpoint_path: str) -> list[int]:
    """The ``t_env`` values of the model directories saved under ``checkpoint_path``, sorted."""
    return sorted(
        int(name)
        for name in os.listdir(checkpoint_path)
        if name.isdigit() and os.path.isdir(os.path.join(checkpoint_path, name))
    )
