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


def test_three_runs_keep_every_run():
    estimate = interquartile_mean([1.0, 2.0, 6.0], reps=300)
    assert estimate.value == pytest.approx(3.0)  # floor(0.25 * 3) = 0 trimmed: the mean
    assert 1.0 <= estimate.low < 3.0 < estimate.high <= 6.0


def test_intervals_are_seeded_whatever_ran_before_and_leave_the_global_generator_alone():
    """rliable draws from numpy's global generator: the same seed must still give the same
    interval after other draws, a different seed another one, and the caller's state is kept."""
    scores_x, scores_y = np.array([1.0, 2.0, 3.0, 100.0]), np.array([1.5, 2.5])
    first = probability_of_improvement(scores_x, scores_y, reps=500, seed=7)
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    interquartile_mean(np.arange(10.0), reps=300, seed=1)
    assert np.random.rand() == expected_next  # the caller's global state is untouched
    assert probability_of_improvement(scores_x, scores_y, reps=500, seed=7) == first
    others = {probability_of_improvement(scores_x, scores_y, reps=500, seed=seed) for seed in range(8, 12)}
    assert others != {first}


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
