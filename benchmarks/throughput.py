"""Env steps per second of MAPPO with EPyMARL's defaults, ours and (optionally) EPyMARL's, side by side.

Config (both implementations): ``--config=mappo --env-config=gymma with
env_args.key=lbforaging:Foraging-8x8-2p-3f-v3 env_args.time_limit=50 t_max=20000`` (parallel runner,
10 envs, EPyMARL's MAPPO hyper-parameters and gymma's test schedule), CPU only.
Throughput = ``t_max`` / wall time of the whole command, so start-up, test episodes and logging
count for both. Both training loops stop at the first batch past ``t_max`` (overshooting by less
than one batch of episodes) and EPyMARL does not print its final ``t_env``, so both are credited
``t_max`` steps; ``t_env_last_printed`` is kept for reference. Seeds alternate between
implementations so both see the same machine load (the 1-minute load average before and after
is recorded); the report gives per-seed numbers, medians and their ratio. Within a seed the order of
the implementations reverses from one seed to the next. ``--ours-also "k=v ..."`` times a variant
of ours beside the default (e.g. ``learner_steps_envs=False``, every env in a subprocess), as an
implementation of its own; ``--ours-from PATH`` times another checkout of this project (a git
worktree at an earlier commit, say) the same way, so a change is measured against what it replaced.

EPyMARL imports ``smaclite`` unconditionally, which no registry provides; ``--stub-modules smaclite``
puts an empty module of that name on EPyMARL's path (its code is not changed).

Command that produced ``benchmarks/results/throughput.{json,csv,png}``:

    python benchmarks/throughput.py --seeds 6 --t-max 20000 --epymarl /tmp/epymarl --stub-modules smaclite \
        --ours-also learner_steps_envs=False
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from median_bars import plot_median_bars

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "lbforaging:Foraging-8x8-2p-3f-v3"


def experiment_args(t_max: int, seed: int) -> list[str]:
    return ["--config=mappo", "--env-config=gymma", "with", f"env_args.key={KEY}", "env_args.time_limit=50",
            f"t_max={t_max}", f"seed={seed}", "use_cuda=False"]


def timed_run(command: list[str], cwd: str, extra_path: str | None, t_max: int) -> dict:
    """Run ``command``; return its wall time, the last t_env it printed and ``t_max`` / wall time."""
    environment = dict(os.environ)
    if extra_path:
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, environment.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-3000:]}")
    printed = [int(t) for t in re.findall(r"t_env:\s+(\d+)", result.stdout + result.stderr)]
    return {
        "t_max": t_max,
        "t_env_last_printed": max(printed, default=None),
        "wall_seconds": wall,
        "steps_per_second": t_max / wall,
    }


def make_stub_dir(names: list[str]) -> str:
    stub_dir = tempfile.mkdtemp(prefix="stub-modules-")
    for name in names:
        os.makedirs(os.path.join(stub_dir, name))
        open(os.path.join(stub_dir, name, "__init__.py"), "w").close()
    return stub_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="runs per implementation")
    parser.add_argument("--t-max", type=int, default=20000, help="env steps per run (start-up included in the timing)")
    parser.add_argument("--epymarl", default=None, help="path of an EPyMARL checkout to compare against")
    parser.add_argument("--epymarl-python", default=sys.executable, help="python that runs EPyMARL")
    parser.add_argument("--stub-modules", default="", help="comma-separated empty modules for EPyMARL's hard imports")
    parser.add_argument("--ours-also", action="append", default=[],
                        help="a variant of ours to time too: space-separated key=value overrides (repeatable)")
    parser.add_argument("--ours-from", action="append", default=[],
                        help="another checkout of this project to time too, e.g. a worktree at an earlier commit")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="output directory")
    options = parser.parse_args()

    os.makedirs(options.out, exist_ok=True)
    stub_dir = make_stub_dir([n for n in options.stub_modules.split(",") if n]) if options.stub_modules else None
    scratch = tempfile.mkdtemp(prefix="throughput-")
    load_before = os.getloadavg()[0]
    # implementation -> (the checkout whose src/main.py runs, its extra overrides)
    variants = ({"ours": (REPO, [])} | {f"ours {v}": (REPO, v.split()) for v in options.ours_also}
                | {f"ours from {path}": (os.path.abspath(path), []) for path in options.ours_from})
    impls = [*variants, *(["epymarl"] if options.epymarl else [])]
    rows = []
    for seed in range(1, options.seeds + 1):
        for impl in impls if seed % 2 else impls[::-1]:
            if impl == "epymarl":
                command = [options.epymarl_python, os.path.join(options.epymarl, "src", "main.py"),
                           *experiment_args(options.t_max, seed)]
                timing = timed_run(command, options.epymarl, stub_dir, options.t_max)
            else:
                checkout, overrides = variants[impl]
                command = [sys.executable, os.path.join(checkout, "src", "main.py"), *experiment_args(options.t_max, seed),
                           *overrides, f"local_results_path={scratch}"]
                timing = timed_run(command, scratch, None, options.t_max)
            rows.append({"impl": impl, "seed": seed, **timing})
            print(f"{impl:<40} seed {seed}: {rows[-1]['steps_per_second']:8.1f} steps/s", flush=True)

    load_after = os.getloadavg()[0]
    medians = {i: statistics.median(r["steps_per_second"] for r in rows if r["impl"] == i) for i in impls}
    print("\n| impl | seed | t_max | last t_env printed | wall s | env steps/s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['impl']} | {r['seed']} | {r['t_max']} | {r['t_env_last_printed']} | {r['wall_seconds']:.1f} "
              f"| {r['steps_per_second']:.1f} |")
    for impl, value in medians.items():
        print(f"median {impl}: {value:.1f} env steps/s")
    ratios = {impl: medians[impl] / medians["epymarl"] for impl in variants} if "epymarl" in medians else {}
    for impl, value in ratios.items():
        print(f"ratio {impl} / epymarl (medians): {value:.2f}x")
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)")

    command = shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    report = {"command": f"python {command}", "config": experiment_args(options.t_max, 0)[:-2], "rows": rows,
              "medians": medians, "ratios_over_epymarl": ratios,
              "cpu_count": os.cpu_count(),
              "load_average_1min": {"before": load_before, "after": load_after}}
    with open(os.path.join(options.out, "throughput.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(options.out, "throughput.csv"), "w", newline="") as f:
        fieldnames = ["impl", "seed", "t_max", "t_env_last_printed", "wall_seconds", "steps_per_second"]
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    plot_median_bars(rows, medians, os.path.join(options.out, "throughput.png"), "env steps / s (whole run)",
                     f"MAPPO, LBF 8x8-2p-3f, 50 steps, parallel x10\nt_max {options.t_max} (start-up included)")
    print(f"wrote {options.out}/throughput.{{json,csv,png}}")


if __name__ == "__main__":
    main()
