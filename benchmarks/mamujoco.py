"""HAPPO vs MAPPO (or any algorithms) on one Multi-Agent MuJoCo task: learning curves over seeds.

Each (algorithm, seed) is one ``src/main.py`` run with its own results directory under
``<out>/runs/``; a run whose sacred status is COMPLETED is skipped, so re-running the same command
resumes an interrupted benchmark (unfinished runs start again). The report reads the sacred
``metrics.json`` files and writes ``<out>/curves.csv`` (every test evaluation), ``<out>/summary.json``
(final returns, medians over seeds, env steps/s, the command) and ``<out>/curves.png``.

Reference curves (``--reference``, default: HARL's own HAPPO on HalfCheetah 2x3, two seeds,
measured on a 2-core machine like ours, ``benchmarks/reference/``) are drawn on the same plot and
compared at ``--checkpoints`` env steps: the summary gives each algorithm's mean greedy return
there beside the reference's, and the ratio.

Example (ours with HARL's tuned settings and with the paper's, beside HARL's own runs):

    python benchmarks/mamujoco.py --task HalfCheetah-2x3 --algs happo_harl,happo --seeds 1,2 --t-max 1000000

Extra ``key=value`` arguments after ``--`` are passed to every run, e.g. ``-- epochs=20``.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shlex
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARL_REFERENCE = [
    os.path.join(REPO, "benchmarks", "reference", f"harl_happo_halfcheetah2x3_seed{seed}.csv") for seed in (1, 2)
]
"""HARL's HAPPO (its tuned HalfCheetah 2x3 config, 10 envs x 200-step segments, 10 greedy test
episodes every 50k steps) run on a 2-core machine: ``env_steps, train_return, eval_return, wall_seconds``."""


def run_dir(out: str, alg: str, seed: int) -> str:
    return os.path.join(out, "runs", f"{alg}_seed{seed}")


def sacred_run(results: str) -> str | None:
    """The newest sacred run directory under ``results`` (None if there is none)."""
    runs = [d for d in glob.glob(os.path.join(results, "sacred", "*", "*", "*")) if os.path.basename(d).isdigit()]
    return max(runs, key=os.path.getmtime) if runs else None


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def is_completed(results: str) -> bool:
    run = sacred_run(results)
    return run is not None and read_json(os.path.join(run, "run.json")).get("status") == "COMPLETED"


def train(task: str, alg: str, seed: int, t_max: int, results: str, extra: list[str]) -> None:
    command = [sys.executable, os.path.join(REPO, "src", "main.py"), f"--config={alg}", "--env-config=mamujoco",
               "with", f"env_args.key=mamujoco:{task}", f"t_max={t_max}", f"seed={seed}",
               f"local_results_path={results}", *extra]
    print(f"running: {shlex.join(command)}", flush=True)
    with open(os.path.join(results, "stdout.log"), "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=results)


def collect(out: str, algs: list[str], seeds: list[int]) -> tuple[list[dict], list[dict]]:
    """Per test evaluation rows, and one summary row per finished or partial run."""
    curve_rows, run_rows = [], []
    for alg in algs:
        for seed in seeds:
            run = sacred_run(run_dir(out, alg, seed))
            if run is None or not os.path.exists(os.path.join(run, "metrics.json")):
                continue
            metrics = read_json(os.path.join(run, "metrics.json"))
            test = metrics.get("test_return_mean", {"steps": [], "values": []})
            for step, value in zip(test["steps"], test["values"]):
                curve_rows.append({"alg": alg, "seed": seed, "t_env": step, "test_return_mean": value})
            speed = metrics.get("env_steps_per_second", {"values": [float("nan")]})["values"][-1]
            train_speed = metrics.get("train_steps_per_second", {"values": [float("nan")]})["values"][-1]
            run_rows.append({
                "alg": alg, "seed": seed, "status": read_json(os.path.join(run, "run.json")).get("status"),
                "t_env": test["steps"][-1] if test["steps"] else 0,
                "final_test_return": test["values"][-1] if test["values"] else float("nan"),
                "best_test_return": max(test["values"]) if test["values"] else float("nan"),
                "env_steps_per_second": speed,
                "train_steps_per_second": train_speed,
            })
    return curve_rows, run_rows


def read_reference(paths: list[str]) -> list[dict]:
    """Greedy-evaluation rows ``{"alg", "seed", "t_env", "test_return_mean"}`` of reference CSVs."""
    rows = []
    for seed, path in enumerate(paths, start=1):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row["eval_return"]:
                    rows.append({"alg": "HARL (reference)", "seed": seed, "t_env": int(row["env_steps"]),
                                 "test_return_mean": float(row["eval_return"])})
    return rows


def mean_at(rows: list[dict], alg: str, step: int, tolerance: int) -> float | None:
    """Mean over seeds of each seed's test return nearest to ``step`` (within ``tolerance`` steps)."""
    values = []
    for seed in sorted({r["seed"] for r in rows if r["alg"] == alg}):
        points = [r for r in rows if r["alg"] == alg and r["seed"] == seed]
        nearest = min(points, key=lambda r: abs(r["t_env"] - step))
        if abs(nearest["t_env"] - step) <= tolerance:
            values.append(nearest["test_return_mean"])
    return statistics.fmean(values) if values else None


def plot(curve_rows: list[dict], task: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colours = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:gray")
    for colour, alg in zip(colours, sorted({r["alg"] for r in curve_rows})):
        rows = [r for r in curve_rows if r["alg"] == alg]
        style = "--" if alg.endswith("(reference)") else "-"
        for seed in sorted({r["seed"] for r in rows}):
            points = sorted((r["t_env"], r["test_return_mean"]) for r in rows if r["seed"] == seed)
            ax.plot(*zip(*points), style, color=colour, alpha=0.8, label=f"{alg} seed {seed}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("test return (greedy)")
    ax.set_title(f"Multi-Agent MuJoCo {task}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="HalfCheetah-2x3", help="mamujoco task, <Scenario>-<agent_conf>")
    parser.add_argument("--algs", default="happo,mappo", help="comma-separated algorithm configs")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--t-max", type=int, default=1000000, help="env steps per run")
    parser.add_argument("--out", default=None, help="output directory (default benchmarks/results/mamujoco_<task>)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report from existing runs")
    parser.add_argument("--reference", nargs="*", default=HARL_REFERENCE,
                        help="CSV files (env_steps, eval_return columns) drawn and compared as a reference")
    parser.add_argument("--checkpoints", default="200000,500000,1000000",
                        help="comma-separated env steps at which returns are compared with the reference")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run (after --)")
    options = parser.parse_args()
    algs = [a for a in options.algs.split(",") if a]
    seeds = [int(s) for s in options.seeds.split(",") if s]
    out = options.out or os.path.join(REPO, "benchmarks", "results", f"mamujoco_{options.task}")

    if not options.report_only:
        for seed in seeds:  # seeds outermost: every algorithm gets results early
            for alg in algs:
                results = run_dir(out, alg, seed)
                if is_completed(results):
                    print(f"skip {alg} seed {seed}: finished", flush=True)
                    continue
                os.makedirs(results, exist_ok=True)
                train(options.task, alg, seed, options.t_max, results, options.overrides)

    os.makedirs(out, exist_ok=True)
    curve_rows, run_rows = collect(out, algs, seeds)
    reference_rows = read_reference(options.reference)
    with open(os.path.join(out, "curves.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["alg", "seed", "t_env", "test_return_mean"])
        writer.writeheader()
        writer.writerows(curve_rows)
    medians = {
        alg: statistics.median(r["final_test_return"] for r in run_rows if r["alg"] == alg)
        for alg in algs if any(r["alg"] == alg for r in run_rows)
    }
    checkpoints = [int(c) for c in options.checkpoints.split(",") if c]
    comparison = []
    for step in checkpoints:
        reference = mean_at(reference_rows, "HARL (reference)", step, 25000) if reference_rows else None
        for alg in algs:
            ours = mean_at(curve_rows, alg, step, 25000)
            if ours is not None:
                comparison.append({"t_env": step, "alg": alg, "mean_test_return": ours, "reference": reference,
                                   "ratio": ours / reference if reference else None})
    summary = {"command": "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
               "task": options.task, "t_max": options.t_max, "runs": run_rows, "median_final_test_return": medians,
               "reference": options.reference, "comparison": comparison}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if curve_rows:
        plot(curve_rows + reference_rows, options.task, os.path.join(out, "curves.png"))
    print("\n| alg | seed | status | t_env | final test return | best | env steps/s | excl. tests |")
    print("|---|---|---|---|---|---|---|---|")
    for r in run_rows:
        print(f"| {r['alg']} | {r['seed']} | {r['status']} | {r['t_env']} | {r['final_test_return']:.1f} | "
              f"{r['best_test_return']:.1f} | {r['env_steps_per_second']:.0f} | {r['train_steps_per_second']:.0f} |")
    print("\n| env steps | alg | mean test return | reference | ratio |\n|---|---|---|---|---|")
    for c in comparison:
        reference = "-" if c["reference"] is None else f"{c['reference']:.0f}"
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}"
        print(f"| {c['t_env']} | {c['alg']} | {c['mean_test_return']:.0f} | {reference} | {ratio} |")
    for alg, value in medians.items():
        print(f"median final test return {alg}: {value:.1f}")
    print(f"wrote {out}/curves.csv, summary.json, curves.png")


if __name__ == "__main__":
    main()
