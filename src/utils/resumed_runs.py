"""A resumed run and the run it resumes, as ``search.py`` and ``plot_results.py`` link them.

``search.py`` resumes a stopped run (INTERRUPTED, DEAD, ...) from its newest checkpoint as a new
sacred run whose config names the old one: ``resumed_from`` (its directory) and ``resumed_step``
(the checkpoint's t_env). Both tools find the old run from there, in the same sacred tree as the
new one (the last three parts of ``resumed_from``, ``<name>/<env>/<id>``, under the new run's
``sacred/`` directory), so a results directory that was moved or copied elsewhere still links up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

RESUME_KEYS = ("resumed_from", "resumed_step")


def origin_dir(run_dir: str, config: Mapping[str, Any]) -> str | None:
    """The directory of the run that the run in ``run_dir`` (with ``config``) resumed, or None if
    it resumed none."""
    resumed_from = config.get("resumed_from")
    if not resumed_from:
        return None
    tail = os.path.normpath(resumed_from).split(os.sep)[-3:]
    sacred_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.normpath(run_dir))))
    return os.path.join(sacred_root, *tail)
