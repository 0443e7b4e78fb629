"""Shared fixtures of the env tests."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _mujoco_log_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """mujoco writes MUJOCO_LOG.TXT into the working directory: keep it out of the repo."""
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("mujoco_cwd"))
    yield
    os.chdir(old)
