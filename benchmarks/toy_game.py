"""The Lookahead paper's toy-game study (§4.1, Fig. 2 b/c): MAPPO and HAPPO, with and without
Lookahead, on ``R(a0, a1) = a0^3 - 2 (a0 - a1)^2 + 3 a0`` over ``[0, 1]^2`` from the joint policy
``[0.1, 0.1]`` (optimum ``[1, 1]``, ``R = 4``; agent 1's best response is ``a1 = a0``).

Members (each a ``src/main.py`` command; ``lookahead_mappo_toy`` / ``lookahead_happo_toy`` hold
every setting, 20 one-step samples per update):

* MAPPO, Lookahead-MAPPO (the paper: ``lka_trust_region=pi_k``, a learned reward model), its
  ``lka_trust_region=mu`` variant (the authors' clip), ``lka_model=env`` (the game's exact reward in
  the model's place: no model error), both together, and MAPPO with ``ppo_updates_per_batch=2`` (as
  far per batch as Lookahead's two updates), ``advantage_estimator=gae`` (no off-policy correction,
  the authors' setting) and ``lka_weight_clip=2.0`` (pi^k / mu truncated at 2): 60 updates per seed,
  compared with MAPPO;
* HAPPO and Lookahead-HAPPO: 100 updates per seed, compared with HAPPO.

Every run is the project's own loop in this process (``experiment.build.build_run``, the episode
runner, 1 torch thread): collect a batch, ``learner.train`` on it, then one greedy test episode (the
Gaussian means; the game is deterministic, so one episode is the exact greedy return), as
``test_interval`` = one update does in ``src/main.py``. The greedy joint action is read from the
test batch. No run stops early, so the curves of all seeds align. Measured after every update:

* the greedy means (raw, and clipped to ``[0, 1]`` as the env scores them) and the greedy return;
* agent 1's distance to its best response to the *updated* agent 0, ``|a1 - BR(a0)| = |a1 - a0|``;
* the true slopes ``dR/da0 = 3 a0^2 - 4 (a0 - a1) + 3`` and ``dR/da1 = 4 (a0 - a1)`` at the greedy
  action, and for learned-model members the model's, by central differences (``h = 0.01``, probes
  clipped to ``[0, 1]``) through ``model.step_with_obs`` on Lookahead's own random stream, so the
  probe leaves the run's numbers untouched; whether the model's ``dR/da1`` has the right sign (a true
  slope under 0.05 in size counts as right); the learner's ``model_val_reward_r2`` and ``kl_gap*``.

Summaries per member (medians over seeds, ratios to the member's base): samples until the greedy
return first reaches ``R >= 3.96`` (a seed that never does counts as infinitely many); agent 1's
mean distance to its best response over the updates up to and including the first solving one (all
updates if none; the initial policy is not counted); that distance at ``a0 = 0.5``, interpolated
between the two updates whose ``a0`` first bracket 0.5 (median over the seeds that get there); for
learned-model members the fraction of the first 5 updates with the wrong sign of the model's
``dR/da1`` (mean over seeds) and the median ``model_val_reward_r2`` of those updates; for Lookahead
members the fraction of updates with a positive ``kl_gap`` (the paper's Fig. 4 diagnostic: the
lookahead policy nearer the updated policy than pi^k is), over the updates up to and including the
first solving one and over those after it (means over seeds; after solving the policies only jitter
around the optimum, so there is no direction left to predict). Goals:
Lookahead-MAPPO's two distances <= 0.8x MAPPO's, its median samples <= 0.6x MAPPO's.

Outputs ``<out>/toy_game.csv`` (one row per run and update, update 0 = the initial policy),
``<out>/toy_game.json`` (commands, per-seed numbers, medians, ratios, goals) and
``<out>/toy_game.png`` (greedy paths over contours of R, distance to the best response, greedy
return, model vs true ``dR/da1``). Command of the committed results:

    .venv/bin/python benchmarks/toy_game.py --seeds 0,1,2,3,4,5,6,7,8,9
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

import torch  # noqa: E402

from envs.toy_game import best_response  # noqa: E402
from main import build_config  # noqa: E402
from experiment.build import build_run  # noqa: E402
from run import make_args, seed_everything  # noqa: E402
from runners import REGISTRY as runner_registry  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402

THRESHOLD = 3.96
"""Greedy return counted as solved (the optimum [1, 1] gives 4)."""

SLOPE_STEP = 0.01
"""Half-width of the central differences of the model's reward."""

FLAT_SLOPE = 0.05
"""A true ``dR/da1`` smaller than this in size has no sign to get wrong."""

EARLY_UPDATES = 5
"""The first updates over which the model's sign errors and validation R^2 are summarised."""


@dataclass(frozen=True)
class Member:
    """One study member: a toy yaml with ``with`` overrides, its base and its updates per seed."""

    label: str
    config: str
    overrides: tuple[str, ...]
    base: str
    updates: int

    def argv(self) -> list[str]:
        """The member's ``src/main.py`` arguments."""
        with_part = ["with", *self.overrides] if self.overrides else []
        return [f"--config={self.config}", "--env-config=toy_game", *with_part]

    def command(self) -> str:
        """The member as a reader would type it."""
        return shlex.join(["python", "src/main.py", *self.argv()])


MAPPO_UPDATES, HAPPO_UPDATES = 60, 100
MEMBERS = (
    Member("MAPPO", "lookahead_mappo_toy", ("lookahead=False",), "MAPPO", MAPPO_UPDATES),
    Member("Lookahead-MAPPO", "lookahead_mappo_toy", (), "MAPPO", MAPPO_UPDATES),
    Member("Lookahead-MAPPO (mu)", "lookahead_mappo_toy", ("lka_trust_region=mu",), "MAPPO", MAPPO_UPDATES),
    Member("Lookahead-MAPPO (env model)", "lookahead_mappo_toy", ("lka_model=env",), "MAPPO", MAPPO_UPDATES),
    Member("Lookahead-MAPPO (mu, env model)", "lookahead_mappo_toy", ("lka_model=env", "lka_trust_region=mu"),
           "MAPPO", MAPPO_UPDATES),
    Member("MAPPO x2 updates", "lookahead_mappo_toy", ("lookahead=False", "ppo_updates_per_batch=2"), "MAPPO",
           MAPPO_UPDATES),
    Member("Lookahead-MAPPO (gae)", "lookahead_mappo_toy", ("advantage_estimator=gae",), "MAPPO", MAPPO_UPDATES),
    Member("Lookahead-MAPPO (w <= 2)", "lookahead_mappo_toy", ("lka_weight_clip=2.0",), "MAPPO", MAPPO_UPDATES),
    Member("HAPPO", "lookahead_happo_toy", ("lookahead=False",), "HAPPO", HAPPO_UPDATES),
    Member("Lookahead-HAPPO", "lookahead_happo_toy", (), "HAPPO", HAPPO_UPDATES),
)
"""The study, bases first within each family."""

LEARNER_STATS = ("model_val_reward_r2", "kl_gap", "kl_gap_agent0", "kl_gap_agent1", "is_weight_max_agent0",
                 "is_weight_max_agent1")
"""Diagnostics copied from ``learner.train``'s stats where present."""


# ---------------------------------------------------------------------------------------------- one run
def run_one(member: Member, seed: int) -> list[dict[str, Any]]:
    """Train ``member.updates`` updates from ``seed``, as ``run.train`` would with a test after every
    update; one row per greedy test (update 0 = the initial policy)."""
    config = build_config(member.argv())
    config["seed"] = seed
    args = make_args(config)
    seed_everything(seed)
    torch.set_num_threads(args.torch_threads)
    logger = Logger(get_console_logger())
    runner = runner_registry[args.runner](args=args, logger=logger)
    try:
        components = build_run(args, runner, logger)
        buffer, learner = components.buffer, components.learner
        model = learned_model(learner)
        rows = [measure(runner, None, 0, {})]
        episode = 0
        for update in range(1, member.updates + 1):
            buffer.insert_episode_batch(runner.run(test_mode=False))
            sample = buffer.sample(args.batch_size)
            stats = learner.train(sample[:, : sample.max_t_filled()], runner.t_env, episode)
            episode += args.batch_size_run
            rows.append(measure(runner, model, update, stats))
    finally:
        runner.close_env()
    return [{"member": member.label, "seed": seed, **row} for row in rows]


def learned_model(learner: Any) -> Any | None:
    """The learner's learned dynamics model (None: no Lookahead, or ``lka_model=env``)."""
    trainer = getattr(learner, "model_trainer", None) if getattr(learner, "enabled", False) else None
    return None if trainer is None else trainer.model


def measure(runner: Any, model: Any | None, update: int, stats: dict[str, Any]) -> dict[str, Any]:
    """One greedy episode after ``update``: the means ``[a0, a1]`` (raw and clipped), R, agent 1's
    distance to its best response, the true and (with ``model``) the model's reward slopes, and the
    learner's diagnostics of this update."""
    batch = runner.run(test_mode=True, n_episodes=1)
    mean = batch["actions"][0, 0, :, 0]  # [n_agents]: the Gaussian means in test mode
    a0, a1 = mean.clamp(0.0, 1.0).tolist()
    true_a0, true_a1 = 3 * a0**2 - 4 * (a0 - a1) + 3, 4 * (a0 - a1)
    row = {"update": update, "samples": runner.t_env, "mean_a0": float(mean[0]), "mean_a1": float(mean[1]),
           "a0": a0, "a1": a1, "greedy_return": float(batch["reward"][0, 0, 0]),
           "distance_to_best_response": abs(a1 - best_response(a0)),
           "model_slope_a0": None, "model_slope_a1": None, "true_slope_a0": true_a0, "true_slope_a1": true_a1,
           "slope_a1_sign_ok": None}
    if model is not None:
        row["model_slope_a0"], row["model_slope_a1"] = model_slopes(model, a0, a1)
        row["slope_a1_sign_ok"] = abs(true_a1) < FLAT_SLOPE or (row["model_slope_a1"] > 0) == (true_a1 > 0)
    row.update({key: None if stats.get(key) is None else float(stats[key]) for key in LEARNER_STATS})
    return row


def model_slopes(model: Any, a0: float, a1: float) -> tuple[float, float]:
    """The model's ``(dR/da0, dR/da1)`` at ``[a0, a1]``: central differences of its predicted reward
    at the four probes ``a_i +- SLOPE_STEP`` (clipped to ``[0, 1]``, one-sided at a bound), in one
    batch. ``step_with_obs`` draws the ensemble member of each probe: it does so on a forked random
    stream, so probing changes none of the run's numbers."""
    device = model.elites.device
    steps = SLOPE_STEP * torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], device=device)
    probes = (torch.tensor([a0, a1], device=device) + steps).clamp(0.0, 1.0)  # [4, 2]
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        reward = model.step_with_obs(torch.ones(4, 1, device=device), probes.unsqueeze(-1)).reward[:, 0]
    spacing = (probes[0::2] - probes[1::2]).sum(-1)  # [2]: the a0 probes' gap, the a1 probes'
    slope_a0, slope_a1 = ((reward[0::2] - reward[1::2]) / spacing).tolist()
    return slope_a0, slope_a1


# ---------------------------------------------------------------------------------------------- summaries
def seed_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's numbers: samples to ``THRESHOLD``, agent 1's mean distance to its best response over
    the path, that distance at ``a0 = 0.5``, and (learned model) the early sign errors and R^2."""
    updates = rows[1:]
    solved = next((i for i, row in enumerate(updates) if row["greedy_return"] >= THRESHOLD), None)
    path = updates if solved is None else updates[: solved + 1]
    summary = {
        "samples_to_threshold": None if solved is None else updates[solved]["samples"],
        "mean_distance": statistics.fmean(row["distance_to_best_response"] for row in path),
        "distance_at_a0_half": distance_at_a0(rows, 0.5),
        "final_a0": updates[-1]["a0"], "final_a1": updates[-1]["a1"],
        "final_greedy_return": updates[-1]["greedy_return"],
    }
    early = updates[:EARLY_UPDATES]
    if early[0]["slope_a1_sign_ok"] is not None:
        summary["sign_wrong_fraction_early"] = statistics.fmean(not row["slope_a1_sign_ok"] for row in early)
        r2 = [row["model_val_reward_r2"] for row in early
              if row["model_val_reward_r2"] is not None and not math.isnan(row["model_val_reward_r2"])]
        summary["median_r2_early"] = statistics.median(r2) if r2 else None
    if updates[0]["kl_gap"] is not None:
        after = updates[len(path):]
        summary["kl_gap_positive_learning"] = statistics.fmean(row["kl_gap"] > 0 for row in path)
        summary["kl_gap_positive_solved"] = statistics.fmean(row["kl_gap"] > 0 for row in after) if after else None
    return summary


def distance_at_a0(rows: list[dict[str, Any]], target: float) -> float | None:
    """Agent 1's distance to its best response where agent 0's greedy action first reaches
    ``target``: linear in ``a0`` between the two consecutive tests that bracket it (None: never)."""
    for before, after in zip(rows, rows[1:]):
        if before["a0"] < target <= after["a0"]:
            weight = (target - before["a0"]) / (after["a0"] - before["a0"])
            d0, d1 = before["distance_to_best_response"], after["distance_to_best_response"]
            return d0 + weight * (d1 - d0)
    return None


def median_samples(values: list[int | None]) -> float:
    """Median samples over seeds; a seed that never solved counts as infinitely many."""
    return statistics.median(math.inf if v is None else v for v in values)


def median_present(values: list[float | None]) -> float | None:
    """Median over the seeds that have a value (None: none has)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base`` where both are finite numbers and the base is not 0."""
    if value is None or base is None or not math.isfinite(value) or not math.isfinite(base) or base == 0:
        return None
    return value / base


def member_summary(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Medians over seeds of a member's per-seed numbers (``samples`` may be ``inf``)."""
    seeds = list(per_seed.values())
    summary = {
        "median_samples": median_samples([s["samples_to_threshold"] for s in seeds]),
        "median_mean_distance": statistics.median(s["mean_distance"] for s in seeds),
        "median_distance_at_a0_half": median_present([s["distance_at_a0_half"] for s in seeds]),
        "seeds_reaching_a0_half": sum(s["distance_at_a0_half"] is not None for s in seeds),
    }
    if "sign_wrong_fraction_early" in seeds[0]:
        summary["sign_wrong_fraction_early"] = statistics.fmean(s["sign_wrong_fraction_early"] for s in seeds)
        summary["median_r2_early"] = median_present([s["median_r2_early"] for s in seeds])
    if "kl_gap_positive_learning" in seeds[0]:
        summary["kl_gap_positive_learning"] = statistics.fmean(s["kl_gap_positive_learning"] for s in seeds)
        solved = [s["kl_gap_positive_solved"] for s in seeds if s["kl_gap_positive_solved"] is not None]
        summary["kl_gap_positive_solved"] = statistics.fmean(solved) if solved else None
    return summary


def add_ratios(summaries: dict[str, dict[str, Any]]) -> None:
    """Each member's ratios of its medians to its base's, in place."""
    for member in MEMBERS:
        own, base = summaries[member.label], summaries[member.base]
        for key in ("median_samples", "median_mean_distance", "median_distance_at_a0_half"):
            own[f"ratio_{key}"] = ratio(own[key], base[key])


def goals(summaries: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's goals for Lookahead-MAPPO vs MAPPO, as MET/MISSED lines."""
    lka, base = summaries["Lookahead-MAPPO"], summaries["MAPPO"]
    path, half = lka["ratio_median_mean_distance"], lka["ratio_median_distance_at_a0_half"]
    distance_met = path is not None and half is not None and path <= 0.8 and half <= 0.8
    samples_met = math.isfinite(lka["median_samples"]) and lka["median_samples"] <= 0.6 * base["median_samples"]
    return [
        f"{'MET' if distance_met else 'MISSED'}: Lookahead-MAPPO's distance to best response <= 0.8x MAPPO's "
        f"(mean over path {fmt(path)}x, at a0=0.5 {fmt(half)}x)",
        f"{'MET' if samples_met else 'MISSED'}: Lookahead-MAPPO's median samples to R>={THRESHOLD} <= 0.6x MAPPO's "
        f"({fmt(lka['median_samples'], 0)} vs {fmt(base['median_samples'], 0)}: {fmt(lka['ratio_median_samples'])}x)",
    ]


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for the table: '-' for None, 'never' for infinity."""
    if value is None:
        return "-"
    return "never" if math.isinf(value) else f"{value:.{digits}f}"


def table(per_seed: dict[str, dict[int, dict[str, Any]]], summaries: dict[str, dict[str, Any]]) -> str:
    """The printed summary: medians and ratios per member, then samples to the threshold per seed."""
    header = (f"{'member':<32}{'samples':>8}{'ratio':>7}{'dist path':>10}{'ratio':>7}{'dist@a0=.5':>11}"
              f"{'ratio':>7}{'sign wrong 1-5':>15}{'R2 1-5':>8}{'gap>0 learning':>15}{'gap>0 solved':>13}")
    lines = [header]
    for member in MEMBERS:
        s = summaries[member.label]
        half = fmt(s["median_distance_at_a0_half"], 3)
        if s["seeds_reaching_a0_half"] < len(per_seed[member.label]):
            half += f" ({s['seeds_reaching_a0_half']})"
        lines.append(f"{member.label:<32}{fmt(s['median_samples'], 0):>8}{fmt(s['ratio_median_samples']):>7}"
                     f"{fmt(s['median_mean_distance'], 3):>10}{fmt(s['ratio_median_mean_distance']):>7}{half:>11}"
                     f"{fmt(s['ratio_median_distance_at_a0_half']):>7}{fmt(s.get('sign_wrong_fraction_early')):>15}"
                     f"{fmt(s.get('median_r2_early'), 3):>8}{fmt(s.get('kl_gap_positive_learning')):>15}"
                     f"{fmt(s.get('kl_gap_positive_solved')):>13}")
    lines += ["", f"{'member':<32}samples to R>={THRESHOLD} per seed ('-': never)"]
    for member in MEMBERS:
        values = [s["samples_to_threshold"] for s in per_seed[member.label].values()]
        lines.append(f"{member.label:<32}{' '.join('-' if v is None else str(v) for v in values)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- figure
COLOURS = {"MAPPO": "tab:blue", "Lookahead-MAPPO": "tab:red", "Lookahead-MAPPO (mu)": "tab:orange",
           "Lookahead-MAPPO (env model)": "tab:green", "Lookahead-MAPPO (mu, env model)": "tab:olive",
           "MAPPO x2 updates": "tab:gray", "Lookahead-MAPPO (gae)": "tab:cyan", "Lookahead-MAPPO (w <= 2)": "tab:pink",
           "HAPPO": "tab:purple", "Lookahead-HAPPO": "tab:brown"}


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """(a-c) greedy paths over contours of R, (d) agent 1's distance to its best response, (e) the
    greedy return, (f) the model's vs the true ``dR/da1``; medians over seeds in (d-f)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for row in rows:
        seeds = runs.setdefault(row["member"], [])
        if row["update"] == 0:
            seeds.append([])
        seeds[-1].append(row)

    def median_curve(member: str, key: str, start: int = 0) -> tuple[list[int], list[float]]:
        """Samples and the median of ``key`` over seeds, from update ``start`` on."""
        seeds = runs[member]
        return ([r["samples"] for r in seeds[0][start:]],
                [statistics.median(seed[i][key] for seed in seeds) for i in range(start, len(seeds[0]))])

    fig, axes = plt.subplots(2, 3, figsize=(18, 11))
    grid = np.linspace(0, 1, 101)
    g0, g1 = np.meshgrid(grid, grid)
    reward = g0**3 - 2 * (g0 - g1) ** 2 + 3 * g0
    panels = (("(a)", ("MAPPO", "Lookahead-MAPPO")),
              ("(b)", ("MAPPO", "Lookahead-MAPPO (mu)", "Lookahead-MAPPO (env model)",
                       "Lookahead-MAPPO (mu, env model)", "MAPPO x2 updates")),
              ("(c)", ("HAPPO", "Lookahead-HAPPO")))
    for ax, (tag, members) in zip(axes[0], panels):
        contours = ax.contour(g0, g1, reward, levels=np.arange(0.0, 4.01, 0.4), cmap="Greys", linewidths=0.7)
        ax.clabel(contours, fontsize=7)
        ax.plot([0, 1], [0, 1], ":", color="black", lw=1.0, label="best response a1 = a0")
        for member in members:
            for i, seed in enumerate(runs[member]):
                ax.plot([r["a0"] for r in seed], [r["a1"] for r in seed], "-", lw=0.7, alpha=0.6,
                        color=COLOURS[member], label=member if i == 0 else None)
        ax.plot(0.1, 0.1, "k*", ms=11, label="start [0.1, 0.1]")
        ax.plot(1.0, 1.0, "y*", ms=15, markeredgecolor="black", label="optimum [1, 1]")
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="a0 (greedy)", ylabel="a1 (greedy)",
               title=f"{tag} greedy joint policy after each update")
        ax.legend(loc="upper left", fontsize=7)

    ax = axes[1][0]
    for member in MEMBERS:
        ax.plot(*median_curve(member.label, "distance_to_best_response"), lw=1.5, color=COLOURS[member.label],
                label=member.label)
    ax.set(xlabel="training samples", ylabel="|a1 - BR(a0)| (median over seeds)",
           title="(d) agent 1's distance to its best response to agent 0")
    ax.legend(fontsize=7)

    ax = axes[1][1]
    for member in MEMBERS:
        ax.plot(*median_curve(member.label, "greedy_return"), lw=1.5, color=COLOURS[member.label], label=member.label)
    ax.axhline(THRESHOLD, color="black", ls="--", lw=0.8, label=f"R = {THRESHOLD}")
    ax.set(xlabel="training samples", ylabel="greedy return (median over seeds)", title="(e) greedy return")
    ax.legend(fontsize=7)

    ax = axes[1][2]
    for member in MEMBERS:
        if runs[member.label][0][1]["model_slope_a1"] is None:
            continue
        samples, model_slope = median_curve(member.label, "model_slope_a1", start=1)  # no model before update 1
        _, true_slope = median_curve(member.label, "true_slope_a1", start=1)
        ax.plot(samples, model_slope, lw=1.5, color=COLOURS[member.label], label=f"{member.label}: model")
        ax.plot(samples, true_slope, "--", lw=1.2, color=COLOURS[member.label], label=f"{member.label}: true")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set(xlabel="training samples", ylabel="dR/da1 at the greedy action (median over seeds)",
           title="(f) the learned model's dR/da1 vs the true one")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated seeds")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="output directory")
    options = parser.parse_args(argv)
    seeds = [int(s) for s in options.seeds.split(",")]
    os.makedirs(options.out, exist_ok=True)
    rows: list[dict[str, Any]] = []
    per_seed: dict[str, dict[int, dict[str, Any]]] = {}
    started = time.time()
    for member in MEMBERS:
        print(f"{member.label}: {member.command()}", flush=True)
        per_seed[member.label] = {}
        for seed in seeds:
            clock = time.time()
            run_rows = run_one(member, seed)
            rows.extend(run_rows)
            summary = seed_summary(run_rows)
            per_seed[member.label][seed] = summary
            print(f"  seed {seed}: samples to R>={THRESHOLD}: {summary['samples_to_threshold']}, final greedy "
                  f"[{summary['final_a0']:.3f}, {summary['final_a1']:.3f}] R={summary['final_greedy_return']:.3f} "
                  f"({time.time() - clock:.1f} s, total {time.time() - started:.0f} s)", flush=True)

    summaries = {label: member_summary(seed_numbers) for label, seed_numbers in per_seed.items()}
    add_ratios(summaries)
    summary_table, goal_lines = table(per_seed, summaries), goals(summaries)
    print("\n" + summary_table + "\n\n" + "\n".join(goal_lines))

    with open(os.path.join(options.out, "toy_game.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    finite = lambda value: None if isinstance(value, float) and math.isinf(value) else value  # noqa: E731
    report = {
        "command": shlex.join([".venv/bin/python", "benchmarks/toy_game.py", *argv]),
        "threshold": THRESHOLD,
        "seeds": seeds,
        "loop": "in-process loop of the project's runner/controller/learner, one greedy test episode after every "
                "update; 'median_samples': null = the median seed never reached the threshold",
        "members": [
            {"label": m.label, "command": m.command(), "base": m.base, "updates_per_seed": m.updates,
             "per_seed": {str(seed): numbers for seed, numbers in per_seed[m.label].items()},
             **{key: finite(value) for key, value in summaries[m.label].items()}}
            for m in MEMBERS
        ],
        "goals": goal_lines,
        "table": summary_table,
        "seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(options.out, "toy_game.json"), "w") as f:
        json.dump(report, f, indent=2)
    plot(rows, os.path.join(options.out, "toy_game.png"))
    print(f"wrote {options.out}/toy_game.{{csv,json,png}} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
