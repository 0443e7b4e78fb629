"""MAPPO learns a small cooperative foraging task: its returns end far above a random team's.

Level-based foraging 5x5, 2 players, 1 food, 25-step episodes; an episode's return is 1 if the team
eats the food, else 0. A random team (uniform over the available actions, which is what the
untrained policy plays) eats it in 34.5% of episodes: mean return 0.345, per-episode std 0.475
(3000 episodes, measured). Over n >= 100 episodes the random team's mean return has a standard error
of at most 0.0475, so a bar of 0.6 is more than 5 standard errors above it. Measured at 25k steps
(fast test settings, seeds 1, 3, 4, 5, 6): last training window 0.76-0.97, sampled test 0.74-0.97.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.helpers import read_json, run_main, sacred_runs

FORAGING = ["env_args.key=lbforaging:Foraging-5x5-2p-1f-v3", "env_args.time_limit=25"]
RANDOM_RETURN, RANDOM_STD = 0.345, 0.475
MIN_EPISODES = 100  # every bar below is checked on a mean over at least this many episodes
BAR = RANDOM_RETURN + 5 * RANDOM_STD / MIN_EPISODES**0.5  # 0.58: 5 standard errors above random


def run_metrics(overrides: list[str], results: str, timeout: float) -> dict:
    result = run_main("mappo", FORAGING + overrides, results, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return read_json(os.path.join(sacred_runs(results)[0], "metrics.json"))


def test_mappo_learns_small_foraging_far_beyond_a_random_team(tmp_path):
    """25k steps with a larger learning rate and a smaller network than mappo.yaml (about 25 s of CPU).
    Train returns are logged every 2500 steps (>= 100 episodes of <= 25 steps each); the final test
    samples from the policy (``test_greedy=False``) over 100 episodes."""
    metrics = run_metrics(
        ["runner=episode", "lr=0.001", "hidden_dim=64", "t_max=25000", "runner_log_interval=2500",
         "test_interval=12000", "test_nepisode=100", "test_greedy=False", "seed=1"],
        str(tmp_path), timeout=300)
    train, test = metrics["return_mean"]["values"], metrics["test_return_mean"]["values"]
    assert metrics["test_return_mean"]["steps"][-1] > 24000  # the last test comes after the training
    assert test[0] < RANDOM_RETURN + 0.15, f"the untrained team is not random-like: {test}"
    assert train[-1] > BAR, f"train returns stay near a random team's ({RANDOM_RETURN}): {train}"
    assert test[-1] > BAR, f"sampled test returns stay near a random team's ({RANDOM_RETURN}): {test}"


@pytest.mark.slow
def test_mappo_greedy_policy_learns_small_foraging_with_default_hyper_parameters(tmp_path):
    """mappo.yaml as it is, 62k steps (about 80 s): the greedy test policy too (an untrained greedy team
    scores about 0.05; a random team 0.345) and the sampled training episodes end above the bar."""
    metrics = run_metrics(
        ["t_max=62000", "test_interval=30000", "test_nepisode=100", "runner_log_interval=5000", "seed=1"],
        str(tmp_path), timeout=600)
    train, test = metrics["return_mean"]["values"], metrics["test_return_mean"]["values"]
    assert metrics["test_return_mean"]["steps"][-1] > 60000  # the last test comes after 60k steps
    assert train[-1] > BAR, f"train returns stay near a random team's ({RANDOM_RETURN}): {train}"
    assert test[-1] > BAR, f"greedy test returns stay near a random team's ({RANDOM_RETURN}): {test}"
