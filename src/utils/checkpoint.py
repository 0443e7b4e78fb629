"""Checkpoint files written atomically, so an interrupted save never leaves a corrupt file."""

from __future__ import annotations

import os
from typing import Any

import torch

from utils.atomic_file import atomic_write


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same directory, then rename it over ``path``."""
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def list_checkpoint_steps(checkpoint_path: str) -> list[int]:
    """The ``t_env`` values of the model directories saved under ``checkpoint_path``, sorted."""
    return sorted(
        int(name)
        for name in os.listdir(checkpoint_path)
        if name.isdigit() and os.path.isdir(os.path.join(checkpoint_path, name))
    )
