"""Aggregates that stay honest with few seeds, through Google's ``rliable`` library.

Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical Precipice",
recommend, for 3-10 runs per task, point estimates with interval estimates instead of a mean alone:

* the **interquartile mean** (IQM): the mean of the middle 50% of the runs' scores (a 25% trimmed
  mean), less sensitive to one outlying seed than the mean, less wasteful than the median. With 3
  runs nothing is trimmed (``floor(0.25 * 3) = 0``): the IQM is the mean; the interval still helps.
* a **95% stratified-bootstrap confidence interval**: runs are resampled with replacement within each
  task (the stratum), the statistic recomputed each time, and the 2.5% / 97.5% percentiles taken.
* the **probability of improvement** P(X > Y): the probability that a run of X scores above a run
  of Y on the same task (the Mann-Whitney U statistic / (n_x n_y), ties count 1/2), averaged over
  tasks, with its bootstrap interval (X and Y resampled independently).

Scores are arrays of shape ``(runs, tasks)``. The bootstrap's draws are seeded with ``seed``, so
the same scores give the same interval whatever ran before. Needs the ``stats`` extra
(``pip install -e ".[stats]"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from rliable import library, metrics

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval ``[low, high]``."""

    value: float
    low: float
    high: float


def _scores(scores: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim == 1:
        array = array[:, None]  # one task
    if array.ndim != 2 or array.shape[0] == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite scores of shape (runs, tasks) with at least one run, "
                         f"got shape {np.shape(scores)}")
    return array


def _interval(score_dict: dict, function, reps: int, seed: int) -> Estimate:
    (key,) = score_dict
    # rliable 1.2's stratified bootstraps draw their resampling indices from numpy's global
    # generator (np.random.choice), not from the RandomState they are given: seed the global one for
    # the duration of the call and put back what the caller had.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            # rliable hands its RandomState to arch under a keyword arch now deprecates.
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            points, intervals = library.get_interval_estimates(
                score_dict, function, reps=reps, confidence_interval_size=CONFIDENCE,
                random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)
    return Estimate(float(np.squeeze(points[key])), *(float(bound) for bound in np.ravel(intervals[key])))


def interquartile_mean(scores: np.ndarray, reps: int = 10_000, seed: int = 0) -> Estimate:
    """IQM of ``scores`` (runs x tasks, or one task's runs) with its stratified-bootstrap 95% CI."""
    return _interval({"scores": _scores(scores, "interquartile_mean")},
                     lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray, reps: int = 10_000,
                               seed: int = 0) -> Estimate:
    """P(X > Y) from two algorithms' scores on the same tasks, with its bootstrap 95% CI."""
    x, y = _scores(scores_x, "probability_of_improvement (X)"), _scores(scores_y, "probability_of_improvement (Y)")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"probability_of_improvement: X has {x.shape[1]} tasks, Y {y.shape[1]}; they must match")
    return _interval({"pair": [x, y]}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps, seed)
