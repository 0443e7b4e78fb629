"""Runs exported to the raw-data JSON layout of InstaDeep's ``marl-eval`` (``id-marl-eval``).

marl-eval (Gorsane et al. 2022, "Towards a Standardised Performance Evaluation Protocol for
Cooperative MARL") aggregates runs from one JSON file, the layout BenchMARL and Mava write::

    {env: {task: {algorithm: {run: {"step_0": {"step_count": int, metric: [value, ...]}, ...,
                                    "absolute_metrics": {metric: [value, ...]}}}}}}

A metric's list holds either one value per evaluation episode or a single value aggregated over
them; our runs log the mean over their test episodes, so each list holds that one mean. The
protocol's ``absolute_metrics`` is the best policy re-evaluated on 10x the episodes; our runs do
no such re-evaluation, so it holds the run's last evaluation (said again in the docs where the file
is published). Loading the file: ``marl_eval.utils.data_processing_utils.data_process_pipeline``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunScores:
    """One run's logged values of a metric: where it ran (``env``, ``task``), as which
    ``algorithm``, its ``run`` name (e.g. ``seed_0``) and the values at env steps ``steps``."""

    env: str
    task: str
    algorithm: str
    run: str
    steps: np.ndarray
    values: np.ndarray


def split_env_key(key: str, env: str) -> tuple[str, str]:
    """``"mamujoco:HalfCheetah-2x3"`` -> ``("mamujoco", "HalfCheetah-2x3")``; a key without a
    package prefix (a SMAC map, the toy game) -> ``(env, key)``."""
    package, separator, task = key.partition(":")
    return (package, task) if separator else (env, key)


def marl_eval_json(runs: Iterable[RunScores], metric: str) -> dict:
    """The marl-eval raw-data dict of ``runs`` for ``metric``; a run name that repeats within an
    algorithm and task gets ``_2``, ``_3``, ... appended, so no run overwrites another."""
    layout: dict = {}
    for scores in runs:
        if len(scores.steps) == 0:
            continue
        algorithms = layout.setdefault(scores.env, {}).setdefault(scores.task, {}).setdefault(scores.algorithm, {})
        name, copy = scores.run, 1
        while name in algorithms:
            copy += 1
            name = f"{scores.run}_{copy}"
        points = {f"step_{i}": {"step_count": int(step), metric: [float(value)]}
                  for i, (step, value) in enumerate(zip(scores.steps, scores.values))}
        points["absolute_metrics"] = {metric: [float(scores.values[-1])]}
        algorithms[name] = points
    return layout
