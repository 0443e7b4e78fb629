"""What Lookahead costs: Lookahead-HAPPO vs HAPPO on HalfCheetah 2x3, wall time per real env step.

Both algorithms are built in this one process exactly as ``src/main.py`` builds them (same merged
config, same registries) and run side by side: iteration i of each is one ``runner.run()`` (a real
rollout) plus one ``learner.train(batch)``, and the two alternate, the first one swapping each
iteration, so a change in machine load hits both alike. Lookahead's own phases come from the
learner's diagnostics (``time_real_update``, ``time_model``, ``time_imagination``,
``time_lookahead_update``). The model warm-up is switched off (``lka_warmup_steps=0``) so every
timed iteration pays for the whole of Lookahead, as it does after the first 50k steps of a run;
the first iteration of each is not counted (one-off start-up costs).

Default settings are the paper's (``lookahead_happo`` vs ``happo``: 40 envs x 400 steps =
16,000 real steps per iteration, 20 epochs x 10 mini-batches; 2,000 model steps; 4,000 imagined
rollouts x 20 steps, 20 epochs x 10 mini-batches). ``--authors`` runs ``lookahead_happo_authors``
instead: the authors' released settings (the clip around mu, GAE, 400 imagined rollouts x 15 steps,
10 epochs x 5 mini-batches, 4,000 model steps x 256).

    python benchmarks/lookahead_cost.py --iterations 4

Writes ``<out>/lookahead_cost.{json,csv,png}`` with the command; prints the table.
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
from types import SimpleNamespace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import torch  # noqa: E402

from main import build_config  # noqa: E402
from experiment.build import build_run  # noqa: E402
from run import make_args, seed_everything  # noqa: E402
from runners import REGISTRY as runner_registry  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402
from utils.threads import learner_threads, torch_threads  # noqa: E402

LOOKAHEAD_PHASES = ("time_real_update", "time_model", "time_imagination", "time_lookahead_update")


class Trial:
    """One algorithm's runner, buffer and learner, built as ``run.run_sequential`` builds them
    (``experiment.build.build_run``)."""

    def __init__(self, alg: str, overrides: list[str]) -> None:
        config = build_config([f"--config={alg}", "--env-config=mamujoco", "with", *overrides])
        self.args: SimpleNamespace = make_args(config)
        seed_everything(self.args.seed)
        torch.set_num_threads(self.args.torch_threads)
        self.name = alg
        logger = Logger(get_console_logger())
        self.runner = runner_registry[self.args.runner](args=self.args, logger=logger)
        components = build_run(self.args, self.runner, logger)
        self.buffer, self.learner = components.buffer, components.learner

    def iteration(self) -> dict[str, float]:
        """One real rollout and one update; seconds per phase and real steps collected."""
        t_env = self.runner.t_env
        clock = time.perf_counter()
        batch = self.runner.run(test_mode=False)
        rollout = time.perf_counter() - clock
        self.buffer.insert_episode_batch(batch)
        sample = self.buffer.sample(self.args.batch_size)
        sample = sample[:, : sample.max_t_filled()]
        clock = time.perf_counter()
        with torch_threads(learner_threads(self.args.learner_threads)):  # as run.train does
            stats = self.learner.train(sample, self.runner.t_env, 0)
        update = time.perf_counter() - clock
        row = {"real_steps": self.runner.t_env - t_env, "time_real_rollout": rollout, "time_train": update}
        row.update({key: float(stats[key]) for key in LOOKAHEAD_PHASES if key in stats})
        row.setdefault("time_real_update", update)
        row["time_total"] = rollout + update
        return row

    def close(self) -> None:
        self.runner.close_env()


def summarise(rows: list[dict], algs: list[str]) -> dict[str, dict[str, float]]:
    """Per algorithm, the median over timed iterations of every phase, and seconds per real step."""
    summary = {}
    for alg in algs:
        timed = [row for row in rows if row["alg"] == alg and row["iteration"] > 0]
        keys = [key for key in timed[0] if key.startswith("time_")]
        summary[alg] = {key: statistics.median(row[key] for row in timed) for key in keys}
        summary[alg]["ms_per_real_step"] = 1000 * statistics.median(row["time_total"] / row["real_steps"] for row in timed)
    return summary


def plot(summary: dict[str, dict[str, float]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = ["time_real_rollout", "time_real_update", *LOOKAHEAD_PHASES[1:]]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for row, (alg, times) in enumerate(summary.items()):
        left = 0.0
        for colour, phase in enumerate(phases):
            width = times.get(phase, 0.0)
            label = phase.removeprefix("time_") if row == len(summary) - 1 else None
            ax.barh(row, width, left=left, color=f"C{colour}", label=label)
            left += width
    ax.set_yticks(range(len(summary)), list(summary))
    ax.set_xlabel("seconds per iteration (median)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=4, help="iterations of each algorithm (the first is not timed)")
    parser.add_argument("--base", default="happo", help="the base algorithm's config")
    parser.add_argument("--lookahead", default="lookahead_happo", help="Lookahead's config")
    parser.add_argument("--authors", action="store_true",
                        help="Lookahead with the authors' released settings (--lookahead lookahead_happo_authors)")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    parser.add_argument("extra", nargs="*", help="key=value overrides for both algorithms")
    options = parser.parse_args()

    common = ["env_args.key=mamujoco:HalfCheetah-2x3", "seed=1", "use_tensorboard=False", *options.extra]
    lookahead = "lookahead_happo_authors" if options.authors else options.lookahead
    trials = [Trial(options.base, common), Trial(lookahead, common + ["lka_warmup_steps=0"])]
    rows = []
    try:
        for iteration in range(options.iterations):
            order = trials if iteration % 2 == 0 else trials[::-1]
            for trial in order:
                row = {"alg": trial.name, "iteration": iteration, **trial.iteration()}
                rows.append(row)
                print(", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    finally:
        for trial in trials:
            trial.close()

    algs = [options.base, options.lookahead]
    summary = summarise(rows, algs)
    ratio = summary[options.lookahead]["ms_per_real_step"] / summary[options.base]["ms_per_real_step"]
    command = shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])
    print(f"\n{'phase (median s/iteration)':<28}" + "".join(f"{alg:>18}" for alg in algs))
    for key in summary[options.lookahead]:
        print(f"{key:<28}" + "".join(f"{summary[alg].get(key, 0.0):>18.3f}" for alg in algs))
    print(f"\nLookahead / base wall time per real env step: {ratio:.2f}x (target <= 2x)")

    os.makedirs(options.out, exist_ok=True)
    stem = os.path.join(options.out, "lookahead_cost" + ("_authors" if options.authors else ""))
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({key for row in rows for key in row}))
        writer.writeheader()
        writer.writerows(rows)
    with open(stem + ".json", "w") as f:
        json.dump({"command": command, "torch_threads": torch.get_num_threads(), "ratio": ratio,
                   "summary": summary, "iterations": rows}, f, indent=1)
    plot(summary, stem + ".png", f"{command}\nLookahead / base per real step: {ratio:.2f}x")
    print(f"wrote {stem}.{{csv,json,png}}")


if __name__ == "__main__":
    main()
