"""Two single-CPU trials side by side, or one two-CPU trial after another: which gets more env steps per second?

A sweep on a 2-core machine can give each trial one CPU and run two at once (``resources: {cpus: 1}``)
or give each trial both CPUs and run them one at a time (``resources: {cpus: 2}``). This benchmark
runs the same training both ways, as Ray would start it, and compares the machine's total throughput:

* ``packed``: two ``src/main.py`` processes at once (seeds s and s+1), each with ``env_workers=1`` and
  ``OMP_NUM_THREADS=1`` (Ray's setting for a one-CPU task, which ``learner_threads=0`` follows);
* ``wide``: one process with ``env_workers=2`` and ``OMP_NUM_THREADS=2``, run twice in a row
  (seeds s and s+1), so both modes do the same work.

Throughput = env steps done by the mode's runs (the last ``t_env`` each logged) / the mode's wall time
(start-up and test episodes included). Modes alternate which goes first, round by round, so both see
the same machine load; the 1-minute load average is recorded. Every process started here is in its own
process group and is killed if the benchmark stops early.

Command that produced ``benchmarks/results/trial_packing.{json,csv,png}``:

    python benchmarks/trial_packing.py --rounds 2 --configs lookahead_happo,happo --t-max 32000
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("packed", "wide")


def command_for(config: str, key: str, t_max: int, seed: int, env_workers: int, results: str) -> list[str]:
    return [sys.executable, os.path.join(REPO, "src", "main.py"), f"--config={config}", "--env-config=mamujoco",
            "with", f"env_args.key={key}", f"t_max={t_max}", f"seed={seed}", f"env_workers={env_workers}",
            "learner_threads=0", "use_cuda=False", f"local_results_path={results}"]


class Children:
    """The processes this benchmark started; :meth:`kill_all` ends each one's whole process group."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, command: list[str], threads: int, log_path: str) -> subprocess.Popen:
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.running.append(process)
        return process

    def wait(self, process: subprocess.Popen, log_path: str) -> None:
        code = process.wait()
        self.running.remove(process)
        if code != 0:
            with open(log_path) as log:
                tail = log.read()[-3000:]
            raise RuntimeError(f"{shlex.join(process.args)} exited with {code}:\n{tail}")

    def kill_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()


def steps_done(results: str) -> int:
    """The largest ``t_env`` any metric of the single sacred run under ``results`` was logged at."""
    paths = glob.glob(os.path.join(results, "sacred", "*", "*", "*", "metrics.json"))
    if len(paths) != 1:
        raise RuntimeError(f"expected one sacred run under {results}, found {len(paths)}")
    with open(paths[0]) as f:
        metrics = json.load(f)
    return max(max(m["steps"]) for m in metrics.values() if m["steps"])


def run_mode(mode: str, config: str, key: str, t_max: int, seed: int, scratch: str, children: Children) -> dict:
    """Run ``mode`` once (two trials' worth of training); return its steps, wall time and throughput."""
    started = time.perf_counter()
    results = [tempfile.mkdtemp(prefix=f"{mode}-{config}-{s}-", dir=scratch) for s in (seed, seed + 1)]
    logs = [os.path.join(r, "console.log") for r in results]
    if mode == "packed":
        processes = [children.start(command_for(config, key, t_max, s, 1, r), 1, log)
                     for s, r, log in zip((seed, seed + 1), results, logs)]
        for process, log in zip(processes, logs):
            children.wait(process, log)
    else:
        for s, r, log in zip((seed, seed + 1), results, logs):
            children.wait(children.start(command_for(config, key, t_max, s, 2, r), 2, log), log)
    wall = time.perf_counter() - started
    steps = sum(steps_done(r) for r in results)
    return {"mode": mode, "config": config, "seed": seed, "steps": steps, "wall_seconds": wall,
            "steps_per_second": steps / wall}


def plot(rows: list[dict], summary: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [s["config"] for s in summary]
    fig, axes = plt.subplots(1, len(configs), figsize=(4 * len(configs), 3.6), squeeze=False)
    for ax, entry in zip(axes[0], summary):
        for x, mode in enumerate(MODES):
            values = [r["steps_per_second"] for r in rows if r["config"] == entry["config"] and r["mode"] == mode]
            ax.bar(x, entry[f"median_{mode}"], color=["tab:blue", "tab:orange"][x], alpha=0.6)
            ax.scatter([x] * len(values), values, color="black", s=15, zorder=3)
        ax.set_xticks(range(len(MODES)), ["2 x 1 CPU side by side", "1 x 2 CPUs in turn"], fontsize=8)
        ax.set_ylabel("env steps / s (machine total)")
        ax.set_title(f"{entry['config']}: packed / wide = {entry['ratio_packed_over_wide']:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="lookahead_happo,happo", help="comma-separated algorithm configs")
    parser.add_argument("--key", default="mamujoco:HalfCheetah-2x3", help="env_args.key (mamujoco env config)")
    parser.add_argument("--t-max", type=int, default=32000, help="env steps per trial")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each runs both modes, first mode alternating")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="output directory")
    options = parser.parse_args()
    configs = [c for c in options.configs.split(",") if c]

    children = Children()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = tempfile.mkdtemp(prefix="trial-packing-")
    load_before = os.getloadavg()[0]
    rows = []
    try:
        for round_index in range(options.rounds):
            order = MODES if round_index % 2 == 0 else MODES[::-1]
            for config in configs:
                for mode in order:
                    row = run_mode(mode, config, options.key, options.t_max, 2 * round_index, scratch, children)
                    rows.append({"round": round_index, **row})
                    print(f"round {round_index} {config:>16} {mode:>6}: {row['steps']} steps in "
                          f"{row['wall_seconds']:.0f} s = {row['steps_per_second']:.1f} steps/s", flush=True)
    finally:
        children.kill_all()
    load_after = os.getloadavg()[0]

    summary = []
    for config in configs:
        medians = {mode: statistics.median(r["steps_per_second"] for r in rows
                                           if r["config"] == config and r["mode"] == mode) for mode in MODES}
        summary.append({"config": config, **{f"median_{m}": v for m, v in medians.items()},
                        "ratio_packed_over_wide": medians["packed"] / medians["wide"]})
    print("\n| round | config | mode | env steps | wall s | env steps/s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['round']} | {r['config']} | {r['mode']} | {r['steps']} | {r['wall_seconds']:.0f} "
              f"| {r['steps_per_second']:.1f} |")
    print("\n| config | packed (median steps/s) | wide (median steps/s) | packed / wide |\n|---|---|---|---|")
    for s in summary:
        print(f"| {s['config']} | {s['median_packed']:.1f} | {s['median_wide']:.1f} | {s['ratio_packed_over_wide']:.2f} |")
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)")

    os.makedirs(options.out, exist_ok=True)
    command = shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    report = {"command": f"python {command}", "key": options.key, "t_max": options.t_max, "rows": rows,
              "summary": summary, "cpu_count": os.cpu_count(),
              "load_average_1min": {"before": load_before, "after": load_after}}
    stem = os.path.join(options.out, "trial_packing")
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2))
    with open(f"{stem}.csv", "w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=list(rows[0]))
        table.writeheader()
        table.writerows(rows)
    plot(rows, summary, f"{stem}.png")
    print(f"wrote {stem}.{{json,csv,png}}")


if __name__ == "__main__":
    main()
