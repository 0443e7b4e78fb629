"""The Lookahead paper's toy-game study (§4.1, Fig. 2 b/c): MAPPO vs Lookahead-MAPPO and HAPPO vs
Lookahead-HAPPO on ``R = a0^3 - 2 (a0 - a1)^2 + 3 a0`` from the joint policy ``[0.1, 0.1]``.

Every run is the project's own loop, in this process (episode runner, envs in-process, 1 torch
thread): collect one batch of one-step episodes, ``learner.train`` on it, then one greedy test
episode (the Gaussian means; the game is deterministic, so one episode is the exact greedy return).
So each update is followed by a test, as ``test_interval`` = one update would do with ``src/main.py``,
and the greedy joint action is read from the test batch (the runner only logs numeric env infos,
not the toy game's ``info["actions"]``). Measured per run:

* samples (training env steps) until the greedy return first reaches ``R >= 3.96``;
* the greedy joint-policy path ``[a0, a1]`` after every update, clipped to ``[0, 1]`` as the env
  scores it;
* agent 1's distance to its best response to the updated agent 0, ``|a1 - a0|``
  (``envs.toy_game.best_response(a0) = a0``).

Pairs have identical hyper-parameters: both members load the *Lookahead* yaml
(``lookahead_mappo`` / ``lookahead_happo``) with the same overrides, and the base member only
swaps ``learner`` and ``mac`` for the wrapped ones (``ppo_learner`` + ``basic_mac``,
``happo_learner`` + ``non_shared_mac``), so the real update is number for number the base
learner's, with nothing of Lookahead built.

Settings (all runs: ``runner=episode``, ``env_args.key=toy``, ``env_args.time_limit=1``,
``rollout_length=0``, ``mini_batches=1``, Lookahead ``lka_horizon=1 lka_warmup_steps=0
lka_mini_batches=1``, a small model ``model_hidden_dim=64 model_hidden_layers=2
model_batch_size=64``):

* ``path`` (the reported study): 20 samples per update, ``lr=3e-4``, 5 epochs, policy std 0.134
  (``std_init_param=-1``), ``lka_epochs=5 lka_rollouts=200 mlearn_steps=50``. With a smaller std
  the greedy mean does not hit the action bound after a handful of updates, so the path is visible;
* ``defaults``: the toy game's default data size (10 samples per update), 4 epochs, ``lr=3e-4``,
  std 0.37 (the yamls' ``std_init_param=1``), ``lka_epochs=4 lka_rollouts=100 mlearn_steps=50``;
* ``mappo.yaml`` / ``happo.yaml`` as they are (base only, no Lookahead twin: MAPPO's recurrent
  actor cannot run imagined rollouts), with ``runner=episode`` and for HAPPO ``rollout_length=0
  batch_size_run=10 batch_size=10 buffer_size=10``.

Outputs ``<out>/toy_game.csv`` (one row per run and greedy test), ``<out>/toy_game.json`` (settings,
per-seed samples, medians, ratios, the command) and ``<out>/toy_game.png`` (paths on contours of R,
distance to the best response, greedy return).

Command of the reported results (9 minutes on one core):

    .venv/bin/python benchmarks/toy_game.py --seeds 1,2,3,4,5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

import torch  # noqa: E402

from envs.toy_game import best_response  # noqa: E402
from main import build_config  # noqa: E402
from run import build_components, make_args, seed_everything  # noqa: E402
from runners import REGISTRY as runner_registry  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402

THRESHOLD = 3.96
"""Greedy return counted as solved (the optimum [1, 1] gives 4)."""

TOY = ["runner=episode", "env_args.key=toy", "env_args.time_limit=1", "rollout_length=0", "test_nepisode=1",
       "torch_threads=1"]
"""Overrides every run needs: the toy game (one-step episodes) played in-process."""

LOOKAHEAD_TOY = ["mini_batches=1", "lka_mini_batches=1", "lka_horizon=1", "lka_warmup_steps=0",
                 "model_hidden_dim=64", "model_hidden_layers=2", "model_batch_size=64"]
"""Lookahead-yaml overrides of both settings: one-step imagination from the first update, a small model."""

SETTINGS = {
    "path": ["batch_size_run=20", "batch_size=20", "buffer_size=20", "lr=0.0003", "epochs=5", "lka_epochs=5",
             "std_init_param=-1.0", "lka_rollouts=200", "mlearn_steps=50"],
    "defaults": ["batch_size_run=10", "batch_size=10", "buffer_size=10", "lr=0.0003", "epochs=4", "lka_epochs=4",
                 "std_init_param=1.0", "lka_rollouts=100", "mlearn_steps=50"],
}
"""Per setting, the overrides shared by both members of every pair (see the module docstring)."""

BASE_OF = {"lookahead_mappo": ["learner=ppo_learner", "mac=basic_mac"],
           "lookahead_happo": ["learner=happo_learner", "mac=non_shared_mac"]}
"""The overrides that turn a Lookahead yaml into its base algorithm with the same hyper-parameters."""


@dataclass
class Study:
    """One algorithm in one setting: which yaml, which overrides, how many updates per seed."""

    label: str
    setting: str
    yaml: str
    overrides: list[str]
    updates: int
    pair: str | None = None  # the label of the base algorithm this Lookahead run is compared with
    samples: dict[int, int | None] = field(default_factory=dict)  # seed -> samples to THRESHOLD


def studies() -> list[Study]:
    """The reported pairs in both settings, then the plain base yamls."""
    out = []
    for setting, updates in (("path", {"mappo": 40, "happo": 80}), ("defaults", {"mappo": 40, "happo": 100})):
        for name in ("mappo", "happo"):
            yaml = f"lookahead_{name}"
            shared = LOOKAHEAD_TOY + SETTINGS[setting]
            base = f"{name.upper()} [{setting}]"
            out.append(Study(base, setting, yaml, shared + BASE_OF[yaml], updates[name]))
            out.append(Study(f"Lookahead-{name.upper()} [{setting}]", setting, yaml, shared, updates[name], pair=base))
    out.append(Study("MAPPO [mappo.yaml]", "yaml", "mappo", [], 40))
    out.append(Study("HAPPO [happo.yaml]", "yaml", "happo",
                     ["rollout_length=0", "batch_size_run=10", "batch_size=10", "buffer_size=10"], 30))
    return out


# ---------------------------------------------------------------------------------------------- one run
def run_one(study: Study, seed: int) -> list[dict]:
    """Train ``study.updates`` updates from seed ``seed``; one row per greedy test (update 0 = the
    initial policy): samples so far, raw greedy means, the clipped joint action, R and |a1 - BR(a0)|."""
    config = build_config([f"--config={study.yaml}", "--env-config=toy_game", "with", *TOY, *study.overrides])
    config["seed"] = seed
    args = make_args(config)
    seed_everything(seed)
    torch.set_num_threads(args.torch_threads)
    logger = Logger(get_console_logger())
    runner = runner_registry[args.runner](args=args, logger=logger)
    try:
        buffer, learner = build_components(args, runner, logger)

        rows = [greedy_test(runner, 0)]
        for update in range(1, study.updates + 1):
            buffer.insert_episode_batch(runner.run(test_mode=False))
            sample = buffer.sample(args.batch_size)
            learner.train(sample[:, : sample.max_t_filled()], runner.t_env, update)
            rows.append(greedy_test(runner, update))
    finally:
        runner.close_env()
    return [{"setting": study.setting, "algorithm": study.label, "seed": seed, **row} for row in rows]


def greedy_test(runner: Any, update: int) -> dict:
    """One greedy episode: the mean actions ``[a0, a1]`` (raw, and clipped as the env scores them)."""
    batch = runner.run(test_mode=True, n_episodes=1)
    mean = batch["actions"][0, 0, :, 0]  # [n_agents]: Gaussian means in test mode
    a0, a1 = mean.clamp(0.0, 1.0).tolist()
    return {"update": update, "samples": runner.t_env, "mean_a0": float(mean[0]), "mean_a1": float(mean[1]),
            "a0": a0, "a1": a1, "greedy_return": float(batch["reward"][0, 0, 0]),
            "distance_to_best_response": abs(a1 - best_response(a0))}


def samples_to_threshold(rows: list[dict]) -> int | None:
    """Training samples when the greedy return first reached ``THRESHOLD`` (None: never)."""
    return next((row["samples"] for row in rows if row["greedy_return"] >= THRESHOLD), None)


# ---------------------------------------------------------------------------------------------- report
def median_samples(study: Study) -> float | None:
    """Median over seeds; a seed that never reached the threshold counts as infinitely many."""
    values = [float("inf") if s is None else s for s in study.samples.values()]
    median = statistics.median(values)
    return None if median == float("inf") else median


def table(all_studies: list[Study]) -> str:
    """The printed summary: per algorithm its samples per seed and median; Lookahead's ratio to its base."""
    by_label = {s.label: s for s in all_studies}
    lines = [f"{'algorithm':<30}{'samples to R>=3.96 per seed':<36}{'median':>8}{'ratio':>8}"]
    for study in all_studies:
        per_seed = ", ".join("-" if v is None else str(v) for v in study.samples.values())
        median = median_samples(study)
        ratio = ""
        if study.pair is not None:
            base = median_samples(by_label[study.pair])
            ratio = f"{median / base:.2f}" if median and base else "n/a"
        lines.append(f"{study.label:<30}{per_seed:<36}{median if median is not None else 'never':>8}{ratio:>8}")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Paths on contours of R (one panel per pair), distance to the best response, greedy return."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in rows if r["setting"] == "path"]
    colours = {"MAPPO": "tab:blue", "Lookahead-MAPPO": "tab:red", "HAPPO": "tab:green", "Lookahead-HAPPO": "tab:purple"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    grid = np.linspace(0, 1, 101)
    a0, a1 = np.meshgrid(grid, grid)
    reward = a0**3 - 2 * (a0 - a1) ** 2 + 3 * a0
    runs: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        runs.setdefault((row["algorithm"].split(" ")[0], row["seed"]), []).append(row)
    for ax, pair in zip(axes[0], (("MAPPO", "Lookahead-MAPPO"), ("HAPPO", "Lookahead-HAPPO"))):
        contours = ax.contour(a0, a1, reward, levels=np.arange(0.0, 4.01, 0.4), cmap="Greys", linewidths=0.7)
        ax.clabel(contours, fontsize=7)
        ax.plot([0, 1], [0, 1], ":", color="black", lw=0.8, label="best response a1 = a0")
        for name in pair:
            for seed_index, ((alg, _), run) in enumerate((k, v) for k, v in runs.items() if k[0] == name):
                ax.plot([r["a0"] for r in run], [r["a1"] for r in run], "-o", ms=2.5, lw=1.0, alpha=0.8,
                        color=colours[name], label=name if seed_index == 0 else None)
        ax.plot(0.1, 0.1, "k*", ms=10)
        ax.plot(1.0, 1.0, "y*", ms=14, markeredgecolor="black")
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="a0 (greedy)", ylabel="a1 (greedy)",
               title=f"Greedy joint policy after each update: {' vs '.join(pair)}")
        ax.legend(loc="upper left", fontsize=8)
    for ax, key, label in ((axes[1][0], "distance_to_best_response", "|a1 - BR(a0)| = |a1 - a0|"),
                           (axes[1][1], "greedy_return", "greedy return R")):
        for (name, _), run in runs.items():
            ax.plot([r["samples"] for r in run], [r[key] for r in run], lw=0.8, alpha=0.35, color=colours[name])
        for name, colour in colours.items():
            seeds = [run for (n, _), run in runs.items() if n == name]
            if seeds:
                length = min(len(run) for run in seeds)
                median = [statistics.median(run[i][key] for run in seeds) for i in range(length)]
                ax.plot([r["samples"] for r in seeds[0][:length]], median, lw=2.2, color=colour, label=f"{name} (median)")
        ax.set(xlabel="training samples (env steps)", ylabel=label)
        ax.legend(fontsize=8)
    axes[1][0].set_title("Agent 1's distance to its best response to agent 0")
    axes[1][1].axhline(THRESHOLD, color="black", ls="--", lw=0.8)
    axes[1][1].set_title(f"Greedy return after each update (threshold {THRESHOLD})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="output directory")
    options = parser.parse_args(argv)
    seeds = [int(s) for s in options.seeds.split(",")]
    os.makedirs(options.out, exist_ok=True)
    all_studies, rows, started = studies(), [], time.time()
    for study in all_studies:
        print(f"{study.label}: --config={study.yaml} --env-config=toy_game with "
              f"{' '.join(TOY + study.overrides)}", flush=True)
        for seed in seeds:
            clock = time.time()
            run_rows = run_one(study, seed)
            rows.extend(run_rows)
            study.samples[seed] = samples_to_threshold(run_rows)
            print(f"  seed {seed}: samples to R>={THRESHOLD}: {study.samples[seed]}, final greedy "
                  f"[{run_rows[-1]['a0']:.3f}, {run_rows[-1]['a1']:.3f}] R={run_rows[-1]['greedy_return']:.3f} "
                  f"({time.time() - clock:.1f} s, total {time.time() - started:.0f} s)", flush=True)

    summary = table(all_studies)
    print("\n" + summary)
    command = shlex.join([".venv/bin/python", "benchmarks/toy_game.py", *argv])
    with open(os.path.join(options.out, "toy_game.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    by_label = {s.label: s for s in all_studies}
    report = {
        "command": command,
        "threshold": THRESHOLD,
        "seeds": seeds,
        "runner": "in-process loop of the project's runner/controller/learner (runner=episode), one greedy "
                  "test episode after every update",
        "common_overrides": TOY,
        "settings": {name: LOOKAHEAD_TOY + overrides for name, overrides in SETTINGS.items()},
        "base_overrides": BASE_OF,
        "algorithms": [
            {
                "label": s.label, "setting": s.setting, "config": s.yaml, "overrides": TOY + s.overrides,
                "updates_per_seed": s.updates, "samples_to_threshold": {str(k): v for k, v in s.samples.items()},
                "median_samples": median_samples(s),
                "ratio_to_base": (median_samples(s) / median_samples(by_label[s.pair])
                                  if s.pair and median_samples(s) and median_samples(by_label[s.pair]) else None),
            }
            for s in all_studies
        ],
        "table": summary,
        "seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(options.out, "toy_game.json"), "w") as f:
        json.dump(report, f, indent=2)
    plot(rows, os.path.join(options.out, "toy_game.png"))
    print(f"wrote {options.out}/toy_game.{{csv,json,png}} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
