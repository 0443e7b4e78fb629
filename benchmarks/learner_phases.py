"""Lookahead's learner phases on HalfCheetah 2x3, each timed at 1 and at N torch threads, with the
FLOP/s it achieves beside what this CPU does on a plain matmul of the phase's largest layer.

One real rollout of ``--config`` (default ``lookahead_happo``: the paper's settings, 16,000 real
steps) fills the batch and the model's buffer; then, for ``--repeats`` rounds, each thread count in
turn (the order swapping every round, so machine load hits both alike) times:

* ``model``: ``--model-steps`` gradient steps of the dynamics model (scaled to ``mlearn_steps``);
* ``imagination``: the ``lka_rollouts`` x ``lka_horizon`` imagined rollouts;
* ``lookahead_update``: the imagined update of pi~ on them (as the last lookahead step runs it);
* ``real_update``: the real update (HAPPO's, with V-trace) on the real batch.

Each phase's FLOPs are counted once by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls,
forward and backward); achieved GFLOP/s = FLOPs / median seconds. The floor is the same-thread
GFLOP/s of a plain ``[rows, width] @ [width, width]`` matmul with the phase's mini-batch rows and
hidden width: what the phase would reach if it did nothing but its largest layers' matmuls.

    python benchmarks/learner_phases.py --threads 1,2 --repeats 3

Writes ``<out>/learner_phases.{json,csv,png}`` with the command; prints the table.
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
import warnings
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from lookahead_cost import Trial  # noqa: E402
from utils.threads import torch_threads  # noqa: E402

PHASES = ("model", "imagination", "lookahead_update", "real_update")


def matmul_gflops(rows: int, width: int, threads: int, seconds: float = 0.5) -> float:
    """GFLOP/s of ``[rows, width] @ [width, width]`` at ``threads`` threads (best of 3 timings)."""
    a, b = torch.randn(rows, width), torch.randn(width, width)
    best = 0.0
    with torch_threads(threads):
        for _ in range(3):
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                a @ b
                calls += 1
            best = max(best, 2 * rows * width * width * calls / (time.perf_counter() - start) / 1e9)
    return best


def count_flops(work: Callable[[], object]) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        work()
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="lookahead_happo")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-steps", type=int, default=200, help="model steps timed (scaled to mlearn_steps)")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    parser.add_argument("extra", nargs="*", help="key=value overrides")
    options = parser.parse_args()
    threads = [int(n) for n in options.threads.split(",")]

    trial = Trial(options.config, ["env_args.key=mamujoco:HalfCheetah-2x3", "seed=1", "use_tensorboard=False",
                                   "lka_warmup_steps=0", *options.extra])
    args, learner = trial.args, trial.learner
    try:
        batch = trial.runner.run(test_mode=False)
    finally:
        trial.close()
    trial.buffer.insert_episode_batch(batch)
    real = trial.buffer.sample(args.batch_size)
    real = real[:, : real.max_t_filled()]
    learner.model_trainer.add_episodes(real)
    imagined = learner.imagined.run(*learner._start_states(real))
    scale = args.mlearn_steps / options.model_steps
    work = {
        "model": lambda: learner.model_trainer.train_steps(options.model_steps),
        "imagination": lambda: learner.imagined.run(*learner._start_states(real)),
        # as an iteration's one lookahead step runs it: its critic is replaced at the next sync
        "lookahead_update": lambda: learner.lookahead.train(imagined, 0, 0, critic_discarded=True),
        "real_update": lambda: learner.real.train(real, 0, 0),
    }
    with torch_threads(1):
        flops = {phase: count_flops(run) * (scale if phase == "model" else 1.0) for phase, run in work.items()}
    real_rows = int(real["filled"][:, :-1].sum()) // args.mini_batches
    imagined_rows = int(imagined["filled"][:, :-1].sum()) // args.lka_mini_batches
    shapes = {"model": (args.model_batch_size, args.model_hidden_dim), "imagination": (args.lka_rollouts, args.hidden_dim),
              "lookahead_update": (imagined_rows, args.hidden_dim), "real_update": (real_rows, args.hidden_dim)}

    seconds: dict[tuple[str, int], list[float]] = {}
    for repeat in range(options.repeats):
        for n in threads if repeat % 2 == 0 else threads[::-1]:
            with torch_threads(n):
                for phase, run in work.items():
                    start = time.perf_counter()
                    run()
                    took = (time.perf_counter() - start) * (scale if phase == "model" else 1.0)
                    seconds.setdefault((phase, n), []).append(took)
                    print(f"repeat {repeat} threads {n} {phase}: {took:.2f} s", flush=True)

    rows = []
    for phase in PHASES:
        for n in threads:
            median = statistics.median(seconds[(phase, n)])
            floor = matmul_gflops(*shapes[phase], n)
            rows.append({"phase": phase, "threads": n, "seconds": median, "gflop": flops[phase] / 1e9,
                         "gflops": flops[phase] / median / 1e9, "matmul_floor_gflops": floor,
                         "of_floor": flops[phase] / median / 1e9 / floor, "rows": shapes[phase][0],
                         "width": shapes[phase][1], "speed_up": statistics.median(seconds[(phase, threads[0])]) / median})
    command = shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])
    header = f"{'phase':<18}{'threads':>8}{'s/iter':>9}{'GFLOP':>9}{'GFLOP/s':>9}{'matmul':>9}{'of it':>7}{'speed-up':>9}"
    print("\n" + header)
    for row in rows:
        print(f"{row['phase']:<18}{row['threads']:>8}{row['seconds']:>9.2f}{row['gflop']:>9.1f}{row['gflops']:>9.1f}"
              f"{row['matmul_floor_gflops']:>9.1f}{row['of_floor']:>7.0%}{row['speed_up']:>9.2f}")

    os.makedirs(options.out, exist_ok=True)
    stem = os.path.join(options.out, "learner_phases" + ("" if options.config == "lookahead_happo" else f"_{options.config}"))
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(stem + ".json", "w") as f:
        json.dump({"command": command, "config": options.config, "rows": rows,
                   "seconds": {f"{phase}@{n}": values for (phase, n), values in seconds.items()}}, f, indent=1)
    plot(rows, threads, stem + ".png", command)
    print(f"wrote {stem}.{{csv,json,png}}")


def plot(rows: list[dict], threads: list[int], path: str, command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    width = 0.8 / len(threads)
    for k, n in enumerate(threads):
        mine = [row for row in rows if row["threads"] == n]
        xs = [i + k * width for i in range(len(mine))]
        left.bar(xs, [row["seconds"] for row in mine], width, label=f"{n} thread(s)")
        right.bar(xs, [row["gflops"] for row in mine], width, label=f"{n} thread(s)", color=f"C{k}")
        right.scatter(xs, [row["matmul_floor_gflops"] for row in mine], marker="_", s=200, color="k")
    for ax, label in ((left, "seconds per iteration"), (right, "GFLOP/s (black: matmul of the same rows)")):
        ax.set_xticks([i + width * (len(threads) - 1) / 2 for i in range(len(PHASES))], PHASES, fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(command, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
