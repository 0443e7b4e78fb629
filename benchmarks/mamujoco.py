"""HAPPO vs MAPPO (or any algorithms) on one Multi-Agent MuJoCo task: learning curves over seeds.

Each (algorithm, seed) is one ``src/main.py`` run with its own results directory under
``<out>/runs/``; a run whose sacred status is COMPLETED is skipped, so re-running the same command
resumes an interrupted benchmark (unfinished runs start again). The report reads the sacred
``metrics.json`` files and writes ``<out>/curves.csv`` (every test evaluation), ``<out>/summary.json``
(final returns, medians over seeds, env steps/s, the command) and ``<out>/curves.png``.

Example (the run reported in the MaMuJoCo issue):

    python benchmarks/mamujoco.py --task HalfCheetah-2x3 --algs happo --seeds 1 --t-max 1000000

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
            run_rows.append({
                "alg": alg, "seed": seed, "status": read_json(os.path.join(run, "run.json")).get("status"),
                "t_env": test["steps"][-1] if test["steps"] else 0,
                "final_test_return": test["values"][-1] if test["values"] else float("nan"),
                "best_test_return": max(test["values"]) if test["values"] else float("nan"),
                "env_steps_per_second": speed,
            })
    return curve_rows, run_rows


def plot(curve_rows: list[dict], task: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for colour, alg in zip(("tab:red", "tab:blue", "tab:green", "tab:gray"), sorted({r["alg"] for r in curve_rows})):
        rows = [r for r in curve_rows if r["alg"] == alg]
        for seed in sorted({r["seed"] for r in rows}):
            points = sorted((r["t_env"], r["test_return_mean"]) for r in rows if r["seed"] == seed)
            ax.plot(*zip(*points), color=colour, alpha=0.8, label=f"{alg} seed {seed}")
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

    curve_rows, run_rows = collect(out, algs, seeds)
    with open(os.path.join(out, "curves.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["alg", "seed", "t_env", "test_return_mean"])
        writer.writeheader()
        writer.writerows(curve_rows)
    medians = {
        alg: statistics.median(r["final_test_return"] for r in run_rows if r["alg"] == alg)
        for alg in algs if any(r["alg"] == alg for r in run_rows)
    }
    summary = {"command": "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
               "task": options.task, "t_max": options.t_max, "runs": run_rows, "median_final_test_return": medians}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if curve_rows:
        plot(curve_rows, options.task, os.path.join(out, "curves.png"))
    print("\n| alg | seed | status | t_env | final test return | best | env steps/s |\n|---|---|---|---|---|---|---|")
    for r in run_rows:
        print(f"| {r['alg']} | {r['seed']} | {r['status']} | {r['t_env']} | {r['final_test_return']:.1f} | "
              f"{r['best_test_return']:.1f} | {r['env_steps_per_second']:.0f} |")
    for alg, value in medians.items():
        print(f"median final test return {alg}: {value:.1f}")
    print(f"wrote {out}/curves.csv, summary.json, curves.png")


if __name__ == "__main__":
    main()
