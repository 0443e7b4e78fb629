"""analysis.statistics (rliable): hand-computed IQM and probability of improvement, the intervals'
coverage of the point estimate, seeding and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics import interquartile_mean, probability_of_improvement


def test_iqm_trims_a_quarter_on_each_side_per_task():
    """Eight runs: the IQM is the mean of the middle four, whatever the outliers."""
    scores = np.array([-1000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0])
    estimate = interquartile_mean(scores, reps=300)
    assert estimate.value == pytest.approx((2 + 3 + 4 + 5) / 4)
    assert estimate.low <= estimate.value <= estimate.high


def test_three_runs_keep_every_run_and_the_interval_is_seeded():
    estimate = interquartile_mean([1.0, 2.0, 6.0], reps=300, seed=3)
    assert estimate.value == pytest.approx(3.0)  # floor(0.25 * 3) = 0 trimmed: the mean
    assert 1.0 <= estimate.low < 3.0 < estimate.high <= 6.0
    assert interquartile_mean([1.0, 2.0, 6.0], reps=300, seed=3) == estimate
    assert interquartile_mean([1.0, 2.0, 6.0], reps=300, seed=4) != estimate


def test_probability_of_improvement_counts_won_pairs_and_ties_half():
    """X = (1, 3, 3), Y = (2, 3): pairs won 0 + 1 + 1, tied 0 + 0.5 + 0.5 -> 3 / 6."""
    estimate = probability_of_improvement([1.0, 3.0, 3.0], [2.0, 3.0], reps=300)
    assert estimate.value == pytest.approx(0.5)
    assert probability_of_improvement([5.0, 6.0], [1.0, 2.0], reps=300).value == 1.0
    assert probability_of_improvement([1.0, 2.0], [5.0, 6.0], reps=300).value == 0.0


def test_probability_of_improvement_averages_over_tasks():
    x = np.array([[2.0, 0.0], [3.0, 0.0]])  # wins task 0, loses task 1
    y = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert probability_of_improvement(x, y, reps=300).value == pytest.approx(0.5)


@pytest.mark.parametrize("scores", [[], [1.0, float("nan")], np.zeros((2, 2, 2))])
def test_bad_scores_are_refused(scores):
    with pytest.raises(ValueError, match="expected finite scores of shape"):
        interquartile_mean(scores)


def test_tasks_must_match():
    with pytest.raises(ValueError, match="X has 2 tasks, Y 1"):
        probability_of_improvement(np.ones((2, 2)), np.ones((2, 1)))
